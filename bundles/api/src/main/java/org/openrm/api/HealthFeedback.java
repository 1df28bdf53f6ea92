package org.openrm.api;

/** What the call path tells health about media servers (published by the health bundle, optional for sip). */
public interface HealthFeedback {

    /** How a call to a media server failed. */
    enum Failure {
        /** No response to the INVITE in time. */
        TIMEOUT,
        /** The INVITE could not be sent (connection refused, no route). */
        TRANSPORT_ERROR,
        /** 503 with Retry-After: quarantine for that long. */
        RETRY_AFTER
    }

    /**
     * A call to {@code resource} failed: counts as a failed probe (quarantine for {@code millis} on RETRY_AFTER,
     * or when the resource's group is not monitored). Never blocks.
     */
    void callFailed(String resource, Failure failure, long millis, String detail);
}
