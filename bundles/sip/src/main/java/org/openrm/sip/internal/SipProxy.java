package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.net.InetAddress;
import java.util.Set;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
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
@Component(service = {SipProxy.class, SipPinger.class, SipStatus.class}, immediate = true)
public class SipProxy implements SipPinger, SipStatus, ProxyLogic {
    private static final Logger LOG = LoggerFactory.getLogger(SipProxy.class);
    static final String GVP_HEADER = Sip.GVP_HEADER;


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
        StackContext ctx = stack == null ? null : stack.ctx();
        if (c != null && ctx != null) {
            c.advertise(ctx.viaHost, ctx.viaPort);
        }
    }

    /** Counters for metrics and tests: the stack's, shared by every revision of this logic (no reset on update). */
    public final ProxyCounters stats;
    /** The stack bundle: sockets, edge, guard; it outlives this bundle's updates. */
    private final SipStack stack;
    private final ScheduledThreadPoolExecutor timer;
    private final InviteProxy invites;
    private final OptionsPinger pinger;
    private final Saturation saturation;
    private final OrphanSweep sweep;
    private final Dispatcher dispatcher;
    private final SessionStore store;
    /** The configuration in force (PID org.openrm.sip, read by the stack bundle and handed over with each change). */
    private volatile SipConfig config;
    /** Set when this logic is replaced: the services it had, for the calls it finishes while retiring. */
    private volatile Frozen frozen;

    /** The optional services as they were when this logic was replaced (DS unbinds them after deactivation). */
    private record Frozen(CallRouter router, HealthFeedback health, NodeState node,
                          org.openrm.api.Registrations registrations, ClusterSessions cluster) { }

    @Activate
    public SipProxy(@Reference SipStack stack, @Reference SessionStore store, @Reference ResourceLedger ledger,
                    @Reference PolicyLedger policy) {
        this.stack = stack;
        this.store = store;
        this.config = stack.config();
        this.stats = stack.proxyCounters();
        preloadOwnClasses();
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-sip-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        // the rooms, wired once; they reach the stack only through its context
        Services s = new Services(store, ledger, policy, () -> frozen == null ? router : frozen.router,
                () -> frozen == null ? health : frozen.health, () -> frozen == null ? node : frozen.node, stack, timer, stats);
        s.registrations = () -> frozen == null ? registrations : frozen.registrations;
        s.cluster = () -> frozen == null ? cluster : frozen.cluster;
        services = s;
        OverloadGuard overload = stack.overload();
        saturation = new Saturation(overload);
        StrayResponses strays = new StrayResponses(s);
        McpRelay mcp = new McpRelay(s);
        invites = new InviteProxy(s, mcp, strays, saturation, overload);
        pinger = new OptionsPinger(s);
        sweep = new OrphanSweep(s, invites, strays);
        dispatcher = new Dispatcher(s, invites, new DialogRouter(s), new Registrar(s), mcp, strays, pinger,
                stack.tcp().received);
        timer.scheduleWithFixedDelay(() -> sweep.sweep(this.config), 10, 10, TimeUnit.SECONDS);
        timer.scheduleAtFixedRate(() -> saturation.sample(this.config, invites.pending()), 50, 50, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(() -> invites.resumeParked(stack.ctx()), 10, 10, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(() -> s.retireWarm(false), 1, 1, TimeUnit.SECONDS);
        stack.attach(this);
        advertise();
        StackContext c = stack.ctx();
        LOG.info("SIP proxy logic running on {}:{}, SIP Server {}, node {}", c == null ? "-" : c.viaHost,
                c == null ? "-" : c.viaPort, config.sipserver_uri(), config.node_id());
    }

    /**
     * Loads every class of this bundle revision, and the types of their fields and method signatures, now. Once this
     * revision is replaced, the framework invalidates its class loader at once (nothing imports from it), while the
     * revision still finishes the calls it was setting up: a class it had not loaded by then could not be loaded any
     * more. Outside OSGi there is nothing to do.
     */
    private static void preloadOwnClasses() {
        org.osgi.framework.Bundle b = org.osgi.framework.FrameworkUtil.getBundle(SipProxy.class);
        if (b == null) {
            return;
        }
        java.util.Enumeration<java.net.URL> e = b.findEntries("org/openrm/sip/internal", "*.class", true);
        int n = 0;
        while (e != null && e.hasMoreElements()) {
            String path = e.nextElement().getPath();
            String name = path.substring(path.indexOf("org/openrm/"), path.length() - ".class".length()).replace('/', '.');
            try {
                Class<?> c = Class.forName(name, false, SipProxy.class.getClassLoader());
                c.getDeclaredMethods(); // resolves the types of its signatures through this revision's loader
                c.getDeclaredFields();
                n++;
            } catch (ReflectiveOperationException | LinkageError | SecurityException ex) {
                LOG.debug("Class {} not preloaded: {}", name, ex.toString());
            }
        }
        LOG.debug("{} classes of the proxy logic preloaded", n);
    }

    @Override
    public void configured(SipConfig c, boolean stackRestarts) {
        this.config = c;
        if (stackRestarts) {
            pinger.stopAll();
        }
        timer.execute(this::advertise); // once the stack has applied it
    }

    /**
     * Replaced (bundle:update) or stopped: new requests go to the next logic at once (the stack holds them meanwhile);
     * this one finishes the INVITE transactions it started, then {@link #retired()}.
     */
    @Deactivate
    void deactivate() {
        frozen = new Frozen(router, health, node, registrations, cluster);
        pinger.stopAll();
        stack.retire(this);
        LOG.info("SIP proxy logic stopping: new requests go to its successor; {} calls in setup finish here", invites.pending());
    }

    @Override
    public void retired() {
        timer.shutdownNow();
        invites.clear(stack.ctx());
        services.retireWarm(true);
        LOG.info("SIP proxy logic stopped; {} live sessions stay in the session store", store.size());
    }

    @Override
    public boolean isKnownPeer(InetAddress a) {
        String ip = a.getHostAddress();
        CallRouter r = services.router();
        if (r != null && r.isMediaServerHost(ip)) {
            return true;
        }
        ClusterSessions cs = services.cluster();
        if (cs != null && cs.isMemberHost(ip)) {
            return true; // another member relays an in-dialog request of a call it record-routed
        }
        StackContext c = stack.ctx();
        return c != null && c.sipServer != null && ip.equals(c.sipServer.getHost());
    }

    @Override
    public void byeRelayed(String callId, String fromTag) {
        services.endOnBye(callId, fromTag);
    }

    @Override
    public boolean owns(Object applicationData) {
        return applicationData instanceof InviteBranch b && invites.owns(b) || applicationData instanceof Relay;
    }

    @Override
    public boolean ownsCancel(javax.sip.message.Request cancel) {
        return invites.ownsCancel(cancel);
    }

    @Override
    public boolean idle() {
        return invites.idle();
    }

    @Override
    public void processRequest(javax.sip.RequestEvent ev) {
        dispatcher.processRequest(ev);
    }

    @Override
    public void processResponse(javax.sip.ResponseEvent ev) {
        dispatcher.processResponse(ev);
    }

    @Override
    public void processTimeout(javax.sip.TimeoutEvent ev) {
        dispatcher.processTimeout(ev);
    }

    @Override
    public void processIOException(javax.sip.IOExceptionEvent ev) {
        dispatcher.processIOException(ev);
    }

    @Override
    public void processTransactionTerminated(javax.sip.TransactionTerminatedEvent ev) {
        dispatcher.processTransactionTerminated(ev);
    }

    @Override
    public void processDialogTerminated(javax.sip.DialogTerminatedEvent ev) {
        dispatcher.processDialogTerminated(ev);
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
        return stack.ctx() != null;
    }

    @Override
    public long stalledMs() {
        return Math.max(dispatcher.longestHandlerMs(), saturation.timerLateMs());
    }

    @Override
    public boolean warm() {
        return stack.warm();
    }

    @Override
    public int pendingInvites() {
        return invites.pending();
    }

    @Override
    public java.util.Map<String, Long> counters() {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        java.util.Map<String, Long> st = stack.counters();
        // INVITEs the guard shed on the receive thread never reached a worker: received all the same
        m.put("invites", stats.invites.get() + stack.tcp().stats.shedOnReceive.get());
        m.putAll(st);
        m.put("failovers", stats.failovers.get());
        m.put("stateless.responses", stats.statelessResponses.get());
        m.put("mcp.originated", stats.mediaServerOriginated.get());
        m.put("undeliverable", stats.undeliverable.get());
        m.put("request.errors", stats.requestErrors.get());
        m.put("routing.waited", stats.routingWaited.get());
        m.put("routing.unavailable", stats.routingUnavailable.get());
        m.put("drain.rejected", stats.drainRejects.get());
        return m;
    }

    @Override
    public java.util.Map<String, Long> received() {
        return stack.tcp().received.snapshot();
    }

    @Override
    public java.util.Map<String, Long> sent() {
        return stack.tcp().sent.snapshot();
    }

    /** Tests only: runs on the SIP worker before each request is dispatched. */
    public void testHook(java.util.function.Consumer<javax.sip.message.Request> hook) {
        dispatcher.testHook = hook;
    }

    /** The UDP/TCP port actually bound (for tests). */
    int port() {
        return stack.ctx().udp.getPort();
    }

    /** The stack this logic runs on (tests). */
    SipStack stack() {
        return stack;
    }
}
