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
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Services.class);
    /** Scratch routers (one per warm-up target: its UDP and its TCP media server) at most. */
    private static final int MAX_WARM_TARGETS = 8;
    /** How long the scratch books outlive the warm-up's end for its last calls to finish. */
    private static final long WARM_LINGER_MS = 10_000;

    final SessionStore store;
    final ResourceLedger ledger;
    final PolicyLedger policy;
    /** The node's own books. */
    final Books own;
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
        this.own = new Books(store, ledger, policy, router, true);
    }

    /** The warm-up's scratch store and its routers by target, while a warm-up's calls run. */
    private static final class Warm {
        final SessionStore.Scratch scratch;
        final java.util.Map<String, Books> byTarget = new java.util.concurrent.ConcurrentHashMap<>();
        volatile long doneAt;

        Warm(SessionStore.Scratch scratch) {
            this.scratch = scratch;
        }
    }

    private final Object warmLock = new Object();
    private volatile Warm warm;

    /**
     * The scratch books for a warm-up call to {@code target}: the store's scratch copy (made at the first such call)
     * and a scratch router towards {@code target} once the routing service is there (null router before: the call
     * goes to the target unrouted). Null if the store has no scratch copy.
     */
    Books warmBooks(String target) {
        Warm w = warm;
        if (w == null) {
            synchronized (warmLock) {
                if (warm == null) {
                    SessionStore.Scratch sc = store.scratch();
                    if (sc == null) {
                        return null;
                    }
                    warm = new Warm(sc);
                }
                w = warm;
            }
        }
        Books b = w.byTarget.get(target);
        if (b != null && b.router() != null) {
            return b;
        }
        CallRouter r = router();
        CallRouter scratchRouter = r == null ? null : r.scratch(target, w.scratch.ledger(), w.scratch.policy());
        if ((b != null && scratchRouter == null) || (b == null && w.byTarget.size() >= MAX_WARM_TARGETS)) {
            return b;
        }
        b = new Books(w.scratch.store(), w.scratch.ledger(), w.scratch.policy(), () -> scratchRouter, false);
        w.byTarget.put(target, b);
        return b;
    }

    /**
     * Every second, and when the logic retires ({@code now}): once the warm-up has ended and its calls have (or
     * {@value #WARM_LINGER_MS} ms have passed), the scratch books are closed (billing's scratch spool removed).
     */
    void retireWarm(boolean now) {
        Warm w = warm;
        if (w == null) {
            return;
        }
        if (!now) {
            if (!stack.warm()) {
                return;
            }
            long t = System.currentTimeMillis();
            if (w.doneAt == 0) {
                w.doneAt = t;
            }
            if (w.scratch.store().size() > 0 && t - w.doneAt < WARM_LINGER_MS) {
                return;
            }
        }
        synchronized (warmLock) {
            if (warm != w) {
                return;
            }
            warm = null;
        }
        int left = w.scratch.store().size();
        w.scratch.close();
        LOG.debug("Warm-up's scratch books closed ({} synthetic sessions left unfinished)", left);
    }

    /**
     * A BYE ends its session in the node's store, or else (while the warm-up's calls run) in the scratch store.
     */
    void endOnBye(String callId, String fromTag) {
        if (DialogRouter.endOnBye(store, callId, fromTag)) {
            return;
        }
        Warm w = warm;
        if (w != null) {
            DialogRouter.endOnBye(w.scratch.store(), callId, fromTag);
        }
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
