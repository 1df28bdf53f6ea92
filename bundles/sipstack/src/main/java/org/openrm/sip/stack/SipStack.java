package org.openrm.sip.stack;

import java.net.InetAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SIP stack bundle's component (PID {@code org.openrm.sip}): the JAIN-SIP stack with its sockets and TCP
 * connections, the SIP edge before any transaction (strangers, malformed and oversized messages, TCP bounds, the
 * byte-level screens) and the overload guard's signal. It changes rarely; the proxy logic on top of it (bundle
 * {@code org.openrm.sip}, {@link ProxyLogic}) is what operators patch, and while that is replaced this keeps
 * listening, keeps every TCP connection and transaction, and stays warm (the {@link Switchboard} holds new requests
 * for the new logic and gives the old one what it started).
 */
@Component(service = SipStack.class, configurationPid = "org.openrm.sip", immediate = true)
@Designate(ocd = SipConfig.class)
public final class SipStack {
    private static final Logger LOG = LoggerFactory.getLogger(SipStack.class);

    private final EdgeGuard edge;
    private final TcpGuard tcpGuard;
    private final OverloadGuard overload;
    private final StackRuntime runtime;
    private final Switchboard switchboard;
    private final ScheduledThreadPoolExecutor timer;
    /** Ends the sessions of BYEs relayed from their bytes (off the receive thread; bounded). */
    private final ThreadPoolExecutor byeEnder;
    /** New INVITEs the overload guard shed, on the receive thread and in the logic. */
    public final AtomicLong overloadRejects = new AtomicLong();
    private volatile SipConfig config;
    private final ProxyCounters proxyCounters = new ProxyCounters();

    @Activate
    public SipStack(SipConfig config) throws Exception {
        this.config = config;
        edge = new EdgeGuard(limits(config), this::isKnownPeer);
        tcpGuard = new TcpGuard(tcpLimits(config));
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-sip-stack-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        runtime = new StackRuntime(edge, tcpGuard);
        switchboard = new Switchboard(runtime::ctx, config.proxy_wait_ms());
        overload = new OverloadGuard(guardSettings(config), runtime::headDelayMs, runtime::waiting,
                switchboard::pendingInvites, overloadRejects);
        tcpGuard.trusted = edge::trusts;
        tcpGuard.retryAfterS = config.overload_retry_after_s();
        tcpGuard.udpReceiveBuffer = config.udp_receive_buffer();
        tcpGuard.noDelay = config.tcp_nodelay();
        tcpGuard.overload = overload;
        tcpGuard.rawSelf = () -> {
            StackContext c = runtime.ctx();
            return c == null ? null : c.rawSelf;
        };
        byeEnder = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(10_000), r -> {
            Thread t = new Thread(r, "openrm-sip-bye");
            t.setDaemon(true);
            return t;
        });
        tcpGuard.byeRelayed = (callId, fromTag) -> {
            ProxyLogic l = switchboard.lastOrCurrent();
            if (l == null) {
                return false; // the stack relays it and the logic ends the session once it comes
            }
            try {
                byeEnder.execute(() -> {
                    try {
                        l.byeRelayed(callId, fromTag);
                    } catch (RuntimeException e) {
                        LOG.warn("Call {}: ending the session on BYE failed", callId, e);
                    }
                });
                return true;
            } catch (RejectedExecutionException e) {
                return false; // the queue is full: the stack relays this BYE and the logic ends the session
            }
        };
        relaySender(config);
        overload.hold(); // until the proxy logic attaches: the stack holds what arrives meanwhile
        runtime.listener(switchboard);
        // the warm-up's synthetic calls go through the proxy once a logic is attached; the guard stands still for them
        runtime.warmupHooks(() -> switchboard.current() != null, overload::hold, overload::release);
        timer.scheduleAtFixedRate(this::tickGuard, OverloadGuard.TICK_MS, OverloadGuard.TICK_MS, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(this::sweepTcp, 1, 1, TimeUnit.SECONDS);
        timer.scheduleWithFixedDelay(switchboard::reap, 200, 200, TimeUnit.MILLISECONDS);
        try {
            runtime.apply(config);
        } catch (Exception e) {
            timer.shutdownNow();
            byeEnder.shutdownNow();
            replaceRelaySender(null);
            throw e;
        }
    }

