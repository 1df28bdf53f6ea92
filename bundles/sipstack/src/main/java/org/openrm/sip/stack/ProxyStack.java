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
import gov.nist.javax.sip.message.SIPMessage;
import gov.nist.javax.sip.stack.SIPClientTransaction;
import gov.nist.javax.sip.stack.SIPServerTransaction;
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

    /*
     * RFC 3261 17.2.3: a request matches a server transaction by its branch, its sent-by and its method. The
     * reference stack keys its table by the branch alone and, when it creates a transaction, keeps the first one
     * under that key: a second sender that picks the same branch had its request refused as "already exists" and
     * swallowed. Such transactions ("colliders") live here, under branch and sent-by, bounded; the table's entry
     * stays the first sender's. The same holds while a request is being handed to the listener: the reference
     * stack's pending-delivery map, keyed by the branch alone, took another sender's request for a retransmission
     * of the one in delivery and dropped it; a pending transaction of another sender is kept apart here too, and
     * the lookup (given only the branch) is answered for the request this worker thread is handling.
     */
    static final int MAX_COLLIDERS = 10_000;
    private final java.util.concurrent.ConcurrentHashMap<String, SIPServerTransaction> colliders =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** Transactions in delivery to the listener whose branch another sender's transaction in delivery holds. */
    private final java.util.concurrent.ConcurrentHashMap<String, SIPServerTransaction> pendingColliders =
            new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * The request this thread is handling, from {@link #newSIPServerRequest} on: the listener is reentrant, so the
     * pending-delivery lookups of that request happen on the thread that received it.
     */
    private final ThreadLocal<SIPRequest> handling = new ThreadLocal<>();

    @Override
    public SIPServerTransaction findPendingTransaction(String txId) {
        SIPServerTransaction p = super.findPendingTransaction(txId);
        SIPRequest r = handling.get();
        if (r == null || !rfc3261(txId) || !txId.equals(r.getTransactionId())) {
            return p;
        }
        if (p != null && sameSentBy(p, r)) {
            return p;
        }
        // the map's entry under this branch, if any, is another sender's: this request's own, if it has one
        return pendingColliders.isEmpty() ? null : pendingColliders.get(colliderKey(txId, r));
    }

    @Override
    public void putPendingTransaction(SIPServerTransaction st) {
        String id = st.getTransactionId();
        SIPServerTransaction other = rfc3261(id) ? super.findPendingTransaction(id) : null;
        if (other != null && other != st && !sameSentBy(other, st.getOriginalRequest())) {
            if (pendingColliders.size() < MAX_COLLIDERS) {
                pendingColliders.put(colliderKey(id, st.getOriginalRequest()), st);
            }
            return; // past the bound, untracked: a retransmission of it meanwhile is delivered and found a duplicate
        }
        super.putPendingTransaction(st);
    }

    @Override
    public void removePendingTransaction(SIPServerTransaction st) {
        if (!pendingColliders.isEmpty() && pendingColliders.remove(colliderKey(st.getTransactionId(), st.getOriginalRequest()), st)) {
            return;
        }
        // the reference stack removes by key: never another sender's entry
        SIPServerTransaction p = super.findPendingTransaction(st.getTransactionId());
        if (p == null || p == st) {
            super.removePendingTransaction(st);
        }
    }

    private static String colliderKey(String txId, SIPMessage m) {
        Via v = m == null ? null : m.getTopmostVia();
        return v == null || v.getSentBy() == null ? txId : txId + '|' + v.getSentBy().encode().toLowerCase(java.util.Locale.ROOT);
    }

    private static boolean rfc3261(String txId) {
        return txId != null && txId.startsWith(RFC3261_COOKIE);
    }

    /** True unless both top Vias have a sent-by and they differ (a transaction without its request counts as same). */
    private static boolean sameSentBy(SIPServerTransaction st, SIPMessage m) {
        if (m == null) {
            return true;
        }
        SIPRequest o = st.getOriginalRequest();
        Via a = m.getTopmostVia();
        Via b = o == null ? null : o.getTopmostVia();
        return a == null || b == null || a.getSentBy() == null || a.getSentBy().equals(b.getSentBy());
    }

    /** {@code c} is the transaction of {@code r}: branch and sent-by (the stack's test), and the method (ACK: INVITE's). */
    private static boolean matches(SIPServerTransaction c, SIPRequest r) {
        String m = r.getMethod();
        return c.isMessagePartOfTransaction(r)
                && (c.getMethod().equals(m) || SIPRequest.ACK.equals(m) && SIPRequest.INVITE.equals(c.getMethod()));
    }

    @Override
    public SIPTransaction findTransaction(SIPMessage m, boolean isServer) {
        SIPTransaction t = super.findTransaction(m, isServer);
        if (!isServer || !(t instanceof SIPServerTransaction st) || !(m instanceof SIPRequest r)
                || !rfc3261(m.getTransactionId()) || sameSentBy(st, m)) {
            return t;
        }
        // the table's transaction under this branch is another sender's
        SIPServerTransaction c = colliders.isEmpty() ? null : colliders.get(colliderKey(m.getTransactionId(), m));
        return c != null && matches(c, r) ? c : null;
    }

    @Override
    public void addTransaction(SIPServerTransaction st) throws java.io.IOException {
        String id = st.getTransactionId();
        SIPServerTransaction first = rfc3261(id) ? serverTransactionTable.get(id) : null;
        if (first != null && first != st && colliders.size() >= MAX_COLLIDERS) {
            // refused before the stack maps it: a refused transaction must not keep timers running
            throw new java.io.IOException("too many requests reusing another sender's branch");
        }
        super.addTransaction(st);
        if (rfc3261(id) && serverTransactionTable.get(id) != st) {
            // the table kept the first sender's transaction under this branch (putIfAbsent): this one lives here
            colliders.put(colliderKey(id, st.getOriginalRequest()), st);
            EdgeGuard e = edge;
            if (e != null) {
                e.stats.branchCollisions.incrementAndGet();
            }
        }
    }

    @Override
    public void removeTransaction(SIPTransaction t) {
        if (t instanceof SIPServerTransaction st && !colliders.isEmpty()
                && colliders.remove(colliderKey(st.getTransactionId(), st.getOriginalRequest()), st)) {
            // the reference stack removes the table's entry by key, which is the first sender's: put it back
            SIPServerTransaction first = serverTransactionTable.get(st.getTransactionId());
            super.removeTransaction(t);
            if (first != null && first != st) {
                serverTransactionTable.putIfAbsent(st.getTransactionId(), first);
            }
            return;
        }
        super.removeTransaction(t);
    }

    @Override
    public ServerRequestInterface newSIPServerRequest(SIPRequest request, MessageChannel channel) {
        handling.set(request);
        EdgeGuard e = edge;
        if (e != null && !e.admit(request, channel)) {
            return DROPPED; // answered or dropped at the edge (null would make the TCP path answer 503)
        }
        if (!colliders.isEmpty()) {
            String id = request.getTransactionId();
            SIPServerTransaction c = rfc3261(id) ? colliders.get(colliderKey(id, request)) : null;
            if (c != null && matches(c, request)) {
                // a retransmission on a collider's transaction: it answers as the stack's own would
                request.setMessageChannel(channel);
                request.setTransaction(c);
                c.setRequestInterface(sipMessageFactory.newSIPServerRequest(request, c));
                return c.acquireSem() ? c : null;
            }
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
