package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Supplier;

import org.openrm.api.CallRouter;
import org.openrm.api.ClusterSessions;
import org.openrm.api.HealthFeedback;
import org.openrm.api.NodeState;
import org.openrm.api.PolicyLedger;
import org.openrm.api.Registrations;
import org.openrm.api.ResourceLedger;
import org.openrm.api.SessionStore;

/**
 * What the rooms of the proxy share: the api stores (the state that outlives this bundle), the optional
 * services (read once per use: they come and go with their bundles), the stack and the SIP timer.
 */
final class Services {
    final SessionStore store;
    final ResourceLedger ledger;
    final PolicyLedger policy;
    private final Supplier<CallRouter> router;
    private final Supplier<HealthFeedback> health;
    private final Supplier<NodeState> node;
    /** The registrar's bindings (the api bundle's store), or null (tests without one). */
    volatile Supplier<Registrations> registrations = () -> null;
    /** The other cluster members' sessions, or null (alone, or the cluster bundle away). */
    volatile Supplier<ClusterSessions> cluster = () -> null;
    /** The members' SIP addresses ({@code host:port}) when the cluster bundle last went away: still forwarded to. */
    volatile java.util.Set<String> lastMembers = java.util.Set.of();
    final SipStack stack;
    final ScheduledExecutorService timer;
    final ProxyCounters stats;

    Services(SessionStore store, ResourceLedger ledger, PolicyLedger policy, Supplier<CallRouter> router,
             Supplier<HealthFeedback> health, Supplier<NodeState> node, SipStack stack, ScheduledExecutorService timer,
             ProxyCounters stats) {
        this.node = node;
        this.store = store;
        this.ledger = ledger;
        this.policy = policy;
        this.router = router;
        this.health = health;
        this.stack = stack;
        this.timer = timer;
        this.stats = stats;
    }

    /** The routing service, or null while none is bound (during an update of routing). */
    CallRouter router() {
        return router.get();
    }

    /** The cluster's sessions, or null. */
    ClusterSessions cluster() {
        return cluster.get();
    }

    /** The REGISTERed media servers, or null. */
    Registrations registrations() {
        return registrations.get();
    }

    /** Retry-After (s) of the 503 a new call gets while the node drains; 0 when it does not drain. */
    int drainingRetryAfter() {
        NodeState n = node.get();
        return n != null && n.draining() ? n.drainRetryAfterS() : 0;
    }

    /** Media server health, or null without the health bundle. */
    HealthFeedback health() {
        return health.get();
    }

    /** The running stack, or null while none runs. */
    StackContext ctx() {
        return stack.ctx();
    }

    /**
     * A media server failed a call: health hears of it, or without health routing quarantines it for
     * {@code failure.quarantine.ms}.
     */
    void mediaServerFailed(String resource, HealthFeedback.Failure failure, String why, SipConfig c) {
        int ms = c.failure_quarantine_ms();
        HealthFeedback h = health();
        if (h != null) {
            h.callFailed(resource, failure, ms, why);
            return;
        }
        CallRouter r = router();
        if (r != null && ms > 0) {
            r.quarantine(resource, ms, why);
        }
    }
}
