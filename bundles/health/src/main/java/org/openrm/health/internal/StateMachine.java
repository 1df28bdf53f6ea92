package org.openrm.health.internal;

import org.openrm.api.ResourceCatalog.Monitor;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStatus;

/**
 * The health state machine of one media server, as pure functions from status to status (they may run more
 * than once under contention, so they have no side effects).
 *
 * <pre>
 * in-service --failure--> suspect --(down.after failures in a row)--> down --(up.after answers)--> in-service
 * suspect --answer--> in-service          any --503 + Retry-After--> quarantined --time passed--> in-service/down
 * </pre>
 */
final class StateMachine {
    private StateMachine() { }

    /** An answer that counts as alive. */
    static ResourceStatus answered(ResourceStatus s, Monitor m, long now, int code, long latencyMs) {
        int ok = s.successes() + 1;
        ResourceStatus n = s.withCounts(0, ok).withProbe(Integer.toString(code), now, latencyMs);
        return switch (s.health()) {
            case SUSPECT -> n.withHealth(ResourceState.IN_SERVICE, now, "answered OPTIONS " + code, 0);
            case DOWN -> ok >= m.upAfter()
                    ? n.withHealth(ResourceState.IN_SERVICE, now, "answered OPTIONS " + code + (ok > 1 ? ", " + ok + " in a row" : ""), 0)
                    : n;
            case QUARANTINED -> now >= s.quarantinedUntil()
                    ? n.withHealth(ResourceState.IN_SERVICE, now, "Retry-After elapsed, answered OPTIONS " + code, 0)
                    : n;
            default -> n;
        };
    }

    /** A failed probe or call ({@code probe} true for a probe: its result is recorded). */
    static ResourceStatus failed(ResourceStatus s, Monitor m, long now, String why, boolean probe) {
        int bad = s.failures() + 1;
        ResourceStatus n = s.withCounts(bad, 0);
        if (probe) {
            n = n.withProbe(why, now, -1);
        }
        return switch (s.health()) {
            case IN_SERVICE, SUSPECT -> bad >= m.downAfter()
                    ? n.withHealth(ResourceState.DOWN, now, bad + (bad == 1 ? " failure: " : " failures in a row, last: ") + why, 0)
                    : n.withHealth(ResourceState.SUSPECT, now, why, 0);
            default -> n;
        };
    }

    /** 503 with Retry-After (from a probe or a call): quarantined until {@code until}. */
    static ResourceStatus quarantined(ResourceStatus s, long now, long until, String why, boolean probe) {
        ResourceStatus n = probe ? s.withProbe(why, now, -1) : s;
        long u = s.health() == ResourceState.QUARANTINED ? Math.max(until, s.quarantinedUntil()) : until;
        return new ResourceStatus(ResourceState.QUARANTINED, n.disabled(),
                s.health() == ResourceState.QUARANTINED ? s.since() : now,
                s.health() == ResourceState.QUARANTINED ? s.reason() : why, u, 0, 0, n.lastProbe(), n.lastProbeAt(),
                n.lastLatencyMs());
    }

    /** Time passes: a quarantine whose Retry-After elapsed ends. */
    static ResourceStatus tick(ResourceStatus s, Monitor m, long now) {
        if (s.health() != ResourceState.QUARANTINED || now < s.quarantinedUntil()) {
            return s;
        }
        return s.failures() >= m.downAfter()
                ? s.withHealth(ResourceState.DOWN, now, "Retry-After elapsed, still failing", 0)
                : s.withHealth(ResourceState.IN_SERVICE, now, "Retry-After elapsed", 0);
    }
}
