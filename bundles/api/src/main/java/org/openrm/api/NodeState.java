package org.openrm.api;

/**
 * The node's own operating state, kept in the api bundle so that it outlives updates of sip and ops: draining
 * (published by api; set by {@code rm:drain} and on shutdown, read by the SIP path on every new INVITE and OPTIONS).
 */
public interface NodeState {

    /** True while the node takes no new calls (calls in progress go on). */
    boolean draining();

    /** Retry-After (s) that a new INVITE or an OPTIONS gets while draining. */
    int drainRetryAfterS();

    /** Starts draining ({@code retryAfterS} for the 503s) or, with {@code false}, takes calls again. */
    void draining(boolean on, int retryAfterS, String why);

    /** Why and since when (epoch ms) the node drains; null when it does not. */
    String drainReason();
}
