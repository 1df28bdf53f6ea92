package org.openrm.cluster.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.jgroups.Address;
import org.jgroups.JChannel;
import org.jgroups.protocols.DISCARD;
import org.jgroups.protocols.TCP;
import org.jgroups.stack.ProtocolStack;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;

/**
 * Real JGroups members (TCP on loopback ports) in one JVM, each with its own ledgers, admitting calls from several
 * threads while shares move: the cluster-wide count of every limit, taken at each admission, never passes it —
 * with all members up, while a partition splits them, after the merge, and across a member's crash and return.
 */
class BankTest {
    static final int TENANT_LIMIT = 12;
    static final int PORTS = 20;
    static final List<String> KEYS = List.of("tenant:acme");
    /** A tenant without a limit: its calls need no share, so the port capacity binds for them. */
    static final List<String> FREE = List.of("tenant:free");

    final List<Node> nodes = new ArrayList<>();
    final AtomicBoolean stop = new AtomicBoolean();
    final List<Thread> load = new ArrayList<>();
    /** Calls held cluster-wide right now, per limit, and the most ever seen. */
    final AtomicInteger tenantLive = new AtomicInteger();
    final AtomicInteger portLive = new AtomicInteger();
    final AtomicInteger tenantMax = new AtomicInteger();
    final AtomicInteger portMax = new AtomicInteger();
    final AtomicInteger admitted = new AtomicInteger();
    /** The model every node routes by (as the config server gives it to all). */
    final Map<String, Integer> limits = new java.util.concurrent.ConcurrentHashMap<>(
            Map.of("tenant:acme", TENANT_LIMIT, Bank.RESOURCE + "mcp", PORTS));
    /** The tenant limit the callers are held to (the ledger's own check), as routing passes it. */
    volatile int tenantLimit = TENANT_LIMIT;
    /** Membership events as each node heard them. */
    final List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();

    final class Node {
        final String id;
        final int port;
        InMemoryResourceLedger ledger = new InMemoryResourceLedger();
        InMemoryPolicyLedger policy = new InMemoryPolicyLedger();
        Bank bank;
        DISCARD discard;
        java.nio.file.Path store;

        Node(String id, int port) {
            this.id = id;
            this.port = port;
        }

        void start(List<String> peers) {
            ledger.shares().manage(true);
            policy.shares().manage(true);
            bank = new Bank(id, ledger.shares(), policy.shares(), () -> limits, 2, 50,
                    (member, left, text) -> events.add(id + ": " + member + (left ? " left" : " joined")), store);
            discard = new DISCARD();
            bank.start(() -> channelWith(discard, port, peers), "bank-test");
        }

        /** A crash: the node stops answering at once and its state is gone. */
        void crash() {
            discard.discardAll(true);
            bank.close();
            // the node as it boots again: its ledgers are managed before SIP takes a call (the cluster bundle starts
            // at a lower start level than SIP), so until it has a share it admits nothing
            InMemoryResourceLedger l = new InMemoryResourceLedger();
            InMemoryPolicyLedger p = new InMemoryPolicyLedger();
            l.shares().manage(true);
            p.shares().manage(true);
            ledger = l;
            policy = p;
        }

        int viewSize() {
            JChannel ch = bank.channel();
            return ch == null || ch.getView() == null ? 0 : ch.getView().size();
        }

        Address address() {
            return bank.channel().getAddress();
        }

        /** One call: both limits or neither, held a few ms. */
        void call() throws InterruptedException {
            InMemoryResourceLedger l = ledger;
            InMemoryPolicyLedger p = policy;
            boolean acme = ThreadLocalRandom.current().nextBoolean();
            List<String> keys = acme ? KEYS : FREE;
            if (p.admit(keys, new int[] {acme ? tenantLimit : -1}, null) == null) {
                Thread.sleep(1);
                return;
            }
            if (!l.tryAcquire("mcp", PORTS)) {
                p.release(keys);
                Thread.sleep(1);
                return;
            }
            if (acme) {
                tenantMax.accumulateAndGet(tenantLive.incrementAndGet(), Math::max);
            }
            portMax.accumulateAndGet(portLive.incrementAndGet(), Math::max);
            admitted.incrementAndGet();
            Thread.sleep(ThreadLocalRandom.current().nextInt(2, 15));
            portLive.decrementAndGet();
            if (acme) {
                tenantLive.decrementAndGet();
            }
            l.release("mcp");
            p.release(keys);
        }
    }

