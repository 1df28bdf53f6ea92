package org.openrm.api;

/**
 * What openrm knows of one media server's health: an immutable value, replaced whole on every change.
 *
 * @param health           the state from probes and call outcomes ({@link ResourceState#OUT_OF_SERVICE} never here)
 * @param disabled         taken out of service by the operator (draining), whatever its health
 * @param since            epoch ms of the last change of {@link #state()}
 * @param reason           why the last change happened, for the console and the log
 * @param quarantinedUntil epoch ms until which a 503 + Retry-After keeps it quarantined
 * @param failures         consecutive failed probes or calls
 * @param successes        consecutive answered probes
 * @param lastProbe        result of the last probe ("200", "timeout", "transport error: ..."), null before the first
 * @param lastProbeAt      epoch ms of the last probe result
 * @param lastLatencyMs    round trip of the last answered probe, -1 if none
 */
public record ResourceStatus(ResourceState health, boolean disabled, long since, String reason, long quarantinedUntil,
                             int failures, int successes, String lastProbe, long lastProbeAt, long lastLatencyMs) {

    /** A resource nobody has judged yet: in service. */
    public static ResourceStatus fresh(long now) {
        return new ResourceStatus(ResourceState.IN_SERVICE, false, now, "configured", 0, 0, 0, null, 0, -1);
    }

    /** The state operators and routing see: out-of-service when disabled, else the health state. */
    public ResourceState state() {
        return disabled ? ResourceState.OUT_OF_SERVICE : health;
    }

    public ResourceStatus withHealth(ResourceState h, long now, String why, long until) {
        return new ResourceStatus(h, disabled, h == health ? since : now, h == health ? reason : why, until,
                failures, successes, lastProbe, lastProbeAt, lastLatencyMs);
    }

    public ResourceStatus withDisabled(boolean d, long now, String why) {
        return d == disabled ? this : new ResourceStatus(health, d, now, why, quarantinedUntil, failures, successes,
                lastProbe, lastProbeAt, lastLatencyMs);
    }

    public ResourceStatus withCounts(int failures, int successes) {
        return new ResourceStatus(health, disabled, since, reason, quarantinedUntil, failures, successes, lastProbe,
                lastProbeAt, lastLatencyMs);
    }

    public ResourceStatus withProbe(String result, long at, long latencyMs) {
        return new ResourceStatus(health, disabled, since, reason, quarantinedUntil, failures, successes, result, at,
                latencyMs < 0 ? lastLatencyMs : latencyMs);
    }
}
