package org.openrm.api;

import java.util.Collection;

/**
 * Live sessions by Call-ID, and the single place where a session's port is released. Published by the api
 * bundle so that sessions outlive updates of the SIP and routing bundles. Ending is exactly-once: of any
 * number of concurrent {@link #end} calls for one session, one wins and releases the port.
 */
public interface SessionStore {

    /**
     * Adds a session holding a port already reserved on {@code resource} (may be null).
     *
     * @return false if a live session already has this Call-ID (the caller keeps its reservation)
     */
    boolean open(Session session, String resource, String group);

    /** The live session with this Call-ID, or null. */
    Session byCallId(String callId);

    /** The live session with this GVP session id, or null. */
    Session bySessionId(String sessionId);

    /**
     * Marks the session answered at {@code at} (epoch ms) and tells the listeners, once: the first answer counts.
     */
    default void answered(Session session, long at) {
        session.markAnswered(at);
    }

    /** Releases the session's current port (after a media server failed it). No-op if it holds none. */
    void detach(Session session);

    /** Hands the session a port already reserved on {@code resource}, releasing any it held before. */
    void attach(Session session, String resource, String group);

    /**
     * Ends the session: removes it, releases its port and its {@link Selection}'s policy counts, publishes
     * {@link SessionListener#ended}.
     *
     * @return true if this call ended it, false if it had already ended
     */
    boolean end(Session session, EndReason reason, int finalCode);

    /**
     * Publishes the ending of a call that never became a live session (routing rejected it): listeners hear
     * {@link SessionListener#ended} with {@link EndReason#REJECTED}; no port or policy count is touched.
     */
    void rejected(Session session, int code);

    /** Endings held for a durable listener (none registered), and endings dropped because that hold was full. */
    default long[] heldForDurableListener() {
        return new long[] {0, 0};
    }

    /** Live sessions, a weakly consistent view. */
    Collection<Session> sessions();

    /** Number of live sessions. */
    int size();

    /**
     * A private store of the same kind for the warm-up's synthetic calls, with ledgers of its own and the
     * {@link SessionListener#scratch} copies of this store's listeners: the warm-up runs the whole call path (routing,
     * the session, the CDR write) without touching a port, a count or a record of this node. Null if this store has
     * none. {@link Scratch#close()} ends it (the listeners' copies are closed, their scratch state removed).
     */
    default Scratch scratch() {
        return null;
    }

    /** A scratch store and the ledgers it releases to. */
    record Scratch(SessionStore store, ResourceLedger ledger, PolicyLedger policy, Runnable closer) {
        /** Ends the scratch store: its listeners' copies are closed. */
        public void close() {
            closer.run();
        }
    }
}
