package org.openrm.api;

import java.util.Objects;

/**
 * One call through openrm, from the INVITE to its end. Created and owned by the SIP bundle, held in the
 * {@link SessionStore} so that it survives an update of the SIP bundle. Fields that change during the
 * call are volatile; resource changes go through the store so that port counts stay exact.
 */
public final class Session {
    private final String id;
    private final String callId;
    private final String callerTag;
    private final String from;
    private final String to;
    private final String dialled;
    private final long receivedAt;
    volatile String resource;
    volatile String group;
    private volatile String lastResource;
    private volatile long answeredAt;
    private volatile int attempts;
    private volatile int finalCode;
    private volatile RouteResult.Rejection.Cause rejectCause;
    private volatile Selection selection;
    private volatile boolean takenOver;

    /**
     * @param id        GVP session id, unique across the cluster and restarts
     * @param callId    Call-ID of the caller's INVITE
     * @param callerTag From tag of the caller's INVITE, tells caller and media server BYE apart
     */
    public Session(String id, String callId, String callerTag, String from, String to, String dialled,
                   long receivedAt) {
        this.id = Objects.requireNonNull(id);
        this.callId = Objects.requireNonNull(callId);
        this.callerTag = callerTag;
        this.from = from;
        this.to = to;
        this.dialled = dialled;
        this.receivedAt = receivedAt;
    }

    public String id() { return id; }
    public String callId() { return callId; }
    public String callerTag() { return callerTag; }
    public String from() { return from; }
    public String to() { return to; }
    public String dialled() { return dialled; }
    /** Epoch ms the INVITE arrived. */
    public long receivedAt() { return receivedAt; }
    /** The resource holding this call's port, or null between attempts. */
    public String resource() { return resource; }
    public String group() { return group; }

    /** Used by {@link SessionStore} implementations only, under the session's monitor. */
    public void resourceSet(String resource, String group) {
        this.resource = resource;
        this.group = group;
        if (resource != null) {
            this.lastResource = resource;
        }
    }

    /** The media server that held the call last (kept after its port is released: for the CDR), or null. */
    public String lastResource() { return lastResource; }
    /** Epoch ms the call was answered (2xx relayed), 0 while it is not. */
    public long answeredAt() { return answeredAt; }
    public boolean answered() { return answeredAt != 0; }
    public void markAnswered(long at) { if (answeredAt == 0) answeredAt = at; }
    /** Media servers tried so far. */
    public int attempts() { return attempts; }
    public void attempts(int n) { attempts = n; }
    /** The profile and tenants the call was admitted for, or null. Set before the session is opened. */
    public Selection selection() { return selection; }
    public void selection(Selection s) { selection = s; }

    /** True for a session this node took over from a cluster member that is gone (its end reason if none is seen). */
    public boolean takenOver() { return takenOver; }
    public void markTakenOver() { takenOver = true; }

    /** Why routing refused the call (set before {@link SessionStore#rejected}), or null for an admitted call. */
    public RouteResult.Rejection.Cause rejectCause() { return rejectCause; }
    public void rejectCause(RouteResult.Rejection.Cause c) { rejectCause = c; }

    /** Final SIP status code sent to the caller, 0 before one was. */
    public int finalCode() { return finalCode; }
    public void finalCode(int code) { finalCode = code; }

    @Override
    public String toString() {
        return "Session[" + id + " call-id=" + callId + " resource=" + resource + "]";
    }
}
