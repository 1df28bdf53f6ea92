package org.openrm.sip.internal;

import java.net.InetAddress;
import java.util.Set;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import org.openrm.api.CallRouter;
import org.openrm.api.ClusterSessions;
import org.openrm.api.HealthFeedback;
import org.openrm.api.NodeState;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.SessionStore;
import org.openrm.api.SipPinger;
import org.openrm.api.SipStatus;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SIP bundle's component: configuration, the services it binds, and the rooms it wires. It holds no call
 * logic; each concern has a class of its own:
 *
 * <ul>
 *   <li>{@link StackRuntime}: the JAIN-SIP stack's life cycle, published to the rooms as one immutable
 *       {@link StackContext};</li>
 *   <li>{@link EdgeGuard}, {@link TcpGuard}, {@link RawScreen}: the SIP edge, before any transaction;</li>
 *   <li>{@link Dispatcher}: the stack's listener, handing each message to its room;</li>
 *   <li>{@link InviteProxy} with {@link InviteBranch}: new calls, admission, branches, failover, CANCEL;</li>
 *   <li>{@link DialogRouter}: in-dialog requests along the route set;</li>
 *   <li>{@link Registrar}, {@link McpRelay}: REGISTER, and requests that media servers originate;</li>
 *   <li>{@link StrayResponses}: responses that match no transaction;</li>
 *   <li>{@link OptionsPinger}, {@link Saturation}: health pings and openrm's own saturation, for health;</li>
 *   <li>{@link OrphanSweep}: sessions no signalling will end.</li>
 * </ul>
 *
 * <p>Call state that must outlive an update of this bundle (sessions and their ports) lives in the
 * {@link SessionStore} of the api bundle. What lives here only (pending INVITE branches, transactions) is
 * rebuilt by the peers' retransmissions or swept: after an update, responses and in-dialog requests that
 * match no transaction are forwarded statelessly by Via and Route, and BYE still finds its session.
 */
@Component(service = {SipProxy.class, SipPinger.class, SipStatus.class}, configurationPid = "org.openrm.sip", immediate = true)
@Designate(ocd = SipProxy.Config.class)
public class SipProxy implements SipPinger, SipStatus {
    private static final Logger LOG = LoggerFactory.getLogger(SipProxy.class);
    static final String GVP_HEADER = Sip.GVP_HEADER;

    @ObjectClassDefinition(name = "openrm SIP", description = "SIP listening points and proxy behaviour")
    public @interface Config {
        @AttributeDefinition(description = "Address the SIP stack binds (UDP and TCP)")
        String listen_address() default "127.0.0.1";

        @AttributeDefinition(description = "Port the SIP stack binds (UDP and TCP)")
        int listen_port() default 5060;

        @AttributeDefinition(description = "Address put in Via and Record-Route; empty means listen.address")
        String advertised_address() default "";

        @AttributeDefinition(description = "The SIP Server (call controller) URI")
        String sipserver_uri() default "sip:127.0.0.1:5090";

        @AttributeDefinition(description = "CIDR list of peers whose requests are accepted; others get 403")
        String trusted_peers() default "127.0.0.0/8, ::1/128";

        @AttributeDefinition(description = "This node's id, sent in gvp.rm.datanodes of the GVP session id header")
        int node_id() default 1;

        @AttributeDefinition(description = "A media server that sends no response at all to an INVITE within "
                + "this time is treated as failed and the call moves to the next one")
        int invite_timeout_ms() default 3000;

        @AttributeDefinition(description = "A media server that timed out or refused a connection is skipped "
                + "for this long (0 disables)")
        int failure_quarantine_ms() default 5000;

        @AttributeDefinition(description = "Overload guard: the queueing delay (ms; the oldest received message waiting "
                + "for a SIP worker) it holds the queue at while it sheds a share of new INVITEs")
        int overload_target_delay_ms() default 30;

