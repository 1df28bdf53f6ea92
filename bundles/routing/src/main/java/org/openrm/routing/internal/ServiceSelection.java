package org.openrm.routing.internal;

import java.util.Map;

import org.openrm.api.CallRequest;

/**
 * Maps a call to its IVR profile, in the order the platform defines: the {@code gvp-tenant-id} Request-URI
 * parameter (naming the profile, or, with an IVR profile header present, the tenant), the IVR profile
 * headers alone, the dialled number against DIDs then the longest DID prefix, the default profile.
 */
final class ServiceSelection {
    static final String TENANT_PARAM = "gvp-tenant-id";
    static final String PROFILE_ID_HEADER = "X-Genesys-gsw-ivr-profile-id";
    static final String PROFILE_NAME_HEADER = "X-Genesys-gsw-ivr-profile-name";

    /** The outcome: a profile, or why there is none. */
    record Result(Model.Profile profile, String rule, String problem) { }

    private ServiceSelection() { }

    static Result select(Model m, CallRequest call, String defaultProfile) {
        String param = uriParameter(call.requestUri(), TENANT_PARAM);
        String header = call.header(PROFILE_ID_HEADER);
        if (header == null || header.isEmpty()) {
            header = call.header(PROFILE_NAME_HEADER);
        }
        if (param != null && !param.isEmpty()) {
            if (header != null && !header.isEmpty()) {
                Model.Profile p = m.profiles.get(header);
                if (p == null || !param.equals(p.tenant())) {
                    return new Result(null, "tenant parameter and profile header",
                            "no profile '" + header + "' of tenant '" + param + "'");
                }
                return new Result(p, "tenant parameter and profile header", null);
            }
            Model.Profile p = m.profiles.get(param);
            return p == null ? new Result(null, TENANT_PARAM, "no profile '" + param + "'")
                    : new Result(p, TENANT_PARAM, null);
        }
        if (header != null && !header.isEmpty()) {
            Model.Profile p = m.profiles.get(header);
            return p == null ? new Result(null, "profile header", "no profile '" + header + "'")
                    : new Result(p, "profile header", null);
        }
        String dnis = call.dialled();
        if (!dnis.isEmpty()) {
            Model.Profile p = m.dids.get(dnis);
            if (p != null) {
                return new Result(p, "DID", null);
            }
            for (Map.Entry<String, Model.Profile> e : m.prefixes) {
                if (dnis.startsWith(e.getKey())) {
                    return new Result(e.getValue(), "DID prefix " + e.getKey(), null);
                }
            }
        }
        if (defaultProfile != null && !defaultProfile.isEmpty()) {
            Model.Profile p = m.profiles.get(defaultProfile);
            return p == null ? new Result(null, "default profile", "default profile '" + defaultProfile + "' is not configured")
                    : new Result(p, "default profile", null);
        }
        return new Result(null, "none", "no profile matches " + (dnis.isEmpty() ? "the call" : dnis) + " and there is no default profile");
    }

    /** The value of a URI parameter (unescaped), or null. Looks only at the URI's parameters, not its headers. */
    static String uriParameter(String uri, String name) {
        if (uri == null) {
            return null;
        }
        int q = uri.indexOf('?');
        String params = q < 0 ? uri : uri.substring(0, q);
        for (String part : params.split(";")) {
            int eq = part.indexOf('=');
            String k = eq < 0 ? part : part.substring(0, eq);
            if (k.trim().equalsIgnoreCase(name)) {
                return eq < 0 ? "" : RequestUris.unescape(part.substring(eq + 1).trim());
            }
        }
        return null;
    }
}
