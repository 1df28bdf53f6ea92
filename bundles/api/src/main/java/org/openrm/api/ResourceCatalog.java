package org.openrm.api;

import java.util.List;
import java.util.Set;

/** The media servers routing knows (configured and REGISTERed), with their group's monitoring settings. */
public interface ResourceCatalog {

    /** Changes whenever the list or a setting changes. */
    long version();

    /** Every resource, in configuration order. */
    List<Entry> resources();

    /**
     * Monitoring settings of a resource group ({@code org.openrm.lrg-<name>} keys {@code monitor*}).
     *
     * @param options    true for {@code monitor=options}, false for {@code monitor=none}
     * @param aliveCodes responses that count as alive; empty means the default (any final response but 408 and 5xx;
     *                   503 with Retry-After quarantines)
     */
    record Monitor(boolean options, long intervalMs, long timeoutMs, int downAfter, int upAfter, Set<Integer> aliveCodes) {
        public static final Monitor DEFAULT = new Monitor(true, 5000, 2000, 2, 1, Set.of());

        /** True when response {@code code} (not a 503 with Retry-After) says the server is alive. */
        public boolean alive(int code) {
            if (!aliveCodes.isEmpty()) {
                return aliveCodes.contains(code);
            }
            return code >= 200 && code != 408 && (code < 500 || code >= 600);
        }
    }

    /** One media server. */
    record Entry(String name, String group, String uri, int capacity, boolean enabled, boolean registered, Monitor monitor) { }

    /**
     * A limit routing enforces on a tenant or a profile: {@code key} is the {@link PolicyLedger} key
     * ({@code tenant:<name>}, {@code profile:<name>}), {@code limit} the calls at burst level 1, {@code burst2} and
     * {@code burst3} the higher levels (-1 when not set; all -1: no limit).
     */
    record Limit(String key, String kind, String name, int limit, int burst2, int burst3) {
        /** The highest level configured: no call is admitted above it (-1: no limit). */
        public int hardLimit() {
            return burst3 >= 0 ? burst3 : burst2 >= 0 ? burst2 : limit;
        }

        /** The burst level of {@code usage}: 1 up to {@code limit}, 2 up to {@code burst2}, else 3. */
        public int burstLevel(int usage) {
            if (limit < 0 || usage <= limit) {
                return 1;
            }
            return burst2 < 0 || usage <= burst2 ? 2 : 3;
        }
    }

    /** Every tenant and profile limit of the model in force; O(tenants + profiles). */
    default List<Limit> limits() {
        return List.of();
    }
}