        @AttributeDefinition(description = "Overload guard: a delay above the target must stand (not fall) for this "
                + "long (ms) before any INVITE is shed; shorter bursts (a GC pause, a compile) are absorbed")
        int overload_interval_ms() default 100;

        @AttributeDefinition(description = "Overload guard, hard bound: INVITEs waiting for a final response above which "
                + "every new INVITE gets 503 with Retry-After (a memory bound; pending = call rate x setup time)")
        int overload_max_pending() default 5000;

        @AttributeDefinition(description = "Overload guard, hard bound: received messages waiting for a SIP worker "
                + "above which every new INVITE gets 503 with Retry-After (in-dialog traffic keeps flowing)")
        int overload_max_queue() default 10000;

        @AttributeDefinition(description = "In-dialog ACK and BYE over UDP that follow openrm's Record-Route, and the "
                + "responses to them, are relayed from their received bytes on the receive thread (Route popped, "
                + "Max-Forwards decremented, Via added or removed, nothing else touched) instead of being parsed and "
                + "re-encoded by the SIP stack; whatever cannot be relayed exactly goes through the stack. Off by default: "
                + "it moves that work onto the one UDP receive thread, whose backlog the overload guard cannot see")
        boolean raw_relay() default false;

        @AttributeDefinition(description = "Messages that waited longer than this in the SIP stack's queue are "
                + "dropped (peers retransmit them); keeps the queue short when openrm is saturated")
        int queue_timeout_ms() default 4000;

        @AttributeDefinition(description = "Retry-After seconds on 503 from the overload guard")
        int overload_retry_after_s() default 1;

        @AttributeDefinition(description = "Sessions older than this are ended by the orphan sweep (seconds)")
        int session_max_age_s() default 14400;

        @AttributeDefinition(description = "Unanswered sessions with no live INVITE branch older than this are "
                + "ended by the orphan sweep (seconds)")
        int session_setup_max_s() default 64;

        @AttributeDefinition(description = "Messages parsed and encoded in the background at start so the first "
                + "real calls find the code compiled (0 disables)")
        int warmup_messages() default 30000;

        @AttributeDefinition(description = "Synthetic calls (INVITE, 180, 200, ACK, BYE, 200; half over UDP, half over "
                + "TCP) placed between two private SIP stacks on loopback at start, before the node reports ready, so "
                + "that the first real calls find the SIP stack compiled (0 disables)")
        int warmup_calls() default 3000;

        @AttributeDefinition(description = "JAIN-SIP worker threads (8 measured best on 2 cores)")
        int thread_pool_size() default 8;

        @AttributeDefinition(description = "Upper bound on server and client transactions each")
        int max_transactions() default 300000;

        @AttributeDefinition(description = "OPTIONS from an address not trusted gets no answer at all (scanners), instead of 403")
        boolean untrusted_options_silent() default false;

        @AttributeDefinition(description = "Largest SIP message accepted (bytes, UDP and TCP); larger ones get 513")
        int max_message_size() default 16384;

        @AttributeDefinition(description = "Most header fields in one message; more get 400")
        int max_headers() default 100;

        @AttributeDefinition(description = "Longest header field line (bytes); longer gets 400")
        int max_line_length() default 4096;

        @AttributeDefinition(description = "Most TCP connections open at once (incoming and outgoing); beyond it new ones are refused")
        int max_tcp_connections() default 1000;

        @AttributeDefinition(description = "Most TCP connections from one source address")
        int max_tcp_connections_per_source() default 50;

        @AttributeDefinition(description = "A TCP connection with no traffic for this long is closed (s)")
        int tcp_idle_timeout_s() default 120;

        @AttributeDefinition(description = "A TCP connection whose message is not complete this long after its first byte is closed (s; slowloris)")
        int tcp_message_timeout_s() default 10;

        @AttributeDefinition(description = "Upper bound on OPTIONS health pings in flight")
        int max_pings() default 20000;

        @AttributeDefinition(description = "A new INVITE that arrives while no routing service is bound (routing being "
                + "updated) waits this long for it (ms) before it gets 503; 0 answers 503 at once")
        int routing_wait_ms() default 2000;

