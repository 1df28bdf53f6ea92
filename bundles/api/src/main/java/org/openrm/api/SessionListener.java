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

    /**
     * A private copy of this listener for the warm-up's synthetic calls ({@link SessionStore#scratch}): it runs the
     * same code as this one onto state of its own (a scratch spool, never the broker, never this node's counts), or
     * null to hear nothing of them. The store closes it (if it is {@link AutoCloseable}) when the warm-up ends.
     */
    default SessionListener scratch() {
        return null;
    }
}
