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

    /** The warm-up's scratch store: its own ledgers, copies of the listeners (also of those that come later), closed once. */
    @Test
    void scratchStoreKeepsTheNodesBooksUntouched() {
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        InMemoryPolicyLedger policy = new InMemoryPolicyLedger();
        InMemorySessionStore store = new InMemorySessionStore(ledger, policy);
        List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        AtomicInteger closed = new AtomicInteger();
        class Copying implements SessionListener {
            final String name;

            Copying(String name) {
                this.name = name;
            }

            @Override
            public void ended(Session s, EndReason reason, int code, long at) {
                heard.add(name + ":" + s.callId());
            }

            @Override
            public SessionListener scratch() {
                class Copy implements SessionListener, AutoCloseable {
                    @Override
                    public void ended(Session s, EndReason reason, int code, long at) {
                        heard.add(name + "-scratch:" + s.callId());
                    }

                    @Override
                    public void close() {
                        closed.incrementAndGet();
                    }
                }
                return new Copy();
            }
        }
        store.addListener(new Copying("early"));
        org.openrm.api.SessionStore.Scratch sc = store.scratch();
        store.addListener(new Copying("late")); // registers while the warm-up runs
        Session s = new Session("id-1", "warm-1", "tag", "sip:a@x", "sip:b@y", "warm", 0);
        s.selection(new org.openrm.api.Selection("warm-up", "voicexml", List.of("warm-up"), List.of(1), List.of(0),
                List.of("profile:warm-up", "tenant:warm-up"), null));
        assertTrue(sc.ledger().tryAcquire("warm-up", 10));
        sc.policy().admit(List.of("profile:warm-up", "tenant:warm-up"), new int[] {-1, -1}, new int[1]);
        assertTrue(sc.store().open(s, "warm-up", "warm-up"));
        assertTrue(store.byCallId("warm-1") == null && store.size() == 0, "not in the node's store");
        assertTrue(sc.store().end(s, EndReason.CALLER_BYE, 200));
        assertEquals(List.of("early-scratch:warm-1", "late-scratch:warm-1"), heard, "only the copies heard it");
        assertEquals(0, sc.ledger().inUse("warm-up"));
        assertTrue(sc.policy().snapshot().isEmpty(), sc.policy().snapshot().toString());
        assertTrue(ledger.snapshot().isEmpty() && policy.snapshot().isEmpty(), "the node's ledgers untouched");
        sc.close();
        assertEquals(2, closed.get());
        Session real = new Session("id-2", "real-1", "tag", "sip:a@x", "sip:b@y", "1", 0);
        assertTrue(store.open(real, null, null));
        store.end(real, EndReason.CALLER_BYE, 200);
        assertEquals(List.of("early-scratch:warm-1", "late-scratch:warm-1", "early:real-1", "late:real-1"), heard);
    }
}
