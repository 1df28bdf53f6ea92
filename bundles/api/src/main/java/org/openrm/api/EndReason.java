package org.openrm.api;

/** Why a session ended, as reported in the CDR. */
public enum EndReason {
    /** The caller (SIP Server side) sent BYE. */
    CALLER_BYE,
    /** The media server sent BYE. */
    MEDIA_SERVER_BYE,
    /** The caller cancelled the INVITE before it was answered. */
    CANCEL,
    /** openrm or routing rejected the call with a final response (policy, no resource). */
    REJECTED,
    /** The media servers tried all failed; their last final response went to the caller. */
    FAILED,
    /** No answer in time, or the orphan sweep ended a session older than its maximum age. */
    TIMEOUT,
    /** Another node took the session over. */
    TAKEN_OVER
}
