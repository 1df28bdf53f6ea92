package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.openrm.api.ResourceLedger;
import org.openrm.api.Shares;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Port counts per resource. One entry per configured or once-used resource name, so the map is bounded by
 * the number of resources, not by traffic.
 */
@Component(service = ResourceLedger.class)
public class InMemoryResourceLedger implements ResourceLedger {
    private static final Logger LOG = LoggerFactory.getLogger(InMemoryResourceLedger.class);

    /** Ports in use (and the node's cluster share) per resource. */
    private final ShareTable ports = new ShareTable();
    private final Map<String, Long> quarantine = new ConcurrentHashMap<>();

    @Override
    public boolean tryAcquire(String resource, int capacity) {
        return ports.counter(resource).increment(Math.max(0, capacity)) > 0;
    }

    @Override
    public void acquireAnyway(String resource) {
        ports.counter(resource).increment(-1); // no limit: neither capacity nor share applies
    }

    @Override
    public void release(String resource) {
        ShareCounter c = ports.existing(resource);
        if (c == null || !c.decrement()) {
            LOG.error("Port count of resource {} would go below zero; a release was duplicated", resource);
        }
    }

    @Override
    public int inUse(String resource) {
        ShareCounter c = ports.existing(resource);
        return c == null ? 0 : c.count();
    }

    @Override
    public Map<String, Integer> snapshot() {
        Map<String, Integer> out = new HashMap<>();
        ports.all().forEach((k, v) -> out.put(k, v.count()));
        return out;
    }

    @Override
    public Shares shares() {
        return ports;
    }

    @Override
    public void quarantineUntil(String resource, long untilMillis) {
        if (untilMillis <= 0) {
            quarantine.remove(resource);
        } else {
            quarantine.put(resource, untilMillis);
        }
    }

    @Override
    public long quarantinedUntil(String resource) {
        Long until = quarantine.get(resource);
        return until == null ? 0 : until;
    }
}