        @AttributeDefinition(description = "openrm counts itself saturated (and health does not blame media servers "
                + "for timeouts) while its SIP timer runs this many ms late: a starved CPU or a long GC pause")
        int saturation_lag_ms() default 250;
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile CallRouter router;

    /** The node's draining flag (api); optional so that the proxy runs without it in tests. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile NodeState node;

    /** Media server health: told of failed calls; optional (without it a failure quarantines for failure.quarantine.ms). */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile HealthFeedback health;

    /** The registrar's bindings, for REGISTER queries (RFC 3261 10.2.3) and "Contact: *". */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile org.openrm.api.Registrations registrations;

    /** The other cluster members' sessions (the cluster bundle, while clustered): in-dialog requests for them. */
    private volatile ClusterSessions cluster;
    private final Services services;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindCluster(ClusterSessions c) {
        cluster = c;
        advertise();
    }

    void unbindCluster(ClusterSessions c) {
        if (cluster == c) {
            // the cluster bundle goes away (an update, most likely): the members it knew stay members to forward to
            services.lastMembers = Set.copyOf(c.memberAddresses());
            cluster = null;
        }
    }

    /** Tells the cluster the address this node record-routes with, once a stack runs. */
    private void advertise() {
        ClusterSessions c = cluster;
        StackContext ctx = runtime == null ? null : runtime.ctx();
        if (c != null && ctx != null) {
            c.advertise(ctx.viaHost, ctx.viaPort);
        }
    }

    /** Counters for metrics and tests. */
    public static final class Stats {
        public final AtomicLong invites = new AtomicLong();
        public final AtomicLong overloadRejects = new AtomicLong();
        public final AtomicLong failovers = new AtomicLong();
        public final AtomicLong untrusted = new AtomicLong();
        public final AtomicLong statelessResponses = new AtomicLong();
        public final AtomicLong mediaServerOriginated = new AtomicLong();
        /** Answers that could not be sent because the peer's connection was gone. */
        public final AtomicLong undeliverable = new AtomicLong();
        /** Requests whose handling threw (answered 500): should stay 0, the fuzz tests check it. */
        public final AtomicLong requestErrors = new AtomicLong();
        /** New INVITEs that waited for routing to come back (an update of routing) and went on. */
        public final AtomicLong routingWaited = new AtomicLong();
        /** New INVITEs answered 503 because no routing service was bound for routing.wait.ms. */
        public final AtomicLong routingUnavailable = new AtomicLong();
        /** New INVITEs answered 503 because the node drains. */
        public final AtomicLong drainRejects = new AtomicLong();
    }

    public final Stats stats = new Stats();
    /** The SIP edge: strangers, malformed requests, oversized messages; survives stack restarts. */
    final EdgeGuard edge;
    /** The TCP side of the edge: connection bounds and timeouts; survives stack restarts. */
    final TcpGuard tcpGuard;
    private final ScheduledThreadPoolExecutor timer;
    private final StackRuntime runtime;
    private final InviteProxy invites;
    private final OptionsPinger pinger;
    private final Saturation saturation;
    /** Sheds a share of new INVITEs while openrm's own queue stands; survives stack restarts. */
    final OverloadGuard overload;
    private final OrphanSweep sweep;
    /** Ends the sessions of BYEs relayed from their bytes (off the receive thread; bounded). */
    private final java.util.concurrent.ThreadPoolExecutor byeEnder;
    private final Dispatcher dispatcher;
    private final SessionStore store;
    /** The configuration in force; the stack's context carries the same one once a stack runs. */
    private volatile Config config;

