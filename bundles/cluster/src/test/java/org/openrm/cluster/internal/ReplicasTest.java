package org.openrm.cluster.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.jgroups.JChannel;
import org.jgroups.protocols.DISCARD;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.openrm.api.ClusterSessions;
import org.openrm.api.EndReason;
import org.openrm.api.Selection;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.openrm.api.internal.InMemorySessionStore;

/**
 * Real JGroups members in one JVM, each with its own session store: the sessions a member owns are replicated on
 * the others (answers and ends included); when it crashes, each of its sessions is taken over by exactly one
 * survivor (a request for it, or the coordinator's sweep) and ends there once; a member that restarts gets back
 * the sessions of its previous run that are still live; the replicas stay within their bound.
 */
class ReplicasTest {
    final List<Node> nodes = new ArrayList<>();
    /** Endings as each node's billing would have written them: session id → nodes that ended it. */
    final Map<String, List<String>> endings = new ConcurrentHashMap<>();
    final List<String> takenOverReasons = new CopyOnWriteArrayList<>();
    /** The model's limits (empty: no shares move) and the quorum that creates capacity. */
    volatile Map<String, Integer> limits = Map.of();
    volatile int quorum = 1;

    final class Node {
        final String id;
        final int port;
        final int replicasMax;
        volatile InMemorySessionStore store;
        volatile InMemoryResourceLedger ledger;
        /** Read by the callers of {@link Pressure} at every call: published only once managed. */
        volatile InMemoryPolicyLedger policy;
        Bank bank;
        Replicas replicas;
        DISCARD discard;

        Node(String id, int port, int replicasMax) {
            this.id = id;
            this.port = port;
            this.replicasMax = replicasMax;
        }

        String incarnation;

        void start(List<String> peers, String incarnation) {
            // a member's ledgers are managed from their first moment (the api bundle reads org.openrm.cluster's
            // peers at activation): a restarted node admits nothing before the cluster grants it a share
            InMemoryResourceLedger l = new InMemoryResourceLedger();
            InMemoryPolicyLedger p = new InMemoryPolicyLedger();
            l.activate(Map.of("peers", "127.0.0.1:" + port));
            p.activate(Map.of("peers", "127.0.0.1:" + port));
            ledger = l;
            policy = p;
            store = new InMemorySessionStore(ledger, policy);
            store.addListener(new SessionListener() {
                @Override
                public void ended(Session s, EndReason reason, int code, long at) {
                    endings.computeIfAbsent(s.id(), k -> new CopyOnWriteArrayList<>()).add(id);
                    if (reason == EndReason.TAKEN_OVER) {
                        takenOverReasons.add(s.id());
                    }
                }
            });
            join(peers, incarnation);
        }

        /** The cluster bundle's part: bank and replicas on the node's store and ledgers. */
        void join(List<String> peers, String incarnation) {
            this.incarnation = incarnation;
            bank = new Bank(id, ledger.shares(), policy.shares(), () -> limits, quorum, 50, (m, left, text) -> { }, null);
            // sweeps only when the test calls them (an hour before a session counts as too old)
            replicas = new Replicas(id, incarnation, store, ledger, policy, bank::channel,
                    new Replicas.Settings(20, 5, 10_000, replicasMax, 3600, 3600));
            bank.replicas = replicas;
            store.addListener(replicas);
            replicas.advertise("127.0.0.1", 5060 + port % 1000);
            discard = new DISCARD();
            bank.start(() -> BankTest.channelWith(discard, port, peers), "replicas-test");
        }

        /** An update of the cluster bundle: the node leaves and rejoins, its store and ledgers (the api bundle's) kept. */
        void updateCluster(List<String> peers, long awayMs) throws InterruptedException {
            store.removeListener(replicas);
            replicas.close();
            bank.close();
            Thread.sleep(awayMs);
            join(peers, incarnation);
        }

        /** The node stops answering at once; its sessions are gone with it. */
        void crash() {
            discard.discardAll(true);
            replicas.close();
            bank.close();
        }

        int viewSize() {
            JChannel ch = bank.channel();
            return ch == null || ch.getView() == null ? 0 : ch.getView().size();
        }

        int heldFor(String member) {
            int n = 0;
            for (Map.Entry<String, Integer> e : replicas.held().entrySet()) {
                if (e.getKey().startsWith(member)) {
                    n += e.getValue();
                }
            }
            return n;
        }

