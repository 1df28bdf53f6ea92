package org.openrm.api;

import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The health of every media server, kept in the api bundle so that an update of the health or routing bundle
 * neither forgets a dead server nor ejects a live one. Bounded by the number of resources: entries of resources
 * that left the configuration are dropped by {@link #retain}.
 */
public interface ResourceStates {

    /** The status of {@code resource}, or null if it was never judged (routing treats that as in service). */
    ResourceStatus get(String resource);

    /**
     * Replaces the status of {@code resource} atomically with {@code change} applied to the current one (a
     * {@link ResourceStatus#fresh fresh} one if none); returns the pair (before, after). {@code change} must be
     * quick and free of side effects: it may run more than once.
     */
    Change update(String resource, UnaryOperator<ResourceStatus> change);

    /** Every status, a snapshot. */
    Map<String, ResourceStatus> snapshot();

    /** Forgets every resource not in {@code names}. */
    void retain(Set<String> names);

    /** The state of {@code resource} as routing sees it. */
    default ResourceState state(String resource) {
        ResourceStatus s = get(resource);
        return s == null ? ResourceState.IN_SERVICE : s.state();
    }

    /** One atomic change of a status. */
    /**
     * The state of a configured or registered resource as routing, the console and the monitoring views see it:
     * out of service when its configuration disables it, else its health (in service when health never saw it).
     */
    default ResourceState state(ResourceCatalog.Entry entry) {
        return entry.enabled() ? state(entry.name()) : ResourceState.OUT_OF_SERVICE;
    }

    record Change(ResourceStatus before, ResourceStatus after) {
        /** True when the state operators see changed. */
        public boolean transition() {
            return before == null ? after.state() != ResourceState.IN_SERVICE : before.state() != after.state();
        }
    }
}
