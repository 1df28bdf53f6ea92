package org.openrm.sip.stack;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Queue;

import javax.sip.PeerUnavailableException;

import gov.nist.javax.sip.SipStackImpl;
import gov.nist.javax.sip.header.Via;
import gov.nist.javax.sip.message.SIPRequest;
import gov.nist.javax.sip.message.SIPResponse;
import gov.nist.javax.sip.stack.ServerRequestInterface;
import gov.nist.javax.sip.stack.MessageChannel;
import gov.nist.javax.sip.stack.MessageProcessor;
import gov.nist.javax.sip.stack.QueuedMessageDispatchBase;
import gov.nist.javax.sip.stack.SIPClientTransaction;
import gov.nist.javax.sip.stack.SIPTransaction;
import gov.nist.javax.sip.stack.ServerResponseInterface;
import gov.nist.javax.sip.stack.UDPMessageProcessor;

/**
 * The JAIN-SIP reference stack, minus its linear search for stray responses.
 *
 * <p>For a response whose branch matches no client transaction the reference implementation walks the whole
 * client transaction table (every live and lingering transaction: call rate x 32 s of them) comparing
 * each one. At load that search is the largest CPU cost, and it feeds on itself: late ACKs make media
 * servers retransmit 2xx, every retransmission is a stray response, and the proxy never recovers. An
 * RFC 3261 branch ({@code z9hG4bK...}) is a unique key, so a failed lookup by branch is final: the response is
 * handed to the listener at once as matching no transaction, which relays it statelessly by its Via.
 *
 * <p>It also tells how many received UDP datagrams wait for a worker thread: the measure of openrm's own
 * saturation that the overload guard acts on (the stack keeps that queue in a protected field).
 */
public final class ProxyStack extends SipStackImpl {
    private static final String RFC3261_COOKIE = "z9hg4bk";
    private final Field udpQueue;
    /** What the stack is handed for a request the edge answered or dropped: nothing more happens to it. */
    private static final ServerRequestInterface DROPPED = (request, channel) -> {
        // already answered or deliberately dropped
    };

    /** The SIP edge every parsed message passes before any transaction is looked up; null until set. */
    public volatile EdgeGuard edge;
    /** Recognises openrm's own Via (responses with another top Via are not for openrm). */
    public volatile java.util.function.Predicate<Via> ownVia = v -> true;

    public ProxyStack(Properties p, TcpGuard tcp) throws PeerUnavailableException {
        super(p);
        // accepted TCP connections go through openrm's guard (counted, framed, timed out)
        this.networkLayer = tcp;
        Field f;
        try {
            f = UDPMessageProcessor.class.getDeclaredField("messageQueue");
            f.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            f = null; // another stack version: the guard falls back to pending INVITEs alone
        }
        udpQueue = f;
    }

    /** The UDP receive queues, found once (listening points are made before traffic starts). */
    private volatile List<Queue<?>> udpQueues;

    /** Datagrams received and not yet taken by a worker thread, over all UDP listening points. */
    public int queueDepth() {
        List<Queue<?>> qs = udpQueues;
        if (qs == null) {
            qs = findUdpQueues();
            if (qs.isEmpty()) {
                return 0;
            }
            udpQueues = qs;
        }
        int n = 0;
        for (Queue<?> q : qs) {
            n += q.size();
        }
        return n;
    }

    /**
     * How long the oldest received message still waiting for a worker has waited, in ms: the UDP receive queues and
     * the TCP post-parse queue, whose entries carry their reception time. 0 when nothing waits.
     */
    public int headDelayMs() {
        return headDelayMs(true);
    }

