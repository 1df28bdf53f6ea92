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
 * Synthetic calls before the node reports ready, so that the first real calls find the proxy's path compiled: a
 * caller and a media server, two private JAIN-SIP stacks with the proxy stack's settings on a loopback address of
 * their own ({@link Through#bindHost}, e.g. 127.103.5.9), place INVITE / 180 / 200 / ACK / BYE / 200 calls over UDP
 * and over TCP <em>through the proxy's own listening point</em>: its edge and screens, the overload guard's
 * classifier, the proxy logic's INVITE branch with record-routing, the in-dialog router and the byte-level relay.
 * The proxy logic knows a warm-up INVITE by its {@code X-OpenRM-Warmup} header carrying this run's random token
 * from this address ({@link #targetFor}), and sends it to the private media server without routing, session, port
 * count, health feedback or CDR; no counter of the proxy's traffic counts the warm-up's address. Without a proxy
 * address (an IPv6 listening address, or the loopback alias cannot be bound) the two peers call each other
 * directly, which warms only the JAIN-SIP classes. Nothing leaves loopback. Measured: a node started cold and driven
 * at once lost calls for its first seconds while the JIT compiled (bench/README.md, *Cold start*).
 */
public final class CallWarmup implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(CallWarmup.class);
    private static final String SDP = "v=0\r\no=warm 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            + "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    /** Calls in progress at once. */
    private static final int WINDOW = 64;
    /** The longest the warm-up may take before readiness goes on without it. */
    private static final long BUDGET_MS = 30_000;
    /** How long the calls still in progress at the end may take to finish before the peers close. */
    private static final long DRAIN_MS = 3_000;

    /** The warm-up INVITE's header, whose value is the run's token. */
    public static final String HEADER = "X-OpenRM-Warmup";
    /** How long the warm-up waits for a proxy logic to attach before calling the peers directly instead. */
    private static final long LOGIC_WAIT_MS = 30_000;
    /** A synthetic call not ended after this long is counted lost and its slot in the window freed. */
    private static final long STALE_MS = 5_000;

    /**
     * The proxy the synthetic calls go through: its listening address, the loopback address the peers bind, whether
     * a proxy logic is attached (the calls wait for one), and what runs just before and after the calls (the stack
     * holds its overload guard for them, and trusts the peers' address while they run).
     */
    public record Through(InetAddress proxyHost, int proxyPort, InetAddress bindHost,
                          java.util.function.BooleanSupplier logicAttached, Runnable before, Runnable after) { }

    private final Properties base;
    private final int calls;
    private final Through through;
    private final long budgetMs;
    /** Synthetic calls started per second (0: as fast as the window allows). */
    private final int rate;
    private final String token = java.util.UUID.randomUUID().toString().replace("-", "");
    private volatile Peer media;
    private volatile boolean stopped;
    private volatile boolean done;
    private final AtomicInteger completed = new AtomicInteger();
    private final AtomicLong failed = new AtomicLong();
    /** 200s to INVITE that came after the call's ACK had gone (retransmissions). */
    private final AtomicLong late200 = new AtomicLong();
    /** Milliseconds the completed calls took, UDP [0] and TCP [1], and how many of each. */
    private final AtomicLong[] tookMs = {new AtomicLong(), new AtomicLong()}, took = {new AtomicLong(), new AtomicLong()};

    /** Runs once the private stacks are stopped: see {@link #run()}. */
    private final Runnable afterStop;

    public CallWarmup(Properties base, int calls) {
        this(base, calls, () -> { }, null);
    }

    /**
     * @param afterStop run after the private stacks stopped: JAIN-SIP's TCP post-parse pool is one per class loader
     *                  and every stack's {@code stop()} shuts it down, so the proxy's stack gets its pool back here
     */
    public CallWarmup(Properties base, int calls, Runnable afterStop, Through through) {
        this(base, calls, afterStop, through, BUDGET_MS, 0);
    }

    public CallWarmup(Properties base, int calls, Runnable afterStop, Through through, long budgetMs, int rate) {
        this.through = through;
        this.budgetMs = budgetMs;
        this.rate = Math.max(0, rate);
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

    /** Calls lost (tests). */
    public long failed() {
        return failed.get();
    }

    /** True once calls went through the proxy (tests). */
    private volatile boolean wentThrough;

    public boolean wentThrough() {
        return wentThrough;
    }

    /**
     * Where a warm-up INVITE goes: the private media server's URI for {@code transport}, if {@code req} came from the
     * warm-up's own address and carries this run's token; null for every other request.
     */
    public String targetFor(Request req, InetAddress source, String transport) {
        Through t = through;
        Peer m = media;
        if (t == null || m == null || done || source == null || !source.equals(t.bindHost())) {
            return null;
        }
        javax.sip.header.Header h = req.getHeader(HEADER);
        if (!(h instanceof javax.sip.header.ExtensionHeader eh) || !token.equals(eh.getValue())) {
            return null;
        }
        return "sip:warm@" + t.bindHost().getHostAddress() + ":" + m.port + ";transport="
                + ("tcp".equalsIgnoreCase(transport) ? "tcp" : "udp");
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
            Through via = through;
            if (via != null) {
                long until = System.currentTimeMillis() + LOGIC_WAIT_MS;
                while (!stopped && !via.logicAttached().getAsBoolean() && System.currentTimeMillis() < until) {
                    Thread.sleep(20);
                }
                if (!via.logicAttached().getAsBoolean()) {
                    LOG.info("No proxy logic attached within {} ms: the warm-up's calls go between its own peers", LOGIC_WAIT_MS);
                    via = null;
                }
            }
            InetAddress bind = via == null ? InetAddress.getLoopbackAddress() : via.bindHost();
            uas = new Peer("uas", hf, mf, af, bind);
            uac = new Peer("uac", hf, mf, af, bind);
            media = uas;
            Semaphore window = new Semaphore(WINDOW);
            if (via != null) {
                via.before().run();
                wentThrough = true;
            }
            long callsStart = System.nanoTime();
            try {
                long deadline = System.currentTimeMillis() + budgetMs;
                JitWatch jit = new JitWatch();
                long tailStart = 0;
                for (int i = 0; !stopped && System.currentTimeMillis() < deadline; i++) {
                    long now = System.nanoTime();
                    if (i >= calls && rate == 0) {
                        break; // unpaced (tests): exactly the calls asked for
                    }
                    if (i >= calls) {
                        // the calls asked for are placed: a slower tail goes on until the JIT has compiled what they
                        // made hot (calls stopping at once would leave its queued work stale, and it drops stale work)
                        if (tailStart == 0) {
                            tailStart = now;
                        }
                        if (now - tailStart > JIT_WAIT_MS * 1_000_000L || jit.quiet()) {
                            break;
                        }
                    }
                    if (rate > 0) {
                        // paced: a warm-up that takes both cores starves the C2 compiler thread, whose queue then
                        // raises the thresholds for everything else (measured: the proxy's receive path stayed at
                        // tier 3 through 20,000 unpaced calls and reached C2 only under the first real calls)
                        long due = i < calls ? callsStart + i * 1_000_000_000L / rate
                                : tailStart + (i - calls) * 4_000_000_000L / rate;
                        if (due - now > 0) {
                            java.util.concurrent.locks.LockSupport.parkNanos(due - now);
                        }
                    }
                    if (!window.tryAcquire(1, TimeUnit.SECONDS)) {
                        uac.reapStale(); // calls lost on the way (a full machine): counted, their slots back
                        i--;
                        continue;
                    }
                    boolean tcp = (i & 1) == 1;
                    try {
                        uac.call(i, tcp, uas, af, window, via);
                    } catch (Exception e) {
                        uac.end(callId(i)); // its slot back; no entry left behind
                    }
                }
                // the last calls finish (bounded, whether the budget ran out or not): a peer closed under a call in
                // progress makes the other one's stack log an ERROR for the answer it cannot deliver over TCP
                window.tryAcquire(WINDOW, DRAIN_MS, TimeUnit.MILLISECONDS);
            } finally {
                if (via != null) {
                    via.after().run();
                }
            }
            long ms = (System.nanoTime() - callsStart) / 1_000_000;
            LOG.info("SIP proxy path warmed up with {} synthetic calls over loopback {}(UDP and TCP; {} lost) in {} ms "
                            + "({} calls/s; a call took {} ms over UDP, {} ms over TCP on average; {} retransmitted 200s){}", completed.get(), via != null ? "through the proxy " : "between two private stacks ",
                    failed.get(), (System.nanoTime() - start) / 1_000_000, ms == 0 ? 0 : completed.get() * 1000L / ms,
                    tookMs[0].get() / Math.max(1, took[0].get()), tookMs[1].get() / Math.max(1, took[1].get()), late200.get(),
                    stopped ? " (stopped early: the stack stopped)" : "");
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

    private static int freeUdpAndTcpPort(InetAddress host) throws java.io.IOException {
        for (int attempt = 0; attempt < 20; attempt++) {
            try (DatagramSocket d = new DatagramSocket(0, host)) {
                int port = d.getLocalPort();
                try (ServerSocket s = new ServerSocket(port, 1, host)) {
                    return port;
                } catch (java.io.IOException busy) {
                    // taken over TCP: another one
                }
            }
        }
        throw new java.io.IOException("no free loopback port for the warm-up");
    }

    /** How long the JIT may go on compiling after the synthetic calls before readiness goes on anyway. */
    private static final long JIT_WAIT_MS = 10_000;
    /** The JIT counts as quiet when it compiled less than this in the last sample (ms of compile time per 500 ms). */
    private static final long JIT_QUIET_MS = 25;

    /** The JIT's total compilation time, sampled every 500 ms: quiet when a sample grew less than JIT_QUIET_MS. */
    private static final class JitWatch {
        private final java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
        private final boolean supported = jit != null && jit.isCompilationTimeMonitoringSupported();
        private long lastMs = supported ? jit.getTotalCompilationTime() : 0;
        private long lastAt = System.nanoTime();
        private boolean quiet;

        boolean quiet() {
            if (!supported) {
                return true;
            }
            long now = System.nanoTime();
            if (now - lastAt >= 500_000_000L) {
                long ms = jit.getTotalCompilationTime();
                quiet = ms - lastMs < JIT_QUIET_MS;
                lastMs = ms;
                lastAt = now;
            }
            return quiet;
        }
    }

    private String callId(int i) {
        return "warm-" + i + "-" + token.substring(0, 8);
    }

    private static String hostPort(String host, int port) {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /** A synthetic call in progress: its slot in the window and its INVITE (the ACK and BYE are made from it). */
    private static final class Pending {
        final Semaphore window;
        final Request invite;
        final long since = System.currentTimeMillis();
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
        final String host;
        final HeaderFactory hf;
        final MessageFactory mf;
        final AddressFactory af;
        /** The caller's calls in progress, by Call-ID (bounded by the window). */
        final ConcurrentHashMap<String, Pending> open = new ConcurrentHashMap<>();

        Peer(String role, HeaderFactory hf, MessageFactory mf, AddressFactory af, InetAddress bind) throws Exception {
            this.af = af;
            this.host = bind.getHostAddress();
            this.hf = hf;
            this.mf = mf;
            Properties p = new Properties();
            p.putAll(base);
            p.setProperty("javax.sip.STACK_NAME", "openrm-warmup-" + role + "-" + Long.toHexString(System.nanoTime()));
            // the peers answer from requests whose transactions the proxy's settings clean up eagerly: the stack
            // would re-parse them and warn each time
            p.setProperty("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "false");
            p.setProperty("gov.nist.javax.sip.STACK_LOGGER", WarmupStackLogger.class.getName());
            stack = new NoDelayLayer.PeerStack(p);
            try {
                port = freeUdpAndTcpPort(bind);
                ListeningPoint udp = stack.createListeningPoint(host, port, ListeningPoint.UDP);
                ListeningPoint tcp = stack.createListeningPoint(host, port, ListeningPoint.TCP);
                provider = stack.createSipProvider(udp);
                provider.addListeningPoint(tcp);
                provider.addSipListener(this);
                stack.start();
            } catch (Exception | Error e) {
                stack.stop(); // its threads and any socket it bound go with it
                throw e;
            }
        }

        void call(int i, boolean tcp, Peer to, AddressFactory af, Semaphore window, Through through) throws Exception {
            String transport = tcp ? "tcp" : "udp";
            // through the proxy: addressed to it as a SIP Server addresses it; else straight to the media server
            SipURI ruri = through != null
                    ? af.createSipURI("warm", hostPort(through.proxyHost().getHostAddress(), through.proxyPort()))
                    : af.createSipURI("warm", hostPort(to.host, to.port));
            ruri.setTransportParam(transport);
            SipURI me = af.createSipURI("warmup", hostPort(host, port));
            me.setTransportParam(transport);
            String callId = callId(i);
            ViaHeader via = hf.createViaHeader(host, port, transport, null);
            Request inv = mf.createRequest(ruri, Request.INVITE, hf.createCallIdHeader(callId),
                    hf.createCSeqHeader(1L, Request.INVITE), hf.createFromHeader(af.createAddress(me), "w" + i),
                    hf.createToHeader(af.createAddress(ruri), null), java.util.List.of(via), hf.createMaxForwardsHeader(70),
                    hf.createContentTypeHeader("application", "sdp"), SDP);
            inv.addHeader(hf.createContactHeader(af.createAddress(me)));
            if (through != null) {
                inv.addHeader(hf.createHeader(HEADER, token));
            }
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
                        String transport = ((ViaHeader) req.getHeader(ViaHeader.NAME)).getTransport();
                        SipURI me = af.createSipURI("warm", hostPort(host, port));
                        me.setTransportParam(transport.toLowerCase(java.util.Locale.ROOT));
                        ok.addHeader(hf.createContactHeader(af.createAddress(me)));
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
                        late200.incrementAndGet();
                        return; // a retransmitted 200: the ACK went already
                    }
                    call.acked = true;
                    Request inv = call.invite; // not the transaction's copy: the stack cleaned that up already
                    String transport = ((SipURI) inv.getRequestURI()).getTransportParam();
                    // in the dialog: to the media server's Contact, by the route set the proxy record-routed
                    javax.sip.header.ContactHeader contact = (javax.sip.header.ContactHeader) r.getHeader(javax.sip.header.ContactHeader.NAME);
                    javax.sip.address.URI target = contact != null ? contact.getAddress().getURI() : inv.getRequestURI();
                    java.util.List<javax.sip.header.RouteHeader> routes = new java.util.ArrayList<>();
                    for (java.util.ListIterator<?> it = r.getHeaders(javax.sip.header.RecordRouteHeader.NAME); it.hasNext(); ) {
                        javax.sip.header.RecordRouteHeader rr = (javax.sip.header.RecordRouteHeader) it.next();
                        routes.add(0, hf.createRouteHeader(rr.getAddress())); // the caller's route set: reversed
                    }
                    Request ack = inDialog(inv, Request.ACK, 1L, target, routes, r, transport);
                    provider.sendRequest(ack);
                    Request bye = inDialog(inv, Request.BYE, 2L, target, routes, r, transport);
                    provider.getNewClientTransaction(bye).sendRequest();
                } else if (Request.BYE.equals(cseq.getMethod())) {
                    Pending call = open.remove(callId);
                    if (call != null) {
                        completed.incrementAndGet();
                        int t = "tcp".equals(((SipURI) call.invite.getRequestURI()).getTransportParam()) ? 1 : 0;
                        tookMs[t].addAndGet(System.currentTimeMillis() - call.since);
                        took[t].incrementAndGet();
                        call.window.release();
                    }
                } else {
                    end(callId);
                }
            } catch (Exception e) {
                end(callId);
            }
        }

        private Request inDialog(Request inv, String method, long cseq, javax.sip.address.URI target,
                                 java.util.List<javax.sip.header.RouteHeader> routes, Response r, String transport) throws Exception {
            Request m = (Request) inv.clone();
            m.setMethod(method);
            m.setRequestURI((javax.sip.address.URI) target.clone());
            m.setHeader(hf.createCSeqHeader(cseq, method));
            m.setHeader(r.getHeader(ToHeader.NAME));
            m.removeContent();
            m.removeHeader(javax.sip.header.ContentTypeHeader.NAME);
            m.removeHeader(HEADER);
            m.removeHeader(javax.sip.header.RouteHeader.NAME);
            for (javax.sip.header.RouteHeader rh : routes) {
                m.addHeader(rh);
            }
            // an RFC 3261 branch of its own: a request without the magic cookie is matched by scanning every
            // transaction of the stack (RFC 2543 rules), which cost the proxy milliseconds per ACK
            m.setHeader(hf.createViaHeader(host, port, transport, "z9hG4bK-w" + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong())));
            return m;
        }

        /** Calls older than STALE_MS are lost: counted, their slots back (their transactions time out on their own). */
        void reapStale() {
            long now = System.currentTimeMillis();
            for (java.util.Map.Entry<String, Pending> e : open.entrySet()) {
                if (now - e.getValue().since > STALE_MS) {
                    end(e.getKey());
                }
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
