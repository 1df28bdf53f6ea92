package org.openrm.sip.stack;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The proxy logic's counters. They live in the stack bundle, which outlives updates of the logic: every revision of
 * the logic counts into the same ones, so a {@code bundle:update org.openrm.sip} does not reset what metrics and
 * SNMP report as counters (a reset reads as a drop to zero, and rates computed over it go wrong).
 */
public final class ProxyCounters {
    public final AtomicLong invites = new AtomicLong();
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