        /** A call admitted within this node's share of the tenant limit (no port), in the store; null if refused. */
        Session admit(int i) {
            if (policy.admit(List.of("tenant:acme"), new int[] {LIMIT}, null) == null) {
                return null;
            }
            Session s = new Session(id + "-gvp-" + i, id + "-call-" + i + "@test", "tag" + i, "sip:caller@a",
                    "sip:5551234@b", "5551234", System.currentTimeMillis());
            s.selection(new Selection("welcome", "voicexml", List.of("acme"), List.of(1), List.of(1), List.of("tenant:acme"), null));
            assertTrue(store.open(s, null, "default"));
            return s;
        }

        /** A call admitted here: in the store, as the SIP bundle opens it. */
        Session open(int i) {
            Session s = new Session(id + "-gvp-" + i, id + "-call-" + i + "@test", "tag" + i, "sip:caller@a", "sip:5551234@b",
                    "5551234", System.currentTimeMillis());
            s.selection(new Selection("welcome", "voicexml", List.of("acme", "root"), List.of(3, 7), List.of(1, 1),
                    List.of("tenant:acme"), null));
            ledger.acquireAnyway("mcp1"); // counts as admitted (this test moves no shares)
            policy.admit(List.of("tenant:acme"), new int[] {-1}, null);
            assertTrue(store.open(s, "mcp1", "default"));
            return s;
        }
    }

    @AfterEach
    void stopAll() {
        for (Node n : nodes) {
            try {
                n.replicas.close();
                n.bank.close();
            } catch (RuntimeException e) {
                // stopped already
            }
        }
    }

