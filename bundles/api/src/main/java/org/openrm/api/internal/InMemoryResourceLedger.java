package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.openrm.api.ResourceLedger;
import org.openrm.api.Shares;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Port counts per resource. One entry per configured or once-used resource name, so the map is bounded by
 * the number of resources, not by traffic.
 */
// reads the cluster's PID (optional) only to know, from its first moment, whether this node is a cluster member
@Component(service = ResourceLedger.class, configurationPid = ClusterConfig.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
public class InMemoryResourceLedger implements ResourceLedger {
    private static final Logger LOG = LoggerFactory.getLogger(InMemoryResourceLedger.class);

    /** Ports in use (and the node's cluster share) per resource. */
    private final ShareTable ports = new ShareTable();

    public InMemoryResourceLedger() {
        // tests and the cluster bundle build it bare: not a member until told
    }

    @Activate
    public void activate(Map<String, Object> cluster) {
        ClusterConfig.manageIfClustered(ports, cluster, "Port counts", LOG);
    }

    /** A change of the cluster's configuration is the cluster bundle's to apply; the counts stay (no reactivation). */
    @Modified
    public void modified(Map<String, Object> cluster) {
        // nothing: management is turned on or off by the cluster bundle from here on
    }
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
