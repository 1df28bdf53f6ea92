package org.openrm.api.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

class PolicyLedgerTest {
    private static final List<String> LEAF = List.of("profile:p", "tenant:child", "tenant:root");
    private static final List<String> SIBLING = List.of("profile:q", "tenant:other", "tenant:root");

    @Test
    void admitsOnEveryLevelOrNowhere() {
        InMemoryPolicyLedger l = new InMemoryPolicyLedger();
        assertArrayEquals(new int[] {1, 1, 1}, l.admit(LEAF, new int[] {-1, 5, 2}, null));
        assertArrayEquals(new int[] {1, 1, 2}, l.admit(SIBLING, new int[] {-1, -1, 2}, null));
        int[] at = new int[1];
        assertNull(l.admit(LEAF, new int[] {-1, 5, 2}, at));
        assertEquals(2, at[0]);
        assertEquals(1, l.count("profile:p"));
        assertEquals(1, l.count("tenant:child"));
        l.release(LEAF);
        l.release(SIBLING);
        assertTrue(l.snapshot().isEmpty());
    }

    @Test
    void noDriftAfter100000ConcurrentAdmitReleaseCycles() throws Exception {
        InMemoryPolicyLedger l = new InMemoryPolicyLedger();
        int[] limits = {-1, 30, 50};
        AtomicInteger overRoot = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<?>> fs = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int seed = t;
            fs.add(pool.submit(() -> {
                Random r = new Random(seed);
                List<List<String>> held = new ArrayList<>();
                for (int i = 0; i < 25_000; i++) {
                    if (!held.isEmpty() && r.nextInt(3) == 0) {
                        l.release(held.remove(held.size() - 1));
                    } else {
                        List<String> keys = r.nextBoolean() ? LEAF : SIBLING;
                        if (l.admit(keys, limits, null) != null) {
                            held.add(keys);
                            if (l.count("tenant:root") > 50) {
                                overRoot.incrementAndGet();
                            }
                        }
                    }
                }
                held.forEach(l::release);
            }));
        }
        for (Future<?> f : fs) {
            f.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();
        assertEquals(0, overRoot.get(), "root tenant above its limit");
        assertTrue(l.snapshot().isEmpty(), "counts left: " + l.snapshot());
    }
}
