package org.openrm.api;

import java.util.Map;

/**
 * Ports in use per media server, and quarantine deadlines. Lives in the api bundle so that counts survive
 * a {@code bundle:update} of routing or SIP. All operations are lock-free and exact under concurrency.
 */
public interface ResourceLedger {

    /** Reserves one port on {@code resource} if fewer than {@code capacity} are in use. */
    boolean tryAcquire(String resource, int capacity);

    /**
     * Counts one port on {@code resource} whatever its capacity and this node's share: for a call that holds it
     * already (taken over from a cluster member that is gone, whose share the cluster counts as held until then).
     */
    default void acquireAnyway(String resource) {
        tryAcquire(resource, Integer.MAX_VALUE);
    }

    /** Returns one port to {@code resource}; never goes below zero (an underflow is logged). */
    void release(String resource);

    /** Ports in use on {@code resource}. */
    int inUse(String resource);

    /** Ports in use per resource, a snapshot (resources with zero in use may be missing). */
    Map<String, Integer> snapshot();

    /** This node's cluster shares of these counts (keyed as here), or null where there are none. */
    default Shares shares() {
        return null;
    }

    /** Keeps {@code resource} out of selection until {@code untilMillis} (epoch ms). */
    void quarantineUntil(String resource, long untilMillis);

    /** Epoch ms until which {@code resource} is quarantined, 0 if it is not. */
    long quarantinedUntil(String resource);
}
