package org.openrm.api.internal;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.openrm.api.PolicyLedger;
import org.openrm.api.Shares;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Counters per key; bounded by the number of configured profiles and tenants. */
// reads the cluster's PID (optional) only to know, from its first moment, whether this node is a cluster member
@Component(service = PolicyLedger.class, configurationPid = ClusterConfig.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
public class InMemoryPolicyLedger implements PolicyLedger {
    private static final Logger LOG = LoggerFactory.getLogger(InMemoryPolicyLedger.class);
    private final ShareTable counts = new ShareTable();

    public InMemoryPolicyLedger() {
        // tests and the cluster bundle build it bare: not a member until told
    }

    @Activate
    public void activate(Map<String, Object> cluster) {
        ClusterConfig.manageIfClustered(counts, cluster, "Policy counts", LOG);
    }

    /** A change of the cluster's configuration is the cluster bundle's to apply; the counts stay (no reactivation). */
    @Modified
    public void modified(Map<String, Object> cluster) {
        // nothing: management is turned on or off by the cluster bundle from here on
    }

    @Override
    public int[] admit(List<String> keys, int[] limits, int[] rejectedAt) {
        int[] after = new int[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            int v = counts.counter(keys.get(i)).increment(limits[i]);
            if (v < 0) {
                // a key over its limit or share: undo the keys counted so far (never counted past a limit, so no
                // reader ever sees a count above its limit)
                for (int j = 0; j < i; j++) {
                    counts.existing(keys.get(j)).decrement();
                }
                if (rejectedAt != null && rejectedAt.length > 0) {
                    rejectedAt[0] = i;
                }
                return null;
            }
            after[i] = v;
        }
        return after;
    }

    @Override
    public void release(List<String> keys) {
        for (String k : keys) {
            ShareCounter n = counts.existing(k);
            if (n == null || !n.decrement()) {
                LOG.error("Policy count {} would go below zero; a release was duplicated", k);
            }
        }
    }

    @Override
    public int count(String key) {
        ShareCounter n = counts.existing(key);
        return n == null ? 0 : n.count();
    }

    @Override
    public Map<String, Integer> snapshot() {
        Map<String, Integer> out = new HashMap<>();
        counts.all().forEach((k, v) -> {
            int c = v.count();
            if (c != 0) {
                out.put(k, c);
            }
        });
        return out;
    }

    @Override
    public Shares shares() {
        return counts;
    }
}