    /** As {@link #headDelayMs()}, the TCP post-parse queue (shared by every stack of this class loader) only if asked. */
    public int headDelayMs(boolean tcpToo) {
        long now = System.currentTimeMillis();
        long oldest = now;
        List<Queue<?>> qs = udpQueues;
        if (qs == null) {
            queueDepth(); // finds them
            qs = udpQueues;
        }
        if (qs != null) {
            for (Queue<?> q : qs) {
                if (q.peek() instanceof QueuedMessageDispatchBase m) {
                    oldest = Math.min(oldest, m.getReceptionTime());
                }
            }
        }
        java.util.concurrent.BlockingQueue<Runnable> tcp = gov.nist.javax.sip.parser.PostParseExecutorServices.staticQueue;
        if (tcpToo && tcp != null && tcp.peek() instanceof QueuedMessageDispatchBase m) {
            oldest = Math.min(oldest, m.getReceptionTime());
        }
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, now - oldest));
    }

    /** Messages parsed from TCP connections and waiting for a worker (the post-parse pool's queue). */
    public static int tcpQueueDepth() {
        java.util.concurrent.BlockingQueue<Runnable> tcp = gov.nist.javax.sip.parser.PostParseExecutorServices.staticQueue;
        return tcp == null ? 0 : tcp.size();
    }

    /**
     * The UDP processors' own receive buffers made one byte: openrm's screened socket receives into a buffer of its
     * own and hands over the datagram in an array of its exact length. Returns how many processors were changed.
     */
    public int shrinkUdpBuffers() {
        int n = 0;
        for (MessageProcessor mp : getMessageProcessors()) {
            if (gov.nist.javax.sip.stack.OpenrmChannels.shrinkReceiveBuffer(mp, TcpGuard.ScreenedDatagramSocket.class)) {
                n++;
            }
        }
        return n;
    }

    private List<Queue<?>> findUdpQueues() {
        List<Queue<?>> out = new ArrayList<>();
        if (udpQueue == null) {
            return out;
        }
        for (MessageProcessor mp : getMessageProcessors()) {
            if (mp instanceof UDPMessageProcessor) {
                try {
                    if (udpQueue.get(mp) instanceof Queue<?> q) {
                        out.add(q);
                    }
                } catch (IllegalAccessException e) {
                    return List.of();
                }
            }
        }
        return out;
    }

    /**
     * Stops the stack and its event scanner thread: the reference stack leaves that thread waiting forever (and
     * with it, in Karaf, the whole old bundle revision after every update of the sip bundle). A wake-up event
     * that no listener handles lets it see it was stopped.
     */
    private volatile javax.sip.SipProvider lastProvider;

    @Override
    public javax.sip.SipProvider createSipProvider(javax.sip.ListeningPoint lp) throws javax.sip.ObjectInUseException {
        javax.sip.SipProvider p = super.createSipProvider(lp);
        lastProvider = p;
        return p;
    }

    @Override
    public void stop() {
        gov.nist.javax.sip.EventScanner scanner = getEventScanner();
        super.stop();
        if (scanner != null) {
            scanner.forceStop();
            javax.sip.SipProvider p = lastProvider;
            if (p != null) {
                scanner.addEvent(new gov.nist.javax.sip.EventWrapper(new java.util.EventObject(p), null));
            }
        }
    }

    @Override
    public ServerRequestInterface newSIPServerRequest(SIPRequest request, MessageChannel channel) {
        EdgeGuard e = edge;
        if (e != null && !e.admit(request, channel)) {
            return DROPPED; // answered or dropped at the edge (null would make the TCP path answer 503)
        }
        return super.newSIPServerRequest(request, channel);
    }

    @Override
    public ServerResponseInterface newSIPServerResponse(SIPResponse response, MessageChannel channel) {
        EdgeGuard e = edge;
        if (e != null && !e.admit(response, channel, ownVia)) {
            return null;
        }
        String key = response.getTransactionId();
        if (key != null && key.startsWith(RFC3261_COOKIE)) {
            SIPTransaction tx = findTransaction(key, false);
            if (tx == null || !(tx instanceof SIPClientTransaction)) {
                return sipMessageFactory.newSIPServerResponse(response, channel);
            }
        }
        return super.newSIPServerResponse(response, channel);
    }
}
