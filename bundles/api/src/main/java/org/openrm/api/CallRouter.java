package org.openrm.api;

import java.util.Set;

/**
 * Chooses the media server for a call. Implemented by the routing bundle; called by the SIP bundle on the
 * call path, so it must never block.
 */
public interface CallRouter {

    /**
     * Maps a new call to its IVR profile, admits it against the profile's and tenants' limits, chooses the
     * first media server and reserves one port on it. On a {@link RouteResult.Target} the caller owns the
     * port and the policy counts of its {@link Selection}; on a rejection nothing is held.
     */
    RouteResult route(CallRequest request);

    /**
     * Chooses another media server after {@code failed} failed the call, excluding every resource in
     * {@code tried}, and reserves one port on it; the call keeps its selection (no new admission). The
     * failed resource's port is not touched here.
     *
     * @param selection the selection of the first attempt, or null
     * @param attempt   the number of attempts already made for this call (1 after the first failure)
     */
    RouteResult failover(CallRequest request, Selection selection, String failed, Set<String> tried, int attempt);

    /** True if {@code host} (an IP address or name as configured) is a configured or registered media server's. */
    default boolean isMediaServerHost(String host) {
        return false;
    }

    /** True if {@code host:port} is a configured or registered media server (its requests are MCP-originated). */
    default boolean isMediaServer(String host, int port) {
        return false;
    }

    /**
     * Binds (or refreshes, or with {@code expiresS} 0 removes) a media server that REGISTERed itself.
     *
     * @param contactUri its Contact URI (transport parameter kept)
     * @param group      the resource group to join; null for the configured default
     * @param capacity   ports, or a negative number for the configured default
     * @return the resource name it is known by, or null if the group does not exist
     */
    default String register(String contactUri, String group, int capacity, int expiresS) {
        return null;
    }

    /** Takes a resource out of selection for {@code millis} (503 with Retry-After, or a transport failure). */
    void quarantine(String resource, long millis, String why);

    /**
     * A private router of the same kind for the warm-up's synthetic calls: one tenant, one IVR profile (DID
     * {@code warm}) and one resource group holding the media server {@code targetUri}, admitting against
     * {@code ledger} and {@code policy} (a {@link SessionStore#scratch} store's), never this node's. Null if this
     * router has none.
     */
    default CallRouter scratch(String targetUri, ResourceLedger ledger, PolicyLedger policy) {
        return null;
    }
}
