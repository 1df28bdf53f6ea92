package org.openrm.sip.stack;

import java.util.Properties;

import javax.sip.ListeningPoint;
import javax.sip.SipFactory;
import javax.sip.SipListener;
import javax.sip.SipProvider;
import javax.sip.address.AddressFactory;
import javax.sip.header.HeaderFactory;
import javax.sip.message.MessageFactory;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JAIN-SIP stack's life cycle: its properties, listening points and provider, started and stopped here only.
 * What the workers use of it is published as one immutable {@link StackContext} through {@link #ctx}; null while
 * no stack runs (between a stop and a start, or after a failed start).
 */
public final class StackRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(StackRuntime.class);

    private final EdgeGuard edge;
    private final TcpGuard tcpGuard;
    /** Set once, before the first start. */
    private SipListener listener;
    /** The one published view of the running stack; null while none runs. */
    private volatile StackContext ctx;
    /** Guarded by this. */
    private ProxyStack stack;
    private Warmup warmup;
    /** Synthetic calls between two private stacks over loopback, after the parser warm-up. */
    private volatile CallWarmup callWarmup;
    /** The last warm-up's synthetic calls completed and lost, and whether they went through the proxy (rm:stats). */
    public volatile long warmedCalls, warmLost;
    public volatile boolean warmThrough;
    /** True once synthetic calls ran in this class loader (this revision of the bundle). */
    private static volatile boolean callsWarmed;
    /** Read by {@link #queueDepth()} on any thread. */
    private volatile ProxyStack running;
    /** The running stack's UDP socket as the kernel holds it: its backlog and drops; null while none runs. */
    private volatile KernelBacklog kernel;
    /** UDP processors whose per-datagram buffer was made one byte (tests check it stays 1 across stack versions). */
    public volatile int udpBuffersShrunk;

    public StackRuntime(EdgeGuard edge, TcpGuard tcpGuard) {
        this.edge = edge;
        this.tcpGuard = tcpGuard;
    }

    /** True while a proxy logic is attached (the warm-up's calls through the proxy wait for one). */
    private volatile java.util.function.BooleanSupplier logicAttached = () -> false;
    /** Run before and after the warm-up's calls through the proxy (the stack holds its overload guard meanwhile). */
    private volatile Runnable warmBefore = () -> { }, warmAfter = () -> { };

    /** What the warm-up through the proxy needs of the stack component. */
    public void warmupHooks(java.util.function.BooleanSupplier attached, Runnable before, Runnable after) {
        this.logicAttached = attached;
        this.warmBefore = before;
        this.warmAfter = after;
    }

    /**
     * Where a warm-up INVITE goes (the warm-up's private media server), or null for every request that is not one:
     * see {@link CallWarmup#targetFor}.
     */
    public String warmupTarget(javax.sip.message.Request req, java.net.InetAddress source, String transport) {
        CallWarmup w = callWarmup;
        return w == null ? null : w.targetFor(req, source, transport);
    }

    /**
     * The warm-up's route through the proxy: to the listening address (loopback when it listens on every address),
     * from a loopback address of its own that no real peer uses; null (the peers call each other directly) for an
     * IPv6 listening address or where that address cannot be bound.
     */
    private CallWarmup.Through through(SipConfig c, int port) {
        try {
            java.net.InetAddress listen = java.net.InetAddress.getByName(c.listen_address());
            java.net.InetAddress proxy = listen.isAnyLocalAddress() ? java.net.InetAddress.getByName("127.0.0.1") : listen;
            if (!(proxy instanceof java.net.Inet4Address)) {
                return null;
            }
            java.util.concurrent.ThreadLocalRandom rnd = java.util.concurrent.ThreadLocalRandom.current();
            byte[] a = {127, (byte) rnd.nextInt(100, 200), (byte) rnd.nextInt(1, 255), (byte) rnd.nextInt(1, 254)};
            if (java.util.Arrays.equals(a, proxy.getAddress())) {
                a[3]++; // never the proxy's own address (one listening inside 127.100-199)
            }
            java.net.InetAddress bind = java.net.InetAddress.getByAddress(a);
            try (java.net.DatagramSocket probe = new java.net.DatagramSocket(0, bind)) {
                tcpGuard.warmupHost = bind;
                return new CallWarmup.Through(proxy, port, bind, logicAttached, () -> {
                    tcpGuard.warmupRunning = true;
                    warmBefore.run();
                }, () -> {
                    tcpGuard.warmupRunning = false;
                    warmAfter.run();
                });
            }
        } catch (java.io.IOException e) {
            LOG.debug("warm-up through the proxy not possible: {}", e.toString());
        }
        return null;
    }

    /** The listener every stack started from now on delivers to. */
    public synchronized void listener(SipListener l) {
        this.listener = l;
    }

    /** The running stack as workers see it, or null while none runs. */
    public StackContext ctx() {
        return ctx;
    }

    /** True once the running stack's warm-up has finished. */
    public synchronized boolean warm() {
        return ctx != null && warmup != null && warmup.done() && callWarmup != null && callWarmup.done();
    }

    /** Received datagrams waiting for a SIP worker thread (0 while the stack restarts). */
    public int queueDepth() {
        ProxyStack s = running;
        return s == null ? 0 : s.queueDepth();
    }

    /**
     * How long the oldest received message waiting for a SIP worker, or relayed from its bytes and waiting to be
     * sent, has waited (ms; 0 while the stack restarts).
     */
    public int headDelayMs() {
        ProxyStack s = running;
        // while the synthetic calls run, their TCP messages share the class loader's post-parse queue: the guard
        // reads the proxy's own UDP queues only, or it would take the warm-up for an overload
        CallWarmup w = callWarmup;
        int d = s == null ? 0 : s.headDelayMs(w == null || w.done());
        RelaySender r = tcpGuard.relaySender;
        if (r != null) {
            d = Math.max(d, r.headDelayMs(System.currentTimeMillis()));
        }
        KernelBacklog k = kernel;
        StackContext c = ctx;
        if (k != null && c != null) {
            d = Math.max(d, k.delayMs(c.config.overload_target_delay_ms(), c.config.overload_kernel_backlog_percent()));
        }
        return d;
    }

    /** The running stack's UDP socket in the kernel (bytes queued, drops), or null while none runs. */
    public KernelBacklog kernel() {
        return kernel;
    }

    /** Received messages waiting for a SIP worker, UDP and TCP. */
    public int waiting() {
        RelaySender r = tcpGuard.relaySender;
        return queueDepth() + ProxyStack.tcpQueueDepth() + (r == null ? 0 : r.depth());
    }

    /** True when {@code c} changes something only a new stack can take. */
    public static boolean needsRestart(SipConfig old, SipConfig c) {
        return !old.listen_address().equals(c.listen_address()) || old.listen_port() != c.listen_port()
                || !old.advertised_address().equals(c.advertised_address())
                || old.thread_pool_size() != c.thread_pool_size() || old.max_transactions() != c.max_transactions()
                || old.queue_timeout_ms() != c.queue_timeout_ms() || old.udp_receive_buffer() != c.udp_receive_buffer();
    }

    /** Applies {@code c}: a new context on the same stack, or a new stack when its sockets or pools change. */
    public synchronized void apply(SipConfig c) throws Exception {
        StackContext cur = ctx;
        if (cur != null && !needsRestart(cur.config, c)) {
            ctx = cur.with(c);
            LOG.info("SIP settings updated without a stack restart");
            return;
        }
        if (cur != null) {
            LOG.info("SIP listening settings changed: restarting the SIP stack");
        }
        stop();
        start(c);
    }

    /** The JAIN-SIP settings of the proxy's stack (the warm-up's private stacks take the same). */
    public static Properties stackProperties(SipConfig c) {
        Properties p = new Properties();
        p.setProperty("javax.sip.STACK_NAME", "openrm-sip-" + c.listen_port() + "-" + Long.toHexString(System.nanoTime()));
        p.setProperty("javax.sip.AUTOMATIC_DIALOG_SUPPORT", "off");
        p.setProperty("gov.nist.javax.sip.THREAD_POOL_SIZE", Integer.toString(c.thread_pool_size()));
        p.setProperty("gov.nist.javax.sip.REENTRANT_LISTENER", "true");
        p.setProperty("gov.nist.javax.sip.MAX_SERVER_TRANSACTIONS", Integer.toString(c.max_transactions()));
        p.setProperty("gov.nist.javax.sip.MAX_CLIENT_TRANSACTIONS", Integer.toString(c.max_transactions()));
        p.setProperty("gov.nist.javax.sip.TRACE_LEVEL", "0");
        p.setProperty("gov.nist.javax.sip.LOG_MESSAGE_CONTENT", "false");
        p.setProperty("gov.nist.javax.sip.STACK_LOGGER", Slf4jStackLogger.class.getName());
        if (c.udp_receive_buffer() > 0) {
            // the stack sets it again on its socket; the guard's socket set it first and logged what was granted
            p.setProperty("gov.nist.javax.sip.RECEIVE_UDP_BUFFER_SIZE", Integer.toString(c.udp_receive_buffer()));
        }
        p.setProperty("gov.nist.javax.sip.SEND_UDP_BUFFER_SIZE", "4194304");
        p.setProperty("gov.nist.javax.sip.CACHE_CLIENT_CONNECTIONS", "true");
        p.setProperty("gov.nist.javax.sip.TIMER_CLASS_NAME", "gov.nist.javax.sip.stack.timers.ScheduledExecutorSipTimer");
        p.setProperty("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "true");
        // TCP: hand parsed messages to a pool instead of processing them on the connection's reader thread,
        // so one busy connection (a SIP Server multiplexing all its calls) is not served by a single thread
        p.setProperty("gov.nist.javax.sip.TCP_POST_PARSING_THREAD_POOL_SIZE", Integer.toString(c.thread_pool_size()));
        p.setProperty("gov.nist.javax.sip.CONGESTION_CONTROL_TIMEOUT", Integer.toString(c.queue_timeout_ms()));
        return p;
    }

    private void start(SipConfig c) throws Exception {
        Properties p = stackProperties(c);
        ClassLoader tccl = Thread.currentThread().getContextClassLoader();
        Thread.currentThread().setContextClassLoader(StackRuntime.class.getClassLoader());
        StackContext made;
        try {
            SipFactory f = SipFactory.getInstance();
            f.resetFactory();
            f.setPathName("gov.nist");
            HeaderFactory hf = f.createHeaderFactory();
            MessageFactory mf = f.createMessageFactory();
            AddressFactory af = f.createAddressFactory();
            stack = new ProxyStack(p, tcpGuard);
            stack.edge = edge;
            ListeningPoint udp = stack.createListeningPoint(c.listen_address(), c.listen_port(), ListeningPoint.UDP);
            kernel = new KernelBacklog(udp.getPort(), tcpGuard.udpCapacity);
            ListeningPoint tcp = stack.createListeningPoint(c.listen_address(), c.listen_port(), ListeningPoint.TCP);
            udpBuffersShrunk = stack.shrinkUdpBuffers();
            if (udpBuffersShrunk == 0) {
                LOG.info("UDP receive buffers not shrunk (another JAIN-SIP version?): 64 KB allocated per datagram");
            }
            SipProvider provider = stack.createSipProvider(udp);
            provider.addListeningPoint(tcp);
            made = new StackContext(c, provider, hf, mf, af, udp, tcp);
            final StackContext own = made;
            stack.ownVia = v -> own.isOwnHost(v.getHost(), v.getPort());
            provider.addSipListener(listener);
            ctx = made; // before start: the first message a worker takes finds it
            stack.start();
            running = stack;
        } catch (Exception e) {
            stop();
            throw e;
        } finally {
            Thread.currentThread().setContextClassLoader(tccl);
        }
        warmup = new Warmup(made.mf, c.warmup_messages());
        ProxyStack started = stack;
        // the JIT keeps what it compiled for this bundle revision's classes: a stack restarted by a change of its
        // listening settings needs no second round of synthetic calls (a new revision, after an update, does)
        callWarmup = new CallWarmup(p, callsWarmed ? 0 : c.warmup_calls(), () -> restorePostParsePool(started, c),
                callsWarmed || c.warmup_calls() <= 0 || !c.warmup_through() ? null : through(c, made.udp.getPort()),
                Math.max(1000, c.warmup_budget_ms()), c.warmup_rate());
        Warmup parse = warmup;
        CallWarmup calls = callWarmup;
        Thread w = new Thread(() -> {
            parse.run();
            calls.run();
            if (calls.completed() > 0) {
                callsWarmed = true;
                warmedCalls = calls.completed();
                warmLost = calls.failed();
                warmThrough = calls.wentThrough();
            }
        }, "openrm-sip-warmup");
        w.setDaemon(true);
        w.setPriority(Thread.MIN_PRIORITY);
        w.start();
        LOG.info("SIP proxy listening on {}:{} (UDP, TCP), record-route {}:{}, SIP Server {}, trusted {}, node {}",
                c.listen_address(), c.listen_port(), made.viaHost, made.viaPort, c.sipserver_uri(), c.trusted_peers(),
                c.node_id());
    }

    /**
     * Gives the running stack its TCP post-parse pool again: JAIN-SIP keeps one per class loader, and stopping any
     * stack (the warm-up's) shuts it down, after which TCP messages would be handled on their connection's reader.
     */
    public synchronized void restorePostParsePool(ProxyStack s, SipConfig c) {
        if (running == s && s != null && gov.nist.javax.sip.parser.PostParseExecutorServices.getPostParseExecutor() == null) {
            gov.nist.javax.sip.parser.PostParseExecutorServices.setPostParseExcutorSize(s, c.thread_pool_size(), c.queue_timeout_ms());
        }
    }

    /** Stops the stack (listening points closed, provider deleted); the context is withdrawn first. */
    public synchronized void stop() {
        StackContext c = ctx;
        ctx = null;
        running = null;
        kernel = null;
        if (warmup != null) {
            warmup.stop();
            warmup = null;
        }
        if (callWarmup != null) {
            callWarmup.stop();
            callWarmup = null;
        }
        if (stack == null) {
            return;
        }
        try {
            if (c != null) {
                c.provider.removeSipListener(listener);
                stack.deleteSipProvider(c.provider);
                stack.deleteListeningPoint(c.udp);
                stack.deleteListeningPoint(c.tcp);
            }
        } catch (Exception e) {
            LOG.warn("Error while stopping the SIP stack", e);
        } finally {
            stack.stop();
            stack = null;
        }
    }
}
