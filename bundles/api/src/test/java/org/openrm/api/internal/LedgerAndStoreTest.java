package org.openrm.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;

class LedgerAndStoreTest {

    @Test
    void capacityIsNeverExceededUnderConcurrency() throws Exception {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        AtomicInteger max = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<?>> fs = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            int seed = t;
            fs.add(pool.submit(() -> {
                Random r = new Random(seed);
                int held = 0;
                for (int i = 0; i < 100_000; i++) {
                    if (held > 0 && r.nextBoolean()) {
                        ledger.release("mcp");
                        held--;
                    } else if (ledger.tryAcquire("mcp", 10)) {
                        held++;
                        max.accumulateAndGet(ledger.inUse("mcp"), Math::max);
                    }
                }
                while (held-- > 0) {
                    ledger.release("mcp");
                }
            }));
        }
        for (Future<?> f : fs) {
            f.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();
        assertTrue(max.get() <= 10, "in use reached " + max.get());
        assertEquals(0, ledger.inUse("mcp"));
    }

    @Test
    void releaseNeverGoesBelowZero() {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        ledger.release("mcp");
        assertEquals(0, ledger.inUse("mcp"));
    }

    @Test
    void concurrentEndsReleaseThePortAndReportExactlyOnce() throws Exception {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        InMemorySessionStore store = new InMemorySessionStore(ledger, new InMemoryPolicyLedger());
        AtomicInteger ended = new AtomicInteger();
        store.addListener((s, reason, code, at) -> ended.incrementAndGet());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        for (int i = 0; i < 2_000; i++) {
            assertTrue(ledger.tryAcquire("mcp", 1_000_000));
            Session s = new Session("id-" + i, "call-" + i, "tag", "from", "to", "123", 0);
            assertTrue(store.open(s, "mcp", "default"));
            List<Future<Boolean>> fs = new ArrayList<>();
            for (int k = 0; k < 4; k++) {
                EndReason r = EndReason.values()[k];
                fs.add(pool.submit(() -> store.end(s, r, 200)));
            }
            int wins = 0;
            for (Future<Boolean> f : fs) {
                wins += f.get() ? 1 : 0;
            }
            assertEquals(1, wins);
        }
        pool.shutdown();
        assertEquals(2_000, ended.get());
        assertEquals(0, ledger.inUse("mcp"));
        assertEquals(0, store.size());
    }

    @Test
    void failoverMovesThePortAndADuplicateCallIdIsRefused() {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        InMemorySessionStore store = new InMemorySessionStore(ledger, new InMemoryPolicyLedger());
        ledger.tryAcquire("a", 5);
        Session s = new Session("id", "call", "tag", "f", "t", "1", 0);
        assertTrue(store.open(s, "a", "g"));
        assertFalse(store.open(new Session("id2", "call", "tag", "f", "t", "1", 0), null, null));
        store.detach(s);
        assertEquals(0, ledger.inUse("a"));
        ledger.tryAcquire("b", 5);
        store.attach(s, "b", "g");
        assertEquals(1, ledger.inUse("b"));
        store.end(s, EndReason.CALLER_BYE, 0);
        assertEquals(0, ledger.inUse("b"));
        // a port handed to a session that ended meanwhile is returned, not leaked
        ledger.tryAcquire("b", 5);
        store.attach(s, "b", "g");
        assertEquals(0, ledger.inUse("b"));
    }

    @Test
    void aFailingListenerDoesNotBreakTheStore() {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        InMemorySessionStore store = new InMemorySessionStore(ledger, new InMemoryPolicyLedger());
        store.addListener(new SessionListener() {
            @Override
            public void ended(Session s, EndReason r, int c, long at) {
                throw new IllegalStateException("broken consumer");
            }
        });
        ledger.tryAcquire("a", 1);
        Session s = new Session("id", "call", "tag", "f", "t", "1", 0);
        store.open(s, "a", "g");
        assertTrue(store.end(s, EndReason.CALLER_BYE, 0));
        assertEquals(0, ledger.inUse("a"));
    }
}
