package org.openrm.api;

import java.util.function.Consumer;

/** Sends SIP OPTIONS from openrm's own SIP address (published by the sip bundle, used by health). */
public interface SipPinger {

    /**
     * The outcome of one ping.
     *
     * @param code        the final response code, 0 when none came (see {@link #error})
     * @param retryAfterS Retry-After of the response in seconds, 0 if absent
     * @param latencyMs   round trip in ms, -1 without a response
     * @param error       what went wrong, for people (log lines, the console) when code is 0; never parsed
     * @param cause       what kind of outcome this is: the only thing health decides on
     */
    record Result(int code, int retryAfterS, long latencyMs, String error, Cause cause) {
        /** A final response {@code code} after {@code latencyMs}. */
        public static Result answered(int code, int retryAfterS, long latencyMs) {
            return new Result(code, retryAfterS, latencyMs, null, Cause.ANSWERED);
        }

        /** No response: {@code cause} says whose fault that may be. */
        public static Result failed(Cause cause, String error) {
            return new Result(0, 0, -1, error, cause);
        }
    }

    /** The kind of a ping's outcome. Only {@link #TIMEOUT} and {@link #TRANSPORT} may count against a media server. */
    enum Cause {
        /** A final response arrived. */
        ANSWERED,
        /** No response within the timeout. */
        TIMEOUT,
        /** The OPTIONS could not be sent to the media server (connection refused, unreachable). */
        TRANSPORT,
        /** openrm's own SIP stack is stopped or restarting (a bundle update): says nothing about the media server. */
        STACK_DOWN,
        /** openrm's own bound on pings in flight was reached: says nothing about the media server. */
        OWN_LIMIT
    }

    /**
     * Sends one OPTIONS to {@code uri} and calls {@code done} exactly once, with the response or a timeout after
     * {@code timeoutMs}. Never blocks; {@code done} runs on a SIP or timer thread and must be quick.
     */
    void ping(String uri, long timeoutMs, Consumer<Result> done);

    /**
     * Epoch ms of the last moment openrm's own SIP processing was saturated (receive queue deep, new calls
     * shed, or its timer running late on a starved CPU); 0 if never. A timeout seen around that moment may be
     * openrm's own fault, not the media server's.
     */
    long lastSaturatedAt();
}