    /** The cluster's JGroups stack on loopback {@code port}, with {@code discard} above TCP (to cut a member off). */
    static JChannel channelWith(DISCARD discard, int port, List<String> peers) {
        JChannel ch = Stack.channel(Stack.xml("127.0.0.1", port, peers, null, 1500));
        try {
            ch.getProtocolStack().insertProtocol(discard, ProtocolStack.Position.ABOVE, TCP.class);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return ch;
    }

    static int freePort() throws IOException {
        for (int i = 0; i < 50; i++) {
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                int p = s.getLocalPort();
                if (p + 100 > 65535) {
                    continue;
                }
                try (ServerSocket fd = new ServerSocket(p + 100, 1, InetAddress.getLoopbackAddress())) {
                    return p; // FD_SOCK2 listens on port + 100
                } catch (IOException taken) {
                    // next
                }
            }
        }
        throw new IOException("no free port pair");
    }

    /** {@code n} members, each keeping its table in a file of a new temporary folder, started. */
    List<String> startNodesWithStores(int n) throws IOException {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("openrm-bank");
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = new Node("n" + (i + 1), freePort());
            node.store = dir.resolve(node.id + ".bin");
            nodes.add(node);
            peers.add("127.0.0.1:" + node.port);
        }
        for (Node node : nodes) {
            node.start(peers);
        }
        return peers;
    }

    List<String> startNodes(int n) throws IOException {
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = new Node("n" + (i + 1), freePort());
            nodes.add(node);
            peers.add("127.0.0.1:" + node.port);
        }
        for (Node node : nodes) {
            node.start(peers);
        }
        return peers;
    }

    void startLoad(int threadsPerNode) {
        for (Node n : nodes) {
            for (int t = 0; t < threadsPerNode; t++) {
                Thread th = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            n.call();
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "load-" + n.id + "-" + t);
                th.start();
                load.add(th);
            }
        }
    }

    void stopLoad() throws InterruptedException {
        stop.set(true);
        for (Thread t : load) {
            t.join(10_000);
        }
        load.clear();
        stop.set(false);
    }

    static void await(String what, long ms, BooleanSupplier cond) throws InterruptedException {
        long end = System.currentTimeMillis() + ms;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > end) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    int shareSum(String key) {
        int sum = 0;
        for (Node n : nodes) {
            sum += key.startsWith(Bank.RESOURCE) ? n.ledger.shares().share(key.substring(Bank.RESOURCE.length()))
                    : n.policy.shares().share(key);
        }
        return sum;
    }

    void assertNeverOver() {
        assertTrue(tenantMax.get() <= TENANT_LIMIT, "tenant limit exceeded cluster-wide: " + tenantMax.get());
        assertTrue(portMax.get() <= PORTS, "port capacity exceeded cluster-wide: " + portMax.get());
    }

    void awaitAllShares() throws InterruptedException {
        await("every unit of every limit held by a member", 15_000,
                () -> shareSum("tenant:acme") == TENANT_LIMIT && shareSum(Bank.RESOURCE + "mcp") == PORTS);
    }

    @AfterEach
    void close() throws InterruptedException {
        stopLoad();
        for (Node n : nodes) {
            if (n.bank != null) {
                n.bank.close();
            }
        }
    }

    @Test
    void threeNodesUnderContentionNeverAdmitMoreThanALimit() throws Exception {
        startNodes(3);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        awaitAllShares();
        long[][] before = new long[nodes.size()][];
        for (int i = 0; i < nodes.size(); i++) {
            before[i] = nodes.get(i).bank.traffic();
        }
        long t0 = System.nanoTime();
        startLoad(16); // 48 callers for 20 ports, half of them for a tenant of 12: always more demand than capacity
        Thread.sleep(4000);
        stopLoad();
        double s = (System.nanoTime() - t0) / 1e9;
        for (int i = 0; i < nodes.size(); i++) {
            long[] t = nodes.get(i).bank.traffic();
            System.out.printf("traffic %s: %.0f messages/s, %.0f bytes/s sent, %.0f units moved/s (%s)%n", nodes.get(i).id,
                    (t[0] - before[i][0]) / s, (t[1] - before[i][1]) / s, (t[2] - before[i][2]) / s,
                    nodes.get(i).bank.status().coordinator().equals(nodes.get(i).id) ? "coordinator" : "member");
        }
        assertNeverOver();
        assertTrue(portMax.get() >= PORTS * 3 / 4, "shares did not follow demand: at most " + portMax.get() + " ports used");
        assertTrue(tenantMax.get() >= TENANT_LIMIT * 3 / 4, "shares did not follow demand: at most " + tenantMax.get() + " tenant calls");
        System.out.printf("3 nodes: %d calls admitted, at most %d ports and %d tenant calls at once%n",
                admitted.get(), portMax.get(), tenantMax.get());
        for (Node n : nodes) {
            assertEquals(0, n.ledger.inUse("mcp"));
            assertEquals(0, n.policy.count("tenant:acme"));
        }
        awaitAllShares();
    }

    @Test
    void aPartitionKeepsEachSideWithinItsSharesAndTheMergeReconciles() throws Exception {
        startNodes(3);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        awaitAllShares();
        startLoad(16);
        Thread.sleep(1000);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        Node c = nodes.get(2);
        a.discard.addIgnoredMembers(b.address(), c.address());
        b.discard.addIgnoredMembers(a.address());
        c.discard.addIgnoredMembers(a.address());
        await("the split", 20_000, () -> a.viewSize() == 1 && b.viewSize() == 2 && c.viewSize() == 2);
        Thread.sleep(2000); // both sides serve, each within what it holds
        assertNeverOver();
        a.discard.resetIgnoredMembers();
        b.discard.resetIgnoredMembers();
        c.discard.resetIgnoredMembers();
        await("the merge", 30_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        Thread.sleep(2000);
        stopLoad();
        assertNeverOver();
        for (Node n : nodes) {
            assertEquals(0, n.ledger.inUse("mcp"));
            assertEquals(0, n.policy.count("tenant:acme"));
        }
        awaitAllShares();
        System.out.printf("partition: %d calls admitted, at most %d ports and %d tenant calls at once%n",
                admitted.get(), portMax.get(), tenantMax.get());
    }

    @Test
    void aRestartedMajorityNeverCreatesTheCapacityACutOffMemberHolds() throws Exception {
        List<String> peers = startNodesWithStores(3);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        awaitAllShares();
        startLoad(16);
        Thread.sleep(1000);
        Node a = nodes.get(0);
        a.discard.discardAll(true); // cut off: it keeps serving within its shares
        await("the split", 20_000, () -> a.viewSize() == 1 && nodes.get(1).viewSize() == 2);
        // the other two restart with empty ledgers: only their copies of the table say what n1 holds
        for (Node n : List.of(nodes.get(1), nodes.get(2))) {
            n.crash();
        }
        for (Node n : List.of(nodes.get(1), nodes.get(2))) {
            n.start(peers);
        }
        await("the restarted pair", 20_000, () -> nodes.get(1).viewSize() == 2 && nodes.get(2).viewSize() == 2);
        Thread.sleep(3000);
        assertNeverOver();
        a.discard.discardAll(false);
        await("the merge", 30_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        Thread.sleep(1000);
        stopLoad();
        assertNeverOver();
        awaitAllShares();
        System.out.printf("restart: %d calls admitted, at most %d ports and %d tenant calls at once%n",
                admitted.get(), portMax.get(), tenantMax.get());
    }

    @Test
    void aLoweredLimitIsRetiredFromTheSharesAndARaisedOneCreated() throws Exception {
        startNodes(3);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        awaitAllShares();
        startLoad(16);
        Thread.sleep(1000);
        // lowered to 5 everywhere; each node's own check stays at 12, so only the cluster's shares can hold it at 5
        limits.put("tenant:acme", 5);
        await("the shares down to the new limit", 15_000, () -> shareSum("tenant:acme") <= 5);
        Thread.sleep(500);
        tenantMax.set(tenantLive.get());
        Thread.sleep(2000);
        assertTrue(tenantMax.get() <= 5, "calls above the lowered limit: " + tenantMax.get());
        assertTrue(tenantMax.get() >= 4, "the lowered limit left unused: " + tenantMax.get());
        limits.put("tenant:acme", TENANT_LIMIT);
        await("the raised limit shared out", 15_000, () -> shareSum("tenant:acme") == TENANT_LIMIT);
        tenantMax.set(0);
        Thread.sleep(2000);
        stopLoad();
        assertNeverOver();
        assertTrue(tenantMax.get() >= TENANT_LIMIT * 3 / 4, "the raised limit left unused: " + tenantMax.get());
    }

    @Test
    void aCrashedMembersSharesAreHeldUntilItComesBack() throws Exception {
        List<String> peers = startNodes(3);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        awaitAllShares();
        startLoad(4);
        Thread.sleep(1000);
        Node dead = nodes.get(1);
        dead.crash();
        await("a view of two", 20_000, () -> nodes.get(0).viewSize() == 2 && nodes.get(2).viewSize() == 2);
        await("the leave told to the survivors", 5_000, () -> events.contains("n1: n2 left") && events.contains("n3: n2 left"));
        Thread.sleep(1500); // the survivors serve within their own shares
        assertNeverOver();
        int heldBySurvivors = shareSum("tenant:acme"); // the crashed node's ledger is empty now
        assertTrue(heldBySurvivors < TENANT_LIMIT, "the crashed node's share was handed out: " + heldBySurvivors);
        dead.start(peers); // the same node id, fresh state: it reports holding nothing, the survivors take it back
        await("a view of three again", 30_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        await("the return told to the survivors", 5_000, () -> events.contains("n1: n2 joined") && events.contains("n3: n2 joined"));
        Thread.sleep(1000);
        stopLoad();
        assertNeverOver();
        awaitAllShares();
    }
    /**
     * {@code rm:cluster-forget} is kept in the table's file and repeated to every new view: a node restarted after
     * the operator confirmed a member dead, and a node that joins knowing nothing, both count that member at its
     * live calls, not at its whole share again; the member's return undoes it, across a restart too.
     */
    @Test
    void aForgottenMemberStaysForgottenAcrossRestartsAndNewcomers() throws Exception {
        List<String> peers = startNodesWithStores(3);
        Node a = nodes.get(0);
        Node b = nodes.get(1);
        Node c = nodes.get(2);
        await("a view of three", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        await("n3 holds a share in n1's table", 20_000, () -> a.bank.status().table().getOrDefault("n3", Map.of())
                .values().stream().anyMatch(v -> v > 0));
        c.crash();
        await("n1 and n2 without n3", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        String said = a.bank.forget("n3");
        assertTrue(said.startsWith("n3 forgotten"), said);
        assertEquals(List.of("n3"), a.bank.forgotten());
        await("n2 heard it", 15_000, () -> b.bank.forgotten().equals(List.of("n3")));
        // n2 comes back with no file at all: it learns it from the coordinator
        b.crash();
        java.nio.file.Files.deleteIfExists(b.store);
        b.start(peers);
        await("n2 back", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        await("the newcomer told", 15_000, () -> b.bank.forgotten().equals(List.of("n3")));
        // n1 restarts alone: only its file can tell it
        b.crash();
        a.crash();
        a.start(peers);
        await("n1 restarted alone", 20_000, () -> a.viewSize() == 1 && a.bank.status().viewId() >= 0);
        assertEquals(List.of("n3"), a.bank.forgotten(), "read back from " + a.store);
        b.start(peers);
        await("n2 back", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        c.start(peers);
        await("n3 back", 20_000, () -> nodes.stream().allMatch(n -> n.viewSize() == 3));
        await("n3 no longer forgotten", 5_000, () -> a.bank.forgotten().isEmpty() && b.bank.forgotten().isEmpty());
        c.crash();
        await("n3 gone again", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2);
        a.crash();
        a.start(peers);
        await("n1 restarted", 20_000, () -> a.viewSize() == 2 && b.viewSize() == 2 && a.bank.status().viewId() >= 0);
        Thread.sleep(500); // a FORGET repeated by the coordinator, had the return not been kept, would arrive by now
        assertEquals(List.of(), a.bank.forgotten(), "the return was kept too: n3 counts at its whole share again");
        assertEquals(List.of(), b.bank.forgotten());
    }
}
