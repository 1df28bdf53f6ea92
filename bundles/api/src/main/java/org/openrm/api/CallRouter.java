package org.openrm.api;

import java.util.Set;

/**
 * Chooses the media server for a call. Implemented by the routing bundle; called by the SIP bundle on the
 * call path, so it must never block.
 */
public interface CallRouter {

    /** Chooses the first media server for a new call and reserves one port on it. */
    RouteResult route(CallRequest request);

    /**
     * Chooses another media server after {@code failed} failed the call, excluding every resource in
     * {@code tried}, and reserves one port on it. The failed resource's port is not touched here.
     *
     * @param attempt the number of attempts already made for this call (1 after the first failure)
     */
    RouteResult failover(CallRequest request, String failed, Set<String> tried, int attempt);

    /** Takes a resource out of selection for {@code millis} (503 with Retry-After, or a transport failure). */
    void quarantine(String resource, long millis, String why);
}
