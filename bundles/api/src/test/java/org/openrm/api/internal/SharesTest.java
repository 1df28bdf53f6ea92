package org.openrm.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.openrm.api.Shares;

class SharesTest {

    @Test
    void aloneEveryShareIsUnlimitedAndTheLimitAloneCounts() {
        InMemoryResourceLedger l = new InMemoryResourceLedger();
        assertFalse(l.shares().managed());
        assertEquals(Shares.UNLIMITED, l.shares().share("mcp1"));
        assertTrue(l.tryAcquire("mcp1", 2));
        assertTrue(l.tryAcquire("mcp1", 2));
        assertFalse(l.tryAcquire("mcp1", 2));
        assertEquals(0, l.shares().giveBack("mcp1", 5), "nothing to give back while unmanaged");
    }

    /**
     * A node planned as a cluster member (its cluster configuration names peers, or DNS discovery) admits nothing
     * beyond what the cluster grants from the ledgers' first moment: booted or restarted after a crash, it does not
     * serve its whole local limits while the cluster bundle is still starting.
     */
    @Test
    void aPlannedMemberIsManagedFromItsFirstMoment() {
        InMemoryPolicyLedger p = new InMemoryPolicyLedger();
        p.activate(Map.of("peers", "10.0.0.1,10.0.0.2", "discovery", "static"));
        assertTrue(p.shares().managed());
        assertNull(p.admit(List.of("tenant:a"), new int[] {10}, null), "no share before the cluster grants one");
        p.modified(Map.of("peers", ""));
        assertTrue(p.shares().managed(), "turning it off is the cluster bundle's decision");
        InMemoryResourceLedger r = new InMemoryResourceLedger();
        r.activate(Map.of("discovery", "DNS "));
        assertTrue(r.shares().managed());
        assertFalse(r.tryAcquire("mcp1", 2), "no port share before the cluster grants one");
        for (Map<String, Object> alone : List.<Map<String, Object>>of(Map.of(), Map.of("peers", " ", "discovery", "static"))) {
            InMemoryPolicyLedger q = new InMemoryPolicyLedger();
            q.activate(alone);
            assertFalse(q.shares().managed(), "alone: " + alone);
            assertTrue(q.admit(List.of("tenant:a"), new int[] {10}, null) != null);
        }
    }

    @Test
    void managedAdmissionStaysWithinTheShareAndTheLimit() {
        InMemoryPolicyLedger p = new InMemoryPolicyLedger();
        assertTrue(p.admit(List.of("tenant:a"), new int[] {10}, null) != null);
        p.shares().manage(true);
        assertEquals(1, p.shares().share("tenant:a"), "managing starts each share at its count");
        assertEquals(0, p.shares().share("tenant:b"), "a key seen later starts at 0");
        int[] at = new int[1];
        assertNull(p.admit(List.of("tenant:b", "tenant:a"), new int[] {10, 10}, at));
        assertEquals(0, at[0]);
        p.shares().grant("tenant:b", 1);
        assertNull(p.admit(List.of("tenant:b", "tenant:a"), new int[] {10, 10}, at), "tenant:a has no share left");
        assertEquals(1, at[0]);
        assertEquals(0, p.count("tenant:b"), "the key counted first was undone");
        p.shares().grant("tenant:a", 3);
        assertTrue(p.admit(List.of("tenant:b", "tenant:a"), new int[] {10, 10}, at) != null);
        assertTrue(p.admit(List.of("tenant:x"), new int[] {-1}, at) != null, "a key without a limit needs no share");
        assertEquals(2, p.shares().giveBack("tenant:a", 9), "only the unused part goes back");
        assertEquals(2, p.shares().share("tenant:a"));
        assertEquals(2, p.shares().shareSnapshot().get("tenant:a")[0]);
        assertTrue(p.shares().shareSnapshot().get("tenant:b")[2] >= 1, "refusals for lack of share are counted");
        p.shares().manage(false);
        assertEquals(Shares.UNLIMITED, p.shares().share("tenant:a"));
    }

    @Test
    void aShareTakenBackNeverRacesAnAdmission() throws Exception {
        InMemoryResourceLedger l = new InMemoryResourceLedger();
        l.shares().manage(true);
        l.shares().grant("m", 50);
        AtomicInteger held = new AtomicInteger();
        AtomicInteger worst = new AtomicInteger();
        AtomicInteger taken = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        Thread[] ts = new Thread[3];
        for (int t = 0; t < ts.length; t++) {
            ts[t] = new Thread(() -> {
                while (!stop.get()) {
                    if (l.tryAcquire("m", 1000)) {
                        held.incrementAndGet();
                        Thread.onSpinWait();
                        held.decrementAndGet();
                        l.release("m");
                    }
                }
            });
            ts[t].start();
        }
        Thread giver = new Thread(() -> {
            for (int i = 0; i < 20_000; i++) {
                int g = l.shares().giveBack("m", 1);
                taken.addAndGet(g);
                int allowed = 50 - taken.get();
                worst.accumulateAndGet(l.inUse("m") - Math.max(allowed, l.shares().share("m")), Math::max);
                if (g == 1) {
                    l.shares().grant("m", 1);
                    taken.decrementAndGet();
                }
            }
        });
        giver.start();
        giver.join(30_000);
        stop.set(true);
        for (Thread t : ts) {
            t.join(10_000);
        }
        assertTrue(worst.get() <= 0, "count above share by " + worst.get());
        assertEquals(0, l.inUse("m"));
        assertEquals(50, l.shares().share("m"));
    }
}
