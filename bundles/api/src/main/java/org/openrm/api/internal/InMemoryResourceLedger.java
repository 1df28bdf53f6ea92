package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.openrm.api.ResourceLedger;
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

    private static final class Slot {
        final AtomicInteger inUse = new AtomicInteger();
        volatile long quarantinedUntil;
    }

    private final Map<String, Slot> slots = new ConcurrentHashMap<>();

    private Slot slot(String resource) {
        return slots.computeIfAbsent(resource, r -> new Slot());
    }

    @Override
    public boolean tryAcquire(String resource, int capacity) {
        AtomicInteger n = slot(resource).inUse;
        for (;;) {
            int cur = n.get();
            if (cur >= capacity) {
                return false;
            }
            if (n.compareAndSet(cur, cur + 1)) {
                return true;
            }
        }
    }

    @Override
    public void release(String resource) {
        AtomicInteger n = slot(resource).inUse;
        for (;;) {
            int cur = n.get();
            if (cur <= 0) {
                LOG.error("Port count of resource {} would go below zero; a release was duplicated", resource);
                return;
            }
            if (n.compareAndSet(cur, cur - 1)) {
                return;
            }
        }
    }

    @Override
    public int inUse(String resource) {
        Slot s = slots.get(resource);
        return s == null ? 0 : s.inUse.get();
    }

    @Override
    public Map<String, Integer> snapshot() {
        Map<String, Integer> out = new HashMap<>();
        slots.forEach((k, v) -> out.put(k, v.inUse.get()));
        return out;
    }

    @Override
    public void quarantineUntil(String resource, long untilMillis) {
        slot(resource).quarantinedUntil = untilMillis;
    }

    @Override
    public long quarantinedUntil(String resource) {
        Slot s = slots.get(resource);
        return s == null ? 0 : s.quarantinedUntil;
    }
}
