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
     * @param error       "timeout" or "transport error: ..." when code is 0
     */
    record Result(int code, int retryAfterS, long latencyMs, String error) { }

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