    @Modified
    void modified(SipConfig c) throws Exception {
        edge.limits(limits(c));
        tcpGuard.limits(tcpLimits(c));
        overload.settings(guardSettings(c));
        tcpGuard.retryAfterS = c.overload_retry_after_s();
        tcpGuard.noDelay = c.tcp_nodelay(); // connections opened or accepted from now on
        tcpGuard.udpReceiveBuffer = c.udp_receive_buffer(); // the next listening socket (a restart of the stack)
        switchboard.waitMs(c.proxy_wait_ms());
        relaySender(c);
        this.config = c;
        StackContext cur = runtime.ctx();
        boolean restarts = StackRuntime.needsRestart(cur == null ? c : cur.config, c);
        ProxyLogic l = switchboard.current();
        if (l != null) {
            l.configured(c, restarts);
        }
        runtime.apply(c);
    }

    @Deactivate
    public void close() {
        runtime.stop();
        replaceRelaySender(null);
        switchboard.reapAll();
        byeEnder.shutdown();
        try {
            byeEnder.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        timer.shutdownNow();
        try {
            timer.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("SIP stack stopped (sockets closed)");
    }

    /**
     * The byte-level relay's sender threads, as {@code c} asks: none while raw.relay is off, a new pool when its
     * size changes (the old one sends what it holds, then stops).
     */
    private synchronized void relaySender(SipConfig c) {
        tcpGuard.rawTcp = c.raw_relay() && c.raw_relay_tcp();
        RelaySender cur = tcpGuard.relaySender;
        if (!c.raw_relay()) {
            replaceRelaySender(null);
        } else if (cur == null || !cur.is(c.raw_relay_queue(), c.raw_relay_threads())) {
            replaceRelaySender(new RelaySender(c.raw_relay_queue(), c.raw_relay_threads()));
        }
    }

    private synchronized void replaceRelaySender(RelaySender next) {
        RelaySender cur = tcpGuard.relaySender;
        tcpGuard.relaySender = next;
        if (cur != null) {
            cur.close(1000);
        }
    }

    /** The proxy logic that gets every new request from now on. */
    public void attach(ProxyLogic l) {
        switchboard.attach(l);
        overload.release();
        LOG.info("Proxy logic attached to the SIP stack{}", switchboard.retiringCount() > 0
                ? " (" + switchboard.retiringCount() + " replaced one(s) finishing what they started)" : "");
    }

    /** {@code l} is being replaced: it gets only what it started, until idle or proxy.retire.ms. */
    public void retire(ProxyLogic l) {
        switchboard.retire(l, config.proxy_retire_ms());
        if (switchboard.current() == null) {
            overload.hold(); // the delay that builds until the next logic attaches is the swap's, not overload
        }
    }

    /** The running stack as workers see it, or null while none runs. */
    public StackContext ctx() {
        return runtime.ctx();
    }

    public SipConfig config() {
        return config;
    }

    /** True once the running stack's warm-up has finished. */
    public boolean warm() {
        return runtime.warm();
    }

    /**
     * The warm-up's private media server for this INVITE, if it is one of the warm-up's synthetic calls (from its
     * loopback address, with its token); null for every real call. The logic sends such a call there without
     * routing, session or CDR.
     */
    public String warmupTarget(javax.sip.message.Request req, InetAddress source, String transport) {
        return runtime.warmupTarget(req, source, transport);
    }

    /** True for a message from or to the warm-up's address (not counted as the proxy's traffic). */
    public boolean isWarmup(InetAddress a) {
        return tcpGuard.isWarmup(a);
    }

    /** The proxy logic's counters, kept here across updates of the logic. */
    public ProxyCounters proxyCounters() {
        return proxyCounters;
    }

    public OverloadGuard overload() {
        return overload;
    }

    public EdgeGuard edge() {
        return edge;
    }

    public TcpGuard tcp() {
        return tcpGuard;
    }

    /** UDP processors whose per-datagram buffer was made one byte (tests check it stays 1 across stack versions). */
    public int udpBuffersShrunk() {
        return runtime.udpBuffersShrunk;
    }

    /** The stack's counters (the edge, TCP, the guard, the switchboard), for the logic's SipStatus. */
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("overload.rejected", overloadRejects.get());
        m.put("overload.episodes", overload.episodes.get());
        m.put("overload.delay.ms", (long) overload.delayMs());
        m.put("overload.shed.permille", Math.round(overload.shedProbability() * 1000));
        EdgeGuard.Stats e = edge.stats;
        m.put("edge.untrusted", e.untrusted.get());
        m.put("edge.too.large", e.tooLarge.get());
        m.put("edge.too.many.headers", e.tooManyHeaders.get());
        m.put("edge.line.too.long", e.lineTooLong.get());
        m.put("edge.malformed", e.malformed.get());
        m.put("edge.unsupported.scheme", e.unsupportedScheme.get());
        m.put("edge.bad.version", e.badVersion.get());
        m.put("edge.proxy.require", e.proxyRequire.get());
        m.put("edge.method.mismatch", e.methodMismatch.get());
        m.put("edge.responses.dropped", e.responsesDropped.get());
        m.put("edge.branch.collisions", e.branchCollisions.get());
        TcpGuard.Stats t = tcpGuard.stats;
        m.put("edge.screened", t.screened.get());
        m.put("edge.tcp.refused.total", t.refusedTotal.get());
        m.put("edge.tcp.refused.per.source", t.refusedPerSource.get());
        m.put("edge.tcp.closed.idle", t.closedIdle.get());
        m.put("edge.tcp.closed.slow", t.closedSlow.get());
        m.put("edge.tcp.closed.oversize", t.closedOversize.get());
        m.put("tcp.accepted", t.accepted.get());
        m.put("raw.relayed.requests", t.rawRequests.get());
        m.put("raw.relayed.responses", t.rawResponses.get());
        m.put("raw.relayed.tcp.requests", t.rawTcpRequests.get());
        m.put("raw.relayed.tcp.responses", t.rawTcpResponses.get());
        RelaySender rs = tcpGuard.relaySender;
        m.put("raw.relay.waiting", rs == null ? 0L : rs.depth());
        KernelBacklog k = runtime.kernel();
        m.put("udp.kernel.queued.bytes", k == null ? 0L : k.queuedBytes());
        m.put("udp.kernel.drops", k == null ? 0L : k.drops());
        m.put("tcp.open", (long) tcpGuard.open());
        m.put("warmup.calls", runtime.warmedCalls);
        m.put("warmup.lost", runtime.warmLost);
        m.put("warmup.through", runtime.warmThrough ? 1L : 0L);
        m.put("proxy.waited", switchboard.waited.get());
        m.put("proxy.unserved", switchboard.unserved.get());
        m.put("proxy.to.retiring", switchboard.toRetiring.get());
        m.put("proxy.retiring", (long) switchboard.retiringCount());
        return m;
    }

    /** Known peers: asked of the current proxy logic and of the one it replaced (its services may still be binding). */
    private boolean isKnownPeer(InetAddress a) {
        if (tcpGuard.warmupTrusted(a)) {
            return true; // the warm-up's own caller and media server on their loopback address, while they run
        }
        ProxyLogic c = switchboard.current();
        if (c != null && c.isKnownPeer(a)) {
            return true;
        }
        ProxyLogic p = switchboard.previous();
        return p != null && p != c && p.isKnownPeer(a);
    }

    private void sweepTcp() {
        try {
            tcpGuard.sweep();
        } catch (RuntimeException e) {
            LOG.warn("TCP sweep failed", e);
        }
    }

    private void tickGuard() {
        try {
            overload.tick();
        } catch (RuntimeException e) {
            LOG.warn("Overload guard tick failed", e);
        }
    }

    private static OverloadGuard.Settings guardSettings(SipConfig c) {
        return new OverloadGuard.Settings(c.overload_target_delay_ms(), c.overload_interval_ms(), c.overload_max_queue(),
                c.overload_max_pending());
    }

    private static TcpGuard.Limits tcpLimits(SipConfig c) {
        return new TcpGuard.Limits(c.max_tcp_connections(), c.max_tcp_connections_per_source(), c.tcp_idle_timeout_s() * 1000L,
                c.tcp_message_timeout_s() * 1000L, c.max_message_size());
    }

    private static EdgeGuard.Limits limits(SipConfig c) {
        return new EdgeGuard.Limits(Cidr.parse(c.trusted_peers()), c.untrusted_options_silent(), c.max_message_size(),
                c.max_headers(), c.max_line_length());
    }
}