    @Activate
    public SipProxy(@Reference SessionStore store, @Reference ResourceLedger ledger, @Reference PolicyLedger policy,
                    Config config) throws Exception {
        this.store = store;
        this.config = config;
        this.edge = new EdgeGuard(limits(config), this::isKnownPeer);
        this.tcpGuard = new TcpGuard(tcpLimits(config));
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-sip-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        // the rooms, wired once; they reach the stack only through the runtime's context
        runtime = new StackRuntime(edge, tcpGuard);
        Services s = new Services(store, ledger, policy, () -> router, () -> health, () -> node, runtime, timer, stats);
        s.registrations = () -> registrations;
        s.cluster = () -> cluster;
        services = s;
        InviteProxy[] self = new InviteProxy[1];
        overload = new OverloadGuard(guardSettings(config), runtime::headDelayMs, runtime::waiting,
                () -> self[0] == null ? 0 : self[0].pending(), stats.overloadRejects);
        tcpGuard.trusted = edge::trusts;
        tcpGuard.retryAfterS = config.overload_retry_after_s();
        tcpGuard.overload = overload;
        tcpGuard.rawSelf = () -> {
            StackContext c = runtime.ctx();
            return c == null ? null : c.rawSelf;
        };
        byeEnder = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
                new java.util.concurrent.ArrayBlockingQueue<>(10_000), r -> {
                    Thread t = new Thread(r, "openrm-sip-bye");
                    t.setDaemon(true);
                    return t;
                });
        tcpGuard.byeRelayed = (callId, fromTag) -> {
            try {
                byeEnder.execute(() -> endOnBye(callId, fromTag));
                return true;
            } catch (java.util.concurrent.RejectedExecutionException e) {
                return false; // the queue is full: the stack relays this BYE and ends the session itself
            }
        };
        saturation = new Saturation(overload);
        StrayResponses strays = new StrayResponses(s);
        McpRelay mcp = new McpRelay(s);
        invites = new InviteProxy(s, mcp, strays, saturation, overload);
        self[0] = invites;
        pinger = new OptionsPinger(s);
        sweep = new OrphanSweep(s, invites, strays);
        dispatcher = new Dispatcher(s, invites, new DialogRouter(s), new Registrar(s), mcp, strays, pinger, tcpGuard.received);
        runtime.listener(dispatcher);
        timer.scheduleWithFixedDelay(() -> sweep.sweep(this.config), 10, 10, TimeUnit.SECONDS);
        timer.scheduleAtFixedRate(() -> saturation.sample(this.config, invites.pending()), 50, 50, TimeUnit.MILLISECONDS);
        timer.scheduleAtFixedRate(this::tickGuard, OverloadGuard.TICK_MS, OverloadGuard.TICK_MS, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(this::sweepTcp, 1, 1, TimeUnit.SECONDS);
        timer.scheduleWithFixedDelay(() -> invites.resumeParked(runtime.ctx()), 10, 10, TimeUnit.MILLISECONDS);
        try {
            runtime.apply(config);
        } catch (Exception e) {
            timer.shutdownNow();
            throw e;
        }
        advertise();
    }

    @Modified
    void modified(Config c) throws Exception {
        edge.limits(limits(c));
        tcpGuard.limits(tcpLimits(c));
        overload.settings(guardSettings(c));
        tcpGuard.retryAfterS = c.overload_retry_after_s();
        this.config = c;
        if (StackRuntime.needsRestart(runtime.ctx() == null ? c : runtime.ctx().config, c)) {
            pinger.stopAll();
        }
        runtime.apply(c);
        advertise();
    }

    @Deactivate
    void deactivate() {
        pinger.stopAll();
        runtime.stop();
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
        invites.clear(runtime.ctx());
        LOG.info("SIP proxy stopped; {} live sessions stay in the session store", store.size());
    }

    @Override
    public void ping(String uri, long timeoutMs, Consumer<Result> done) {
        pinger.ping(uri, timeoutMs, done);
    }

    @Override
    public long lastSaturatedAt() {
        return saturation.lastSaturatedAt();
    }

    @Override
    public boolean listening() {
        return runtime.ctx() != null;
    }

    @Override
    public long stalledMs() {
        return Math.max(dispatcher.longestHandlerMs(), saturation.timerLateMs());
    }

    @Override
    public boolean warm() {
        return runtime.warm();
    }

