package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

import org.openrm.api.ResourceStates;
import org.openrm.api.ResourceStatus;
import org.osgi.service.component.annotations.Component;

/** Health of media servers by name; bounded by the resources the health monitor retains. */
@Component(service = ResourceStates.class)
public class InMemoryResourceStates implements ResourceStates {
    /** A backstop: far above any real pool, reached only if {@link #retain} is never called. */
    static final int MAX_ENTRIES = 100_000;

    private final Map<String, ResourceStatus> states = new ConcurrentHashMap<>();

    @Override
    public ResourceStatus get(String resource) {
        return states.get(resource);
    }

    @Override
    public Change update(String resource, UnaryOperator<ResourceStatus> change) {
        if (!states.containsKey(resource) && states.size() >= MAX_ENTRIES) {
            throw new IllegalStateException("more than " + MAX_ENTRIES + " resources in the health table");
        }
        ResourceStatus[] before = new ResourceStatus[1];
        ResourceStatus after = states.compute(resource, (k, cur) -> {
            before[0] = cur;
            return change.apply(cur == null ? ResourceStatus.fresh(System.currentTimeMillis()) : cur);
        });
        return new Change(before[0], after);
    }

    @Override
    public Map<String, ResourceStatus> snapshot() {
        return new HashMap<>(states);
    }

    @Override
    public void retain(Set<String> names) {
        states.keySet().retainAll(names);
    }
}
