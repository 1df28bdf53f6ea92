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
}