    @Override
    public int pendingInvites() {
        return invites.pending();
    }

    @Override
    public java.util.Map<String, Long> counters() {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        // INVITEs the guard shed on the receive thread never reached a worker: received all the same
        m.put("invites", stats.invites.get() + tcpGuard.stats.shedOnReceive.get());
        m.put("overload.rejected", stats.overloadRejects.get());
        m.put("overload.episodes", overload.episodes.get());
        m.put("overload.delay.ms", (long) overload.delayMs());
        m.put("overload.shed.permille", Math.round(overload.shedProbability() * 1000));
        m.put("failovers", stats.failovers.get());
        m.put("stateless.responses", stats.statelessResponses.get());
        m.put("mcp.originated", stats.mediaServerOriginated.get());
        m.put("undeliverable", stats.undeliverable.get());
        m.put("request.errors", stats.requestErrors.get());
        m.put("routing.waited", stats.routingWaited.get());
        m.put("routing.unavailable", stats.routingUnavailable.get());
        m.put("drain.rejected", stats.drainRejects.get());
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
        m.put("tcp.open", (long) tcpGuard.open());
        return m;
    }

    @Override
    public java.util.Map<String, Long> received() {
        return tcpGuard.received.snapshot();
    }

    @Override
    public java.util.Map<String, Long> sent() {
        return tcpGuard.sent.snapshot();
    }

    /** Tests only: runs on the SIP worker before each request is dispatched. */
    public void testHook(java.util.function.Consumer<javax.sip.message.Request> hook) {
        dispatcher.testHook = hook;
    }

    /** The UDP/TCP port actually bound (for tests). */
    int port() {
        return runtime.ctx().udp.getPort();
    }

    /** UDP processors whose per-datagram buffer was made one byte (tests check it stays 1 across stack versions). */
    int udpBuffersShrunk() {
        return runtime.udpBuffersShrunk;
    }

    private void sweepTcp() {
        try {
            tcpGuard.sweep();
        } catch (RuntimeException e) {
            LOG.warn("TCP sweep failed", e);
        }
    }

    /** A BYE relayed from its bytes ends its session, on the bounded BYE worker. */
    private void endOnBye(String callId, String fromTag) {
        try {
            DialogRouter.endOnBye(store, callId, fromTag);
        } catch (RuntimeException e) {
            LOG.warn("Call {}: ending the session on BYE failed", callId, e);
        }
    }

    private void tickGuard() {
        try {
            overload.tick();
        } catch (RuntimeException e) {
            LOG.warn("Overload guard tick failed", e);
        }
    }

    private static OverloadGuard.Settings guardSettings(Config c) {
        return new OverloadGuard.Settings(c.overload_target_delay_ms(), c.overload_interval_ms(), c.overload_max_queue(),
                c.overload_max_pending());
    }

    private static TcpGuard.Limits tcpLimits(Config c) {
        return new TcpGuard.Limits(c.max_tcp_connections(), c.max_tcp_connections_per_source(), c.tcp_idle_timeout_s() * 1000L,
                c.tcp_message_timeout_s() * 1000L, c.max_message_size());
    }

    private static EdgeGuard.Limits limits(Config c) {
        return new EdgeGuard.Limits(Cidr.parse(c.trusted_peers()), c.untrusted_options_silent(), c.max_message_size(),
                c.max_headers(), c.max_line_length());
    }

    /** The SIP Server's host, or a configured or registered media server's: accepted even outside trusted.peers. */
    private boolean isKnownPeer(InetAddress a) {
        String ip = a.getHostAddress();
        CallRouter r = router;
        if (r != null && r.isMediaServerHost(ip)) {
            return true;
        }
        ClusterSessions cs = cluster;
        if (cs != null && cs.isMemberHost(ip)) {
            return true; // another member relays an in-dialog request of a call it record-routed
        }
        StackContext c = runtime.ctx();
        return c != null && c.sipServer != null && ip.equals(c.sipServer.getHost());
    }
}
