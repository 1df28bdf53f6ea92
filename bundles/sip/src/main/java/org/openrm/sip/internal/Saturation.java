package org.openrm.sip.internal;

import org.openrm.sip.stack.OverloadGuard;
import org.openrm.sip.stack.SipConfig;

/**
 * openrm's own saturation, as health needs to know it: a media server's silence around such a moment may be
 * openrm's fault. Sampled every 50 ms on the SIP timer; marked by the overload guard and the no-answer timer.
 */
final class Saturation {
    private final OverloadGuard guard;
    /** Epoch ms of the last sign of own saturation; 0 if never. */
    private volatile long saturatedAt;
    private volatile long lastTick = System.nanoTime();

    Saturation(OverloadGuard guard) {
        this.guard = guard;
    }

    /**
     * True while openrm's own queue delays messages well past the guard's target (or the guard sheds): a silent
     * media server may then be openrm's fault.
     */
    boolean now() {
        return guard.active() || guard.delayMs() >= 2 * guard.settings().targetDelayMs();
    }

    void mark() {
        saturatedAt = System.currentTimeMillis();
    }

    long lastSaturatedAt() {
        return saturatedAt;
    }

    /** How late the 50 ms sampling runs right now (a stuck timer thread shows here), in ms; 0 when on time. */
    long timerLateMs() {
        long late = (System.nanoTime() - lastTick) / 1_000_000 - 50;
        return Math.max(0, late);
    }

    /** Every 50 ms: a queue delay past twice the guard's target, a shedding guard, a pending-INVITE table near its
     * bound, or a late timer means saturation. */
    void sample(SipConfig c, int pendingInvites) {
        long now = System.nanoTime();
        long lateMs = (now - lastTick) / 1_000_000 - 50;
        lastTick = now;
        if (lateMs > c.saturation_lag_ms() || now()
                || pendingInvites >= c.overload_max_pending() * 8L / 10) {
            mark();
        }
    }
}
