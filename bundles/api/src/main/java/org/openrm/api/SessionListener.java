package org.openrm.api;

/**
 * Whiteboard listener for session life-cycle events (billing, metrics, SNMP, cluster). Called on the call
 * path: implementations must return at once and never throw; slow work goes to their own queue.
 */
public interface SessionListener {

    /** A session was admitted and its INVITE forwarded. */
    default void started(Session session) { }

    /** A session's INVITE was answered: {@link Session#answeredAt} is set (the cluster replicates it). */
    default void answered(Session session) { }

    /** A session ended; called exactly once per session. */
    void ended(Session session, EndReason reason, int finalCode, long endedAt);
}