    List<String> startNodes(int n, int replicasMax) throws IOException {
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = new Node("n" + (i + 1), BankTest.freePort(), replicasMax);
            nodes.add(node);
            peers.add("127.0.0.1:" + node.port);
        }
        for (Node node : nodes) {
            node.start(peers, node.id + "-run1");
        }
        return peers;
    }

    @Test
    void aCrashedMembersSessionsAreTakenOverAndEndedOnceEach() throws Exception {
        startNodes(3, 10_000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        Node c = nodes.get(2);
        BankTest.await("a view of 3", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        List<Session> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(a.open(i));
        }
        for (int i = 0; i < 30; i++) {
            a.store.answered(calls.get(i), 1_000_000L + i);
        }
        for (int i = 40; i < 50; i++) {
            a.store.end(calls.get(i), EndReason.CALLER_BYE, 0);
        }
        BankTest.await("40 replicas of n1 on n2 and n3", 10_000, () -> b.heldFor("n1") == 40 && c.heldFor("n1") == 40);
        long[] sent = a.replicas.counters();
        System.out.printf("replication of 50 sessions (50 starts, 30 answers, 10 ends) to 2 members: %d messages, %d bytes "
                + "(%.0f bytes per session per member)%n", sent[2], sent[3], sent[3] / 2.0 / 50);
        // the peer's SIP address is known, alive
        ClusterSessions.Peer p = b.replicas.peerAt("127.0.0.1", 5060 + a.port % 1000);
        assertNotNull(p);
        assertEquals("n1", p.node());
        assertTrue(p.alive());
        assertNull(b.replicas.takeOver(calls.get(0).callId()), "a live member's session is not taken over");

        a.crash();
        BankTest.await("n2 and n3 see n1 gone", 20_000, () -> b.viewSize() == 2 && c.viewSize() == 2);
        assertTrue(!b.replicas.peerAt("127.0.0.1", 5060 + a.port % 1000).alive());

        // requests for the first 20 reach n2: n2 takes them over, with the record's fields
        for (int i = 0; i < 20; i++) {
            Session s = b.replicas.takeOver(calls.get(i).callId());
            assertNotNull(s, "session " + i + " taken over");
            assertEquals(calls.get(i).id(), s.id());
            assertEquals("tag" + i, s.callerTag());
            assertEquals(1_000_000L + i, s.answeredAt());
            assertEquals("mcp1", s.lastResource());
            assertEquals("mcp1", s.resource(), "a taken-over session holds its port here");
            assertEquals(List.of("acme", "root"), s.selection().tenants());
            assertEquals(List.of("tenant:acme"), s.selection().policyKeys(), "and its policy count");
            assertEquals(List.of(3, 7), s.selection().usage());
            assertEquals(s, b.store.byCallId(s.callId()));
            assertTrue(s.takenOver());
        }
        assertNull(b.replicas.takeOver(calls.get(0).callId()), "taken once");
        assertEquals(20, b.ledger.inUse("mcp1"), "counted on the node that took them over");
        assertEquals(20, b.policy.count("tenant:acme"));
        BankTest.await("n3 learns that n2 owns them", 10_000, () -> c.heldFor("n1") == 20 && c.heldFor("n2") == 20);
        assertNull(c.replicas.takeOver(calls.get(5).callId()), "n3 sees n2, alive, as the owner now");
        for (int i = 0; i < 20; i++) {
            assertTrue(b.store.end(b.store.byCallId(calls.get(i).callId()), EndReason.CALLER_BYE, 0));
        }
        BankTest.await("n3 drops what n2 ended", 10_000, () -> c.heldFor("n2") == 0);
        assertEquals(0, b.ledger.inUse("mcp1"), "released as they ended");
        assertEquals(0, b.policy.count("tenant:acme"));

        // nobody claims the other 20: the coordinator's sweep ends them, the other survivor's does nothing
        long later = System.currentTimeMillis() + 2 * 3600_000L;
        int swept = b.replicas.sweep(later) + c.replicas.sweep(later);
        assertEquals(20, swept);
        BankTest.await("no replica of n1 left", 10_000, () -> b.heldFor("n1") == 0 && c.heldFor("n1") == 0);
        assertEquals(20, takenOverReasons.size());

        // every session of n1 ended exactly once, cluster-wide
        assertEquals(50, endings.size());
        for (Session s : calls) {
            assertEquals(1, endings.get(s.id()).size(), s.id() + " ended by " + endings.get(s.id()));
        }
        assertEquals(0, b.store.size());
        assertEquals(0, c.store.size());
        for (Node n : List.of(b, c)) {
            assertEquals(0, n.ledger.inUse("mcp1"), n.id + " ports");
            assertEquals(0, n.policy.count("tenant:acme"), n.id + " tenant count");
        }
    }

    @Test
    void aRestartedMemberGetsBackTheSessionsOfItsPreviousRunStillLive() throws Exception {
        List<String> peers = startNodes(2, 10_000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        BankTest.await("a view of 2", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        List<Session> calls = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            calls.add(a.open(i));
        }
        BankTest.await("10 replicas on n2", 10_000, () -> b.heldFor("n1") == 10);
        a.crash();
        BankTest.await("n2 alone", 20_000, () -> b.viewSize() == 1);
        // a request for one of them reached n2 meanwhile
        assertNotNull(b.replicas.takeOver(calls.get(0).callId()));

        a.start(peers, "n1-run2");
        BankTest.await("n1 back", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        BankTest.await("n1 has the 9 others back", 10_000, () -> a.store.size() == 9);
        BankTest.await("n2 holds them as n1's again", 10_000, () -> b.heldFor("n1#") == 0 && b.heldFor("n1") == 9);
        assertNull(a.store.byCallId(calls.get(0).callId()), "the one n2 took stays with n2");
        assertEquals(1, b.store.size());
        for (int i = 1; i < 10; i++) {
            assertTrue(a.store.end(a.store.byCallId(calls.get(i).callId()), EndReason.MEDIA_SERVER_BYE, 0));
        }
        assertTrue(b.store.end(b.store.byCallId(calls.get(0).callId()), EndReason.CALLER_BYE, 0));
        BankTest.await("no replicas left", 10_000, () -> b.heldFor("n1") == 0 && a.heldFor("n2") == 0);
        for (Session s : calls) {
            assertEquals(1, endings.get(s.id()).size(), s.id() + " ended by " + endings.get(s.id()));
        }
    }

    static final int LIMIT = 10;

    /**
     * Callers on some nodes pressing on the tenant limit (each node's callers could fill it alone), and the calls
     * live cluster-wide counted at every admission: the old long calls the test holds plus the new ones.
     */
    final class Pressure {
        final java.util.concurrent.atomic.AtomicInteger oldLive;
        final java.util.concurrent.atomic.AtomicInteger newLive = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger max = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger newMax = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        final List<Thread> threads = new ArrayList<>();

        Pressure(int oldCalls) {
            oldLive = new java.util.concurrent.atomic.AtomicInteger(oldCalls);
        }

        void start(List<Node> on) {
            for (Node n : on) {
                for (int t = 0; t < LIMIT; t++) {
                    Thread th = new Thread(() -> {
                        while (!stop.get()) {
                            InMemoryPolicyLedger p = n.policy; // the node's ledgers of the moment (a restart makes new ones)
                            if (p.admit(List.of("tenant:acme"), new int[] {LIMIT}, null) == null) {
                                try {
                                    Thread.sleep(2);
                                } catch (InterruptedException e) {
                                    return;
                                }
                                continue;
                            }
                            int live = newLive.incrementAndGet();
                            newMax.accumulateAndGet(live, Math::max);
                            max.accumulateAndGet(live + oldLive.get(), Math::max);
                            try {
                                Thread.sleep(java.util.concurrent.ThreadLocalRandom.current().nextInt(2, 12));
                            } catch (InterruptedException e) {
                                return;
                            } finally {
                                newLive.decrementAndGet();
                                p.release(List.of("tenant:acme"));
                            }
                        }
                    }, "caller-" + n.id + "-" + t);
                    th.start();
                    threads.add(th);
                }
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(5000);
            }
        }

        void assertNeverOver() {
            assertTrue(max.get() <= LIMIT, "calls live cluster-wide passed the limit: " + max.get());
        }

        /** New calls reach the whole limit again (the old ones have ended), within 30 s. */
        void awaitWholeLimitServes() throws InterruptedException {
            newMax.set(0);
            try {
                BankTest.await("the whole limit serves new calls again", 30_000, () -> newMax.get() >= LIMIT - 1);
            } catch (AssertionError e) {
                StringBuilder why = new StringBuilder(e.getMessage() + " (at most " + newMax.get() + ")");
                for (Node n : nodes) {
                    why.append("; ").append(n.id).append(' ').append(n.bank.status()).append(' ')
                            .append(java.util.Arrays.toString(n.policy.shares().shareSnapshot().get("tenant:acme")))
                            .append(" replicas ").append(n.replicas.held());
                }
                throw new AssertionError(why.toString());
            }
        }
    }

    /**
     * A member the operator confirms dead ({@code rm:cluster-forget}): its share, frozen while it is away, shrinks to
     * the calls of its sessions still live and returns to the cluster as they end (taken over and ended, or swept),
     * never above the limit meanwhile.
     */
    @Test
    void aForgottenMembersShareReturnsAsItsCallsEnd() throws Exception {
        limits = Map.of("tenant:acme", LIMIT);
        quorum = 2;
        startNodes(3, 10_000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        Node c = nodes.get(2);
        BankTest.await("a view of 3", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        List<Session> old = new ArrayList<>();
        for (int i = 0; old.size() < 6 && i < 2000; i++) {
            Session s = a.admit(i);
            if (s != null) {
                old.add(s);
            } else {
                Thread.sleep(10);
            }
        }
        assertEquals(6, old.size(), "n1 admitted its 6 calls");
        BankTest.await("replicas of the 6 on n2 and n3", 10_000, () -> b.heldFor("n1") == 6 && c.heldFor("n1") == 6);
        Pressure load = new Pressure(6);
        load.start(List.of(b, c));
        try {
            Thread.sleep(1000);
            a.crash();
            BankTest.await("n2 and n3 see n1 gone", 20_000, () -> b.viewSize() == 2 && c.viewSize() == 2);
            Thread.sleep(2000);
            assertTrue(b.bank.forget("n2").contains("is in the view"), "a member in the view is not forgotten");
            String said = b.bank.forget("n1");
            assertTrue(said.startsWith("n1 forgotten"), said);
            // two of its calls taken over and ended on n2, the other four ended by the coordinator's sweep
            for (int i = 0; i < 2; i++) {
                Session s = b.replicas.takeOver(old.get(i).callId());
                assertNotNull(s);
                load.oldLive.decrementAndGet();
                assertTrue(b.store.end(s, EndReason.CALLER_BYE, 0));
            }
            Thread.sleep(1000);
            load.assertNeverOver();
            long later = System.currentTimeMillis() + 2 * 3600_000L;
            load.oldLive.addAndGet(-4);
            assertEquals(4, b.replicas.sweep(later) + c.replicas.sweep(later));
            load.awaitWholeLimitServes();
        } finally {
            load.stop();
        }
        load.assertNeverOver();
        for (Session s : old) {
            assertEquals(1, endings.get(s.id()).size(), s.id() + " ended by " + endings.get(s.id()));
        }
    }

    /**
     * Calls of a node that crashed are counted in some share all along: in the departed node's frozen share, then on
     * the node that took them over (above its share), and, for those the restarted node takes back, in its count —
     * the bank reconciles it at no less than the replicas show. Meanwhile callers on both nodes press on the limit:
     * the calls live cluster-wide, old and new, never pass it; once the old calls end their units serve again.
     */
    @Test
    void takenOverCallsStayCountedUntilTheyEnd() throws Exception {
        limits = Map.of("tenant:acme", LIMIT);
        quorum = 2;
        List<String> peers = startNodes(2, 10_000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        BankTest.await("a view of 2", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        // 8 long calls on n1 (the shares follow its load)
        List<Session> old = new ArrayList<>();
        for (int i = 0; old.size() < 8 && i < 2000; i++) {
            Session s = a.admit(i);
            if (s != null) {
                old.add(s);
            } else {
                Thread.sleep(10);
            }
        }
        assertEquals(8, old.size(), "n1 admitted its 8 calls");
        Pressure load = new Pressure(8);
        load.start(List.of(a, b));
        try {
            BankTest.await("replicas of the 8 on n2", 10_000, () -> b.heldFor("n1") == 8);
            Thread.sleep(500);
            a.crash();
            InMemoryPolicyLedger down = new InMemoryPolicyLedger(); // its callers find nothing to admit with while it is down
            down.shares().manage(true);
            a.policy = down;
            BankTest.await("n2 alone", 20_000, () -> b.viewSize() == 1);
            for (int i = 0; i < 3; i++) {
                assertNotNull(b.replicas.takeOver(old.get(i).callId()), "n2 takes call " + i + " over");
            }
            Thread.sleep(1000);
            a.start(peers, "n1-run2");
            BankTest.await("n1 back", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
            BankTest.await("n1 has its 5 calls back", 10_000, () -> a.store.size() == 5);
            assertTrue(a.policy.count("tenant:acme") >= 5, "n1 counts the calls it took back: " + a.policy.count("tenant:acme"));
            Thread.sleep(3000); // rounds and the reconciliation of the rejoin, under load
            load.assertNeverOver();
            // the old calls end where they are now; their units serve new calls again
            for (int i = 0; i < 8; i++) {
                Node holder = i < 3 ? b : a;
                load.oldLive.decrementAndGet(); // the call is over (its BYE), then its counts are released
                assertTrue(holder.store.end(holder.store.byCallId(old.get(i).callId()), EndReason.CALLER_BYE, 0));
            }
            load.awaitWholeLimitServes();
        } finally {
            load.stop();
        }
        load.assertNeverOver();
        assertEquals(0, a.policy.count("tenant:acme") + b.policy.count("tenant:acme"), "counts back to 0");
        for (Session s : old) {
            assertEquals(1, endings.get(s.id()).size(), s.id() + " ended by " + endings.get(s.id()));
        }
    }

    /**
     * An update of the cluster bundle: the node leaves and rejoins with its sessions (same run). A request for one
     * of them reached the other node meanwhile, which took it over: the node gives its copy up (its counts freed),
     * keeps the rest, and the other node holds the rest as the node's replicas again.
     */
    @Test
    void aSessionTakenOverWhileItsNodeWasUpdatingEndsThere() throws Exception {
        List<String> peers = startNodes(2, 10_000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        BankTest.await("a view of 2", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        List<Session> calls = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            calls.add(a.open(i));
        }
        BankTest.await("6 replicas on n2", 10_000, () -> b.heldFor("n1") == 6);
        Thread t = new Thread(() -> {
            try {
                a.updateCluster(peers, 3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        t.start();
        BankTest.await("n2 alone while n1's cluster bundle is away", 20_000, () -> b.viewSize() == 1);
        assertNotNull(b.replicas.takeOver(calls.get(0).callId()));
        t.join(20_000);
        BankTest.await("n1 back", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        BankTest.await("n1 gave up its copy of the session n2 took", 10_000, () -> a.store.size() == 5);
        assertEquals(5, a.ledger.inUse("mcp1"), "its port freed on n1");
        assertEquals(1, b.ledger.inUse("mcp1"), "and counted on n2");
        BankTest.await("n2 holds n1's 5 again", 10_000, () -> b.heldFor("n1") == 5);
        assertEquals(1, a.replicas.counters()[4]);
        assertNotNull(b.store.byCallId(calls.get(0).callId()));
    }

    @Test
    void replicasStayWithinTheirBoundAndANewcomerGetsASnapshot() throws Exception {
        List<String> peers = new ArrayList<>();
        Node a = new Node("n1", BankTest.freePort(), 10_000);
        Node b = new Node("n2", BankTest.freePort(), 5);
        nodes.add(a);
        nodes.add(b);
        peers.add("127.0.0.1:" + a.port);
        peers.add("127.0.0.1:" + b.port);
        a.start(peers, "n1-run1");
        BankTest.await("n1 alone", 20_000, () -> a.viewSize() == 1);
        for (int i = 0; i < 12; i++) {
            a.open(i); // before n2 exists: n2 learns them from n1's snapshot
        }
        b.start(peers, "n2-run1");
        BankTest.await("a view of 2", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        BankTest.await("n2 holds its bound", 10_000, () -> b.heldFor("n1") == 5);
        assertTrue(b.replicas.counters()[1] >= 7, "the replicas beyond the bound are counted: " + b.replicas.counters()[1]);
        Thread.sleep(300); // nothing more arrives
        assertEquals(5, b.heldFor("n1"));
    }
}
