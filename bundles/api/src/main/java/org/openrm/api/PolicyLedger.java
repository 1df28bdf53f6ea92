package org.openrm.api;

import java.util.List;
import java.util.Map;

/**
 * Calls in progress per IVR profile and per tenant, counted once per call on every level of the tenant
 * tree. Lives in the api bundle so that counts survive updates of routing and SIP. Exact under concurrency.
 */
public interface PolicyLedger {

    /**
     * Counts one call on every key if each stays within its limit, else counts nothing.
     *
     * @param keys   counter names, e.g. {@code profile:welcome}, {@code tenant:acme}
     * @param limits per key the largest allowed count, or a negative number for no limit
     * @return per key its count including this call, or null if a limit would be exceeded; then
     *         {@code rejectedAt[0]} (if given) holds the index of the first key over its limit
     */
    int[] admit(List<String> keys, int[] limits, int[] rejectedAt);

    /** Releases one call from every key (never below zero; an underflow is logged). */
    void release(List<String> keys);

    /** The count of one key. */
    int count(String key);

    /** This node's cluster shares of these counts (keyed as here), or null where there are none. */
    default Shares shares() {
        return null;
    }

    /** Non-zero counts, a snapshot. */
    Map<String, Integer> snapshot();
}
