package org.openrm.sip.stack;

import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import javax.sip.ClientTransaction;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.ListeningPoint;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipListener;
import javax.sip.SipProvider;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.AddressFactory;
import javax.sip.address.SipURI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.HeaderFactory;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import gov.nist.javax.sip.SipStackImpl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Synthetic calls before the node reports ready, so that the first real calls find the SIP stack compiled: a
 * caller and a media server, two private JAIN-SIP stacks with the proxy stack's settings on ephemeral loopback
 * ports, place INVITE / 180 / 200 / ACK / BYE / 200 calls to each other over UDP and over TCP. The JIT compiles
 * code, not instances: the same stack classes (receive channels, parser, server and client transactions, timers,
 * encoder) serve the proxy's own stack afterwards. Nothing of openrm's state is touched (no routing, no session,
 * no CDR), and nothing leaves loopback. Measured: a node started cold and driven at once lost calls for its first
 * seconds while the stack compiled (bench/README.md, *Cold start*).
 */
public final class CallWarmup implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(CallWarmup.class);
    private static final String SDP = "v=0\r\no=warm 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            + "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    /** Calls in progress at once. */
    private static final int WINDOW = 32;
    /** The longest the warm-up may take before readiness goes on without it. */
    private static final long BUDGET_MS = 30_000;
    /** How long the calls still in progress at the end may take to finish before the peers close. */
    private static final long DRAIN_MS = 3_000;

    private final Properties base;
    private final int calls;
    private volatile boolean stopped;
    private volatile boolean done;
    private final AtomicInteger completed = new AtomicInteger();
    private final AtomicLong failed = new AtomicLong();

    /** Runs once the private stacks are stopped: see {@link #run()}. */
    private final Runnable afterStop;

    public CallWarmup(Properties base, int calls) {
        this(base, calls, () -> { });
    }

    /**
     * @param afterStop run after the private stacks stopped: JAIN-SIP's TCP post-parse pool is one per class loader
     *                  and every stack's {@code stop()} shuts it down, so the proxy's stack gets its pool back here
     */
    public CallWarmup(Properties base, int calls, Runnable afterStop) {
        this.base = new Properties();
        this.base.putAll(base);
        // a stack made with this setting replaces (shutdownNow) the class loader's one pool: the proxy's
        this.base.remove("gov.nist.javax.sip.TCP_POST_PARSING_THREAD_POOL_SIZE");
        this.calls = calls;
        this.done = calls <= 0;
        this.afterStop = afterStop;
    }

    public boolean done() {
        return done;
    }

    public void stop() {
        stopped = true;
    }

    /** Calls completed (tests). */
    public int completed() {
        return completed.get();
    }

    @Override
    public void run() {
        if (calls <= 0) {
            return;
        }
        long start = System.nanoTime();
        Peer uas = null, uac = null;
        ClassLoader tccl = Thread.currentThread().getContextClassLoader();
        Thread.currentThread().setContextClassLoader(CallWarmup.class.getClassLoader()); // the stack loads its plug-ins by name
        try {
            javax.sip.SipFactory f = javax.sip.SipFactory.getInstance();
            HeaderFactory hf = f.createHeaderFactory();
            MessageFactory mf = f.createMessageFactory();
            AddressFactory af = f.createAddressFactory();
            uas = new Peer("uas", hf, mf);
            uac = new Peer("uac", hf, mf);
            Semaphore window = new Semaphore(WINDOW);
            long deadline = System.currentTimeMillis() + BUDGET_MS;
            for (int i = 0; i < calls && !stopped && System.currentTimeMillis() < deadline; i++) {
                if (!window.tryAcquire(1, TimeUnit.SECONDS)) {
                    continue; // calls lost on the way (a full machine): the next second frees their slot
                }
                boolean tcp = (i & 1) == 1;
                try {
                    uac.call(i, tcp, uas, af, window);
                } catch (Exception e) {
                    uac.end("warm-" + i); // its slot back; no entry left behind
                }
            }
            // the last calls finish (bounded, whether the budget ran out or not): a peer closed under a call in
            // progress makes the other one's stack log an ERROR for the answer it cannot deliver over TCP
            window.tryAcquire(WINDOW, DRAIN_MS, TimeUnit.MILLISECONDS);
            LOG.info("SIP stack warmed up with {} synthetic calls over loopback (UDP and TCP; {} lost) in {} ms{}", completed.get(),
                    failed.get(), (System.nanoTime() - start) / 1_000_000, stopped ? " (stopped early: the stack stopped)" : "");
        } catch (Exception e) {
            LOG.info("SIP call warm-up stopped after {} calls: {}", completed.get(), e.toString());
        } finally {
            Thread.currentThread().setContextClassLoader(tccl);
            if (uac != null) {
                uac.close();
            }
            if (uas != null) {
                uas.close();
            }
            if (uac != null || uas != null) {
                try {
                    afterStop.run();
                } catch (RuntimeException e) {
                    LOG.warn("SIP TCP post-parse pool not restored after the warm-up: {}", e.toString());
                }
            }
            done = true; // what ran is warm; readiness never waits for a warm-up that cannot finish
        }
    }

    private static int freeUdpAndTcpPort() throws java.io.IOException {
        for (int attempt = 0; attempt < 20; attempt++) {
            try (DatagramSocket d = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
                int port = d.getLocalPort();
                try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                    return port;
                } catch (java.io.IOException busy) {
                    // taken over TCP: another one
                }
            }
        }
        throw new java.io.IOException("no free loopback port for the warm-up");
    }

    /** A synthetic call in progress: its slot in the window and its INVITE (the ACK and BYE are made from it). */
    private static final class Pending {
        final Semaphore window;
        final Request invite;
        volatile boolean acked;

        Pending(Semaphore window, Request invite) {
            this.window = window;
            this.invite = invite;
        }
    }

    /** One side of the synthetic calls: its own stack on a loopback port, UDP and TCP. */
    private final class Peer implements SipListener {
        final SipStackImpl stack;
        final SipProvider provider;
        final int port;
        final HeaderFactory hf;
        final MessageFactory mf;
        /** The caller's calls in progress, by Call-ID (bounded by the window). */
        final ConcurrentHashMap<String, Pending> open = new ConcurrentHashMap<>();

        Peer(String role, HeaderFactory hf, MessageFactory mf) throws Exception {
            this.hf = hf;
            this.mf = mf;
            Properties p = new Properties();
            p.putAll(base);
            p.setProperty("javax.sip.STACK_NAME", "openrm-warmup-" + role + "-" + Long.toHexString(System.nanoTime()));
            // the peers answer from requests whose transactions the proxy's settings clean up eagerly: the stack
            // would re-parse them and warn each time
            p.setProperty("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "false");
            p.setProperty("gov.nist.javax.sip.STACK_LOGGER", WarmupStackLogger.class.getName());
            stack = new SipStackImpl(p);
            try {
                port = freeUdpAndTcpPort();
                ListeningPoint udp = stack.createListeningPoint("127.0.0.1", port, ListeningPoint.UDP);
                ListeningPoint tcp = stack.createListeningPoint("127.0.0.1", port, ListeningPoint.TCP);
                provider = stack.createSipProvider(udp);
                provider.addListeningPoint(tcp);
                provider.addSipListener(this);
                stack.start();
            } catch (Exception | Error e) {
                stack.stop(); // its threads and any socket it bound go with it
                throw e;
            }
        }

        void call(int i, boolean tcp, Peer to, AddressFactory af, Semaphore window) throws Exception {
            String transport = tcp ? "tcp" : "udp";
            SipURI ruri = af.createSipURI("warm", "127.0.0.1:" + to.port);
            ruri.setTransportParam(transport);
            SipURI me = af.createSipURI("warmup", "127.0.0.1:" + port);
            String callId = "warm-" + i;
            ViaHeader via = hf.createViaHeader("127.0.0.1", port, transport, null);
            Request inv = mf.createRequest(ruri, Request.INVITE, hf.createCallIdHeader(callId),
                    hf.createCSeqHeader(1L, Request.INVITE), hf.createFromHeader(af.createAddress(me), "w" + i),
                    hf.createToHeader(af.createAddress(ruri), null), java.util.List.of(via), hf.createMaxForwardsHeader(70),
                    hf.createContentTypeHeader("application", "sdp"), SDP);
            inv.addHeader(hf.createContactHeader(af.createAddress(me)));
            open.put(callId, new Pending(window, inv));
            ClientTransaction ct = provider.getNewClientTransaction(inv);
            ct.sendRequest();
        }

        @Override
        public void processRequest(RequestEvent ev) {
            Request req = ev.getRequest();
            try {
                switch (req.getMethod()) {
                    case Request.INVITE -> {
                        ServerTransaction st = ev.getServerTransaction() != null ? ev.getServerTransaction()
                                : provider.getNewServerTransaction(req);
                        Response ringing = mf.createResponse(Response.RINGING, req);
                        ((ToHeader) ringing.getHeader(ToHeader.NAME)).setTag("u" + Long.toHexString(System.nanoTime()));
                        st.sendResponse(ringing);
                        Response ok = mf.createResponse(Response.OK, req);
                        ok.setHeader(ringing.getHeader(ToHeader.NAME));
                        ok.addHeader(req.getHeader(javax.sip.header.ContactHeader.NAME));
                        ok.setContent(SDP, hf.createContentTypeHeader("application", "sdp"));
                        st.sendResponse(ok);
                    }
                    case Request.BYE -> {
                        ServerTransaction st = ev.getServerTransaction() != null ? ev.getServerTransaction()
                                : provider.getNewServerTransaction(req);
                        st.sendResponse(mf.createResponse(Response.OK, req));
                    }
                    default -> { } // ACK: nothing to answer
                }
            } catch (Exception e) {
                failed.incrementAndGet();
            }
        }

        @Override
        public void processResponse(ResponseEvent ev) {
            Response r = ev.getResponse();
            CSeqHeader cseq = (CSeqHeader) r.getHeader(CSeqHeader.NAME);
            if (r.getStatusCode() < 200 || cseq == null) {
                return;
            }
            String callId = ((javax.sip.header.CallIdHeader) r.getHeader(javax.sip.header.CallIdHeader.NAME)).getCallId();
            try {
                if (Request.INVITE.equals(cseq.getMethod()) && r.getStatusCode() == 200) {
                    Pending call = open.get(callId);
                    if (call == null || call.acked) {
                        return; // a retransmitted 200: the ACK went already
                    }
                    call.acked = true;
                    Request inv = call.invite; // not the transaction's copy: the stack cleaned that up already
                    String transport = ((SipURI) inv.getRequestURI()).getTransportParam();
                    Request ack = (Request) inv.clone();
                    ack.setMethod(Request.ACK);
                    ack.setHeader(hf.createCSeqHeader(1L, Request.ACK));
                    ack.setHeader(r.getHeader(ToHeader.NAME));
                    ack.removeContent();
                    ack.removeHeader(javax.sip.header.ContentTypeHeader.NAME);
                    ack.setHeader(hf.createViaHeader("127.0.0.1", port, transport, null));
                    provider.sendRequest(ack);
                    Request bye = (Request) ack.clone();
                    bye.setMethod(Request.BYE);
                    bye.setHeader(hf.createCSeqHeader(2L, Request.BYE));
                    bye.setHeader(hf.createViaHeader("127.0.0.1", port, transport, null));
                    provider.getNewClientTransaction(bye).sendRequest();
                } else if (Request.BYE.equals(cseq.getMethod())) {
                    Pending call = open.remove(callId);
                    if (call != null) {
                        completed.incrementAndGet();
                        call.window.release();
                    }
                } else {
                    end(callId);
                }
            } catch (Exception e) {
                end(callId);
            }
        }

        private void end(String callId) {
            Pending call = open.remove(callId);
            if (call != null) {
                failed.incrementAndGet();
                call.window.release();
            }
        }

        @Override
        public void processTimeout(TimeoutEvent ev) {
            // the call's slot comes back with the window's one-second wait; the run's budget bounds the rest
        }

        @Override
        public void processIOException(IOExceptionEvent ev) {
            // a lost connection: the call's timer ends it
        }

        @Override
        public void processTransactionTerminated(TransactionTerminatedEvent ev) {
            // nothing kept per transaction
        }

        @Override
        public void processDialogTerminated(DialogTerminatedEvent ev) {
            // no dialogs (AUTOMATIC_DIALOG_SUPPORT off)
        }

        void close() {
            try {
                provider.removeSipListener(this);
                stack.deleteSipProvider(provider);
            } catch (Exception e) {
                // stopping anyway
            }
            stack.stop();
            open.clear();
        }
    }
}
