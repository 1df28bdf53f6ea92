package org.openrm.api.internal;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.openrm.api.PolicyLedger;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Counters per key; bounded by the number of configured profiles and tenants. */
@Component(service = PolicyLedger.class)
public class InMemoryPolicyLedger implements PolicyLedger {
    private static final Logger LOG = LoggerFactory.getLogger(InMemoryPolicyLedger.class);
    private final Map<String, AtomicInteger> counts = new ConcurrentHashMap<>();

    @Override
    public int[] admit(List<String> keys, int[] limits, int[] rejectedAt) {
        int[] after = new int[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            AtomicInteger n = counts.computeIfAbsent(keys.get(i), k -> new AtomicInteger());
            int v = increment(n, limits[i]);
            if (v < 0) {
                // a key over its limit: undo the keys counted so far (never counted past a limit, so no
                // reader ever sees a count above its limit)
                for (int j = 0; j < i; j++) {
                    counts.get(keys.get(j)).decrementAndGet();
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

    /** Adds one unless that would pass {@code limit} (negative: none); returns the new count or -1. */
    private static int increment(AtomicInteger n, int limit) {
        for (;;) {
            int cur = n.get();
            if (limit >= 0 && cur >= limit) {
                return -1;
            }
            if (n.compareAndSet(cur, cur + 1)) {
                return cur + 1;
            }
        }
    }

    @Override
    public void release(List<String> keys) {
        for (String k : keys) {
            AtomicInteger n = counts.get(k);
            if (n == null || n.getAndUpdate(v -> v > 0 ? v - 1 : 0) <= 0) {
                LOG.error("Policy count {} would go below zero; a release was duplicated", k);
            }
        }
    }

    @Override
    public int count(String key) {
        AtomicInteger n = counts.get(key);
        return n == null ? 0 : n.get();
    }

    @Override
    public Map<String, Integer> snapshot() {
        Map<String, Integer> out = new HashMap<>();
        counts.forEach((k, v) -> {
            if (v.get() != 0) {
                out.put(k, v.get());
            }
        });
        return out;
    }
}
