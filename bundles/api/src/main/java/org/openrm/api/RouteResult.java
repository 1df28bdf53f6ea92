package org.openrm.api;

/**
 * The answer of {@link CallRouter}: either a media server with one port already reserved on it, or a
 * rejection that the SIP bundle turns into a final response.
 */
public sealed interface RouteResult permits RouteResult.Target, RouteResult.Rejection {

    /**
     * A media server chosen for the call. One port is reserved on {@code resource} in the
     * {@link ResourceLedger}; the caller owns that reservation and must hand it to the session or release it.
     *
     * @param resource    resource name ({@code org.openrm.resource-<name>})
     * @param group       resource group name
     * @param uri         SIP URI of the media server, e.g. {@code sip:127.0.0.1:5070;transport=tcp}
     * @param maxAttempts failover attempts allowed per call in this group
     * @param requestUri  the Request-URI to send (RFC 4240 form for the service), or null to send the
     *                    resource URI with the dialled number as user part
     * @param selection   the profile and tenants the call was admitted for, or null when no IVR profile is
     *                    configured at all; its policy counts are held by the call
     */
    record Target(String resource, String group, String uri, int maxAttempts, String requestUri,
                  Selection selection) implements RouteResult {
        /** A target without service selection. */
        public Target(String resource, String group, String uri, int maxAttempts) {
            this(resource, group, uri, maxAttempts, null, null);
        }
    }

    /**
     * No media server for this call.
     *
     * @param code         SIP status code to answer with (404, 480, 503 ...)
     * @param reason       reason phrase
     * @param retryAfterS  Retry-After seconds, or 0 for none
     * @param selection    the profile and tenants the call was mapped to, for its CDR (holding no policy counts:
     *                     {@link Selection#policyKeys()} is empty), or null when it was mapped to none
     * @param cause        why, as a bounded value
     */
    record Rejection(int code, String reason, int retryAfterS, Selection selection, Cause cause) implements RouteResult {
        /** A rejection of a call mapped to no profile. */
        public Rejection(int code, String reason, int retryAfterS, Cause cause) {
            this(code, reason, retryAfterS, null, cause);
        }

        /** Why, as a bounded value (metrics label, statistics); {@link #reason} is the phrase the caller sees. */
        public enum Cause {
            /** No IVR profile maps the call (404). */
            NO_PROFILE,
            /** A tenant or profile is at its limit, whatever code the tenant answers with. */
            POLICY_LIMIT,
            /** No media server in service with a free port. */
            NO_MEDIA_SERVER,
            /** {@code X-Genesys-strict-location: enforce} found no media server in the location. */
            NO_MEDIA_SERVER_IN_LOCATION,
            /** Anything else (a profile removed while the call was routed...). */
            OTHER;

            /** The label operators see: {@code policy-limit}, ... */
            public String label() {
                return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
            }
        }
    }
}
