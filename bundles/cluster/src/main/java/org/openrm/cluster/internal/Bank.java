package org.openrm.cluster.internal;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.jgroups.Address;
import org.jgroups.BytesMessage;
import org.jgroups.JChannel;
import org.jgroups.Message;
import org.jgroups.Receiver;
import org.jgroups.View;
import org.jgroups.util.NameCache;
import org.openrm.api.Shares;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shares of every limit, moved between the members of a JGroups view so that their sum never exceeds the limit.
 *
 * <p>Capacity behaves like money. It is created once per key (the limit) by the coordinator of a view holding a
 * quorum of the configured members; after that it only moves, always debit first: a node takes a share off its own
 * count word before it leaves, and a node's share grows only after every member of the view has acknowledged
 * (JGroups RSVP) the table entry that shows the growth. A share lost in flight (a member left, a message of an
 * older view or epoch arrived late) is never applied; a reconciliation finds it: the coordinator of each new view
 * (or after a failed send) asks every member for its actual shares and its copy of the table, counts members that
 * are gone at the highest share any copy shows for them, and takes back only what nobody can hold. So a member that
 * is gone (crashed or on the other side of a partition) keeps its whole share in everyone's books until it comes
 * back and reports what it really holds; the survivors serve within their own shares meanwhile.
 *
 * <p>All protocol state is touched on one thread. No call waits for any of it: admission reads the share in the
 * ledger's count word.
 */
public final class Bank implements Receiver, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Bank.class);
    /** Cluster keys of resources: {@code resource:<name>}; other keys are policy keys as the ledger names them. */
    static final String RESOURCE = "resource:";
    /**
     * The table's row of units retired by lowered limits: held by nobody, counted as held by everyone (like a member
     * that never comes back), so the amount created can only grow and copies still merge by maximum.
     */
    static final String RETIRED = "~retired";
    /** REPORT messages waiting on the protocol thread beyond which new ones are dropped (the sender repeats them). */
    static final int MAX_QUEUED_REPORTS = 10_000;

    private final String nodeId;
    private final Shares resources;
    private final Shares policy;
    private final Supplier<Map<String, Integer>> limits;
    private final int quorum;
    private final long roundMs;
    private final ScheduledThreadPoolExecutor loop;
    private final AtomicInteger queuedReports = new AtomicInteger();
    private final AtomicLong droppedReports = new AtomicLong();
    /** Messages and bytes this node sent (a multicast counts once per member it goes to, as TCP sends it). */
    private final AtomicLong sentMessages = new AtomicLong();
    private final AtomicLong sentBytes = new AtomicLong();
    /** Units of capacity moved between nodes (granted to a member or given back to the coordinator). */
    private final AtomicLong moved = new AtomicLong();

    private volatile JChannel channel;
    /** The session replicas that share this channel, or null. */
    volatile Replicas replicas;
    private View view;
    private long viewId = -1;
    private Address coord;
    private boolean coordinator;
    /** Member: the epoch accepted (-1 until the coordinator's first state request). Coordinator: its current one. */
    private int epoch = -1;
    private int nextEpoch = 1;
    /** Member: the table of this epoch arrived. Coordinator: this epoch's reconciliation is done. */
    private boolean ready;
    private long reconcileSentAt;
    /** The table: member → key → share (an upper bound of what that member holds). */
    private Map<String, Map<String, Integer>> table = new HashMap<>();
    /** Capacity created per key. */
    private Map<String, Integer> created = new HashMap<>();
    // coordinator only
    private final Map<String, Wire> states = new HashMap<>();
    private final Map<String, Map<String, int[]>> reports = new HashMap<>();
    /** Yields received, credited to the coordinator after the next table is acknowledged. */
    private final Map<String, Integer> yieldedToCredit = new HashMap<>();
    private final Map<String, Map<String, Integer>> tableDelta = new HashMap<>();
    /** Coordinator: per member, the last yield (by its sequence) whose credit the next table carries. */
    private final Map<String, Integer> yieldAcks = new HashMap<>();
    // member only
    private Map<String, int[]> lastSent = Map.of();
    /**
     * Yields sent and not yet seen credited (by a table acknowledging their sequence): seq → {coordinator, key →
     * amount}. While the coordinator they went to is gone, this member's state counts them as held by it, so the
     * side this member is on never takes back what the coordinator's side may have credited.
     */
    private final Map<Integer, Object[]> pendingYields = new LinkedHashMap<>();
    private int yieldSeq;
    private int round;
    /**
     * Departed members the operator confirmed dead ({@code rm:cluster-forget}): each is counted at the calls of its
     * sessions still live (the replicas show them) instead of its whole share, so its share returns as its calls end.
     */
    private final Set<String> forgotten = new HashSet<>();
    private volatile Status status = Status.starting();
    /** The departed members forgotten, as {@code rm:cluster} shows them; rebuilt with the status. */
    private volatile List<String> forgottenView = List.of();

    /** What {@code rm:cluster} and readiness show; rebuilt on the protocol thread. */
    public record Status(String state, long viewId, String coordinator, List<String> members, List<String> departed,
                  Map<String, Integer> created, Map<String, Map<String, Integer>> table, Map<String, int[]> own,
                  long droppedReports, long viewChanges) {
        static Status starting() {
            return new Status("joining", -1, null, List.of(), List.of(), Map.of(), Map.of(), Map.of(), 0, 0);
        }
    }

    /** Told of each member that joined (false) or left (true) a view this node was in, with a line for the operator. */
    interface Membership {
        void changed(String member, boolean left, String text);
    }

    private final Membership membership;
    private long viewChanges;
    /** Where the table and the amounts created are kept across restarts (null: nowhere). */
    private final java.nio.file.Path store;
    private boolean dirty;
    private long writtenAt;

    Bank(String nodeId, Shares resources, Shares policy, Supplier<Map<String, Integer>> limits, int quorum, long roundMs,
         Membership membership) {
        this(nodeId, resources, policy, limits, quorum, roundMs, membership, null);
    }

    /**
     * @param store file keeping this node's copy of the table: a node restarted (a whole cluster restarted) still
     *              counts what members it cannot see hold, so a restarted majority never creates capacity again
     */
    Bank(String nodeId, Shares resources, Shares policy, Supplier<Map<String, Integer>> limits, int quorum, long roundMs,
         Membership membership, java.nio.file.Path store) {
        this.store = store;
        load();
        this.membership = membership == null ? (m, l, t) -> { } : membership;
        this.nodeId = nodeId;
        this.resources = resources;
        this.policy = policy;
        this.limits = limits;
        this.quorum = Math.max(1, quorum);
        this.roundMs = Math.max(10, roundMs);
        this.loop = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-cluster");
            t.setDaemon(true);
            return t;
        });
        loop.setRemoveOnCancelPolicy(true);
    }

    /** Connects on the protocol thread (never blocks the caller) and starts the rounds. */
    void start(Supplier<JChannel> channelFactory, String clusterName) {
        loop.execute(() -> {
            try {
                JChannel ch = channelFactory.get();
                ch.setReceiver(this);
                ch.name(nodeId);
                channel = ch;
                ch.connect(clusterName);
                LOG.info("Cluster {}: node {} joined at {}", clusterName, nodeId, ch.getAddress());
            } catch (Exception | LinkageError e) {
                LOG.error("Cluster {}: node {} could not join (it keeps serving within the shares it holds)",
                        clusterName, nodeId, e);
            }
        });
        loop.scheduleWithFixedDelay(this::safeRound, roundMs, roundMs, TimeUnit.MILLISECONDS);
    }

    JChannel channel() {
        return channel;
    }

    /** The calls of a member's sessions still live, per key, as this node's replicas show them. */
    private Map<String, Integer> liveCalls(String member) {
        Replicas r = replicas;
        return r == null ? Map.of() : r.heldFor(member);
    }

    /**
     * The operator confirms a departed member dead (never to come back with its calls): from now its share in every
     * member's books is the calls of its sessions still live, shrinking as they end. Wrong if the member is alive
     * on the other side of a partition: then both sides may admit into the same units.
     *
     * @return what happened, for the console
     */
    String forget(String member) {
        java.util.concurrent.CompletableFuture<String> out = new java.util.concurrent.CompletableFuture<>();
        submit(() -> {
            if (view == null) {
                out.complete("not in a cluster view");
            } else if (memberNames().contains(member)) {
                out.complete(member + " is in the view: only a departed member can be forgotten");
            } else if (!table.containsKey(member) || RETIRED.equals(member)) {
                out.complete(member + " holds no share in this node's table");
            } else {
                forgotten.add(member);
                dirty = true;
                persist(true);
                publishStatus();
                LOG.warn("Cluster: departed member {} forgotten by the operator (confirmed dead): its share returns to "
                        + "the cluster as its calls end", member);
                multicast(new Wire(Wire.FORGET, viewId, epoch, Map.of(member, new int[] {0}), null, null), false);
                Map<String, Integer> live = liveCalls(member);
                out.complete(member + " forgotten: its share " + new TreeMap<>(table.get(member)) + " now follows its live calls "
                        + new TreeMap<>(live));
            }
        });
        try {
            return out.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            return "no answer from the cluster's protocol thread: " + e;
        }
    }

    Status status() {
        return status;
    }

    /** Departed members the operator confirmed dead (kept in the table's file across restarts). */
    List<String> forgotten() {
        return forgottenView;
    }

    /** {messages sent, bytes sent, units moved} since start. */
    long[] traffic() {
        return new long[] {sentMessages.get(), sentBytes.get(), moved.get()};
    }

    private void load() {
        if (store == null || !java.nio.file.Files.exists(store)) {
            return;
        }
        try {
            byte[] b = java.nio.file.Files.readAllBytes(store);
            Wire w = Wire.decode(b, 0, b.length);
            w.table.forEach((m, row) -> table.put(m, new HashMap<>(row)));
            created.putAll(w.created);
            forgotten.addAll(w.keys.keySet()); // members the operator confirmed dead stay forgotten across a restart
            LOG.info("Cluster table of {} member(s) and {} limit(s) read from {}{}", table.size(), created.size(), store,
                    forgotten.isEmpty() ? "" : "; forgotten (confirmed dead): " + new java.util.TreeSet<>(forgotten));
        } catch (Exception e) {
            LOG.warn("Cluster table in {} not readable, ignored: {}", store, e.toString());
        }
    }

    /** Writes the table if it changed, at most once a second (and at close). */
    private void persist(boolean now) {
        if (store == null || !dirty || (!now && System.nanoTime() - writtenAt < 1_000_000_000L)) {
            return;
        }
        try {
            java.nio.file.Path tmp = store.resolveSibling(store.getFileName() + ".tmp");
            // the file is a STATE whose keys are the forgotten members (see Wire.keys)
            java.nio.file.Files.write(tmp, new Wire(Wire.STATE, 0, 0, forgottenKeys(), table, created).encode());
            java.nio.file.Files.move(tmp, store, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            dirty = false;
            writtenAt = System.nanoTime();
        } catch (Exception e) {
            LOG.warn("Cluster table not written to {}: {}", store, e.toString());
        }
    }

    @Override
    public void close() {
        JChannel ch = channel;
        try {
            loop.submit(() -> persist(true)).get(2, TimeUnit.SECONDS);
        } catch (Exception e) {
            // closing anyway
        }
        loop.shutdownNow();
        if (ch != null) {
            ch.close(); // a graceful leave: the others see a view without this node at once
        }
    }

    // ---- JGroups callbacks: everything goes to the protocol thread, in arrival order ----

    @Override
    public void viewAccepted(View v) {
        Replicas r = replicas;
        if (r != null) {
            r.onView(v);
        }
        submit(() -> onView(v));
    }

    @Override
    public void receive(Message msg) {
        Address src = msg.getSrc();
        Replicas r = replicas;
        if (msg.getLength() > 0 && msg.getArray()[msg.getOffset()] >= Replicas.RECORDS) {
            // session records share the channel; they are not the bank's
            if (r != null) {
                r.receive(msg);
            }
            return;
        }
        Wire w;
        try {
            w = Wire.decode(msg.getArray(), msg.getOffset(), msg.getLength());
        } catch (Exception e) {
            LOG.warn("Cluster message from {} not understood, dropped: {}", src, e.toString());
            return;
        }
        if (w.type == Wire.REPORT) {
            // the only droppable message: the member sends another next round
            if (queuedReports.incrementAndGet() > MAX_QUEUED_REPORTS) {
                queuedReports.decrementAndGet();
                droppedReports.incrementAndGet();
                return;
            }
            submit(() -> {
                queuedReports.decrementAndGet();
                onMessage(src, w);
            });
            return;
        }
        submit(() -> onMessage(src, w));
    }

    private void submit(Runnable r) {
        try {
            loop.execute(() -> {
                try {
                    r.run();
                } catch (RuntimeException e) {
                    LOG.error("Cluster protocol step failed", e);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // closing
        }
    }

    private void safeRound() {
        try {
            round();
        } catch (RuntimeException e) {
            LOG.error("Cluster round failed", e);
        }
    }

    // ---- protocol (protocol thread only) ----

    private static String name(Address a) {
        String n = a == null ? null : NameCache.get(a);
        return n != null ? n : String.valueOf(a);
    }

    private List<String> memberNames() {
        List<String> out = new ArrayList<>();
        if (view != null) {
            for (Address a : view.getMembers()) {
                out.add(name(a));
            }
        }
        return out;
    }

    private void onView(View v) {
        List<String> before = memberNames();
        view = v;
        viewId = v.getViewId().getId();
        coord = v.getCoord();
        JChannel ch = channel;
        coordinator = ch != null && coord.equals(ch.getAddress());
        ready = false;
        epoch = -1;
        List<String> now = memberNames();
        List<String> joined = new ArrayList<>(now);
        joined.removeAll(before);
        List<String> left = new ArrayList<>(before);
        left.removeAll(now);
        LOG.info("Cluster view {} (coordinator {}{}): members {}{}{}", viewId, name(coord),
                v instanceof org.jgroups.MergeView ? ", a merge" : "", now,
                joined.isEmpty() ? "" : ", joined " + joined, left.isEmpty() ? "" : ", left " + left);
        reports.keySet().retainAll(now);
        refusalsSeen.keySet().retainAll(now);
        if (forgotten.removeAll(now)) { // back after all: it reports what it holds like any member
            dirty = true;
        }
        if (new HashSet<>(now).size() < now.size()) {
            LOG.error("Cluster view {}: two members share a node.id ({}): shares cannot be told apart; give each node its own",
                    viewId, now);
        }
        viewChanges++;
        if (!before.isEmpty()) {
            for (String m : joined) {
                membership.changed(m, false, m + " joined the cluster (view " + viewId + ", members " + now + ")");
            }
            for (String m : left) {
                membership.changed(m, true, m + " left the cluster (view " + viewId + ", members " + now + "); its shares are held for it");
            }
        }
        if (coordinator) {
            startReconcile();
        }
        // every member that knows it repeats it to each new view: a member that joined since the operator's word
        // hears it too, whichever member coordinates (a newcomer that merges in may become the coordinator)
        announceForgotten();
        publishStatus();
    }

    /** Tells the view which departed members the operator confirmed dead (tiny; at each view and every 50 rounds). */
    private void announceForgotten() {
        if (!forgotten.isEmpty()) {
            multicast(new Wire(Wire.FORGET, viewId, epoch, forgottenKeys(), null, null), false);
        }
    }

    /** The forgotten members as a message's keys (member → {0}): FORGET, and the table's file. */
    private Map<String, int[]> forgottenKeys() {
        Map<String, int[]> dead = new HashMap<>();
        forgotten.forEach(m -> dead.put(m, new int[] {0}));
        return dead;
    }

    private void startReconcile() {
        states.clear();
        tableDelta.clear();
        yieldedToCredit.clear();
        yieldAcks.clear();
        epoch = nextEpoch++;
        ready = false;
        reconcileSentAt = System.nanoTime();
        multicast(new Wire(Wire.STATE_REQ, viewId, epoch, null, null, null), false);
    }

    private boolean fromCoordinator(Address src, Wire w) {
        return src != null && src.equals(coord) && w.view == viewId;
    }

    private void onMessage(Address src, Wire w) {
        switch (w.type) {
            case Wire.STATE_REQ -> {
                if (!fromCoordinator(src, w) || (!coordinator && w.epoch < epoch)) {
                    return;
                }
                if (!coordinator) {
                    epoch = w.epoch;
                    ready = false;
                    lastSent = Map.of(); // the next report is a full one: a new coordinator knows nothing yet
                }
                send(src, new Wire(Wire.STATE, viewId, w.epoch, own(), tableWithYieldsInFlight(), created));
            }
            case Wire.STATE -> {
                if (coordinator && w.view == viewId && w.epoch == epoch && !ready) {
                    states.put(name(src), w);
                    if (states.keySet().containsAll(memberNames())) {
                        finishReconcile();
                    }
                }
            }
            case Wire.REPORT -> {
                if (coordinator && w.view == viewId && w.epoch == epoch) {
                    reports.put(name(src), w.keys);
                }
            }
            case Wire.ALLOC -> {
                if (coordinator || !fromCoordinator(src, w) || w.epoch != epoch) {
                    return;
                }
                applyTable(w.table);
                w.created.forEach((k, v) -> created.merge(k, v, Math::max));
                dirty = true;
                int[] ack = w.keys.get(nodeId);
                if (ack != null) {
                    String from = name(src);
                    pendingYields.entrySet().removeIf(e -> e.getKey() <= ack[0] && from.equals(e.getValue()[0]));
                }
                if (!ready) {
                    ready = true;
                    publishStatus();
                }
            }
            case Wire.COMMIT -> {
                if (coordinator || !fromCoordinator(src, w) || w.epoch != epoch) {
                    return;
                }
                Map<String, Integer> mine = w.table.get(nodeId);
                if (mine != null) {
                    mine.forEach(this::grantOwn);
                }
            }
            case Wire.REVOKE -> {
                if (coordinator || !fromCoordinator(src, w) || w.epoch != epoch) {
                    return;
                }
                Map<String, int[]> given = new HashMap<>();
                w.keys.forEach((k, n) -> {
                    int taken = giveBackOwn(k, n[0]);
                    if (taken > 0) {
                        given.put(k, new int[] {taken});
                    }
                });
                if (!given.isEmpty()) {
                    int seq = ++yieldSeq;
                    Map<String, Integer> amounts = new HashMap<>();
                    given.forEach((k, v) -> amounts.put(k, v[0]));
                    pendingYields.put(seq, new Object[] {name(src), amounts});
                    while (pendingYields.size() > MAX_PENDING_YIELDS) {
                        // bounded: the oldest is dropped, as if credited (logged: a partition now could over-count it)
                        Integer oldest = pendingYields.keySet().iterator().next();
                        pendingYields.remove(oldest);
                        LOG.warn("Cluster: more than {} yields unconfirmed; the oldest forgotten", MAX_PENDING_YIELDS);
                    }
                    send(src, new Wire(Wire.YIELDED, viewId, epoch, given, null, Map.of("seq", seq)));
                }
            }
            case Wire.YIELDED -> {
                if (coordinator && ready && w.view == viewId && w.epoch == epoch) {
                    String m = name(src);
                    Integer seq = w.created.get("seq");
                    if (seq != null) {
                        yieldAcks.merge(m, seq, Math::max);
                    }
                    w.keys.forEach((k, n) -> {
                        // the member's entry shrinks now (it already gave them up); the coordinator's grows only
                        // once the table that shows it is acknowledged
                        setEntry(m, k, entry(m, k) - n[0]);
                        yieldedToCredit.merge(k, n[0], Integer::sum);
                        moved.addAndGet(n[0]);
                    });
                }
            }
            case Wire.FORGET -> w.keys.keySet().forEach(m -> {
                if (!memberNames().contains(m) && forgotten.add(m)) {
                    dirty = true;
                    publishStatus();
                    LOG.warn("Cluster: departed member {} forgotten (confirmed dead by the operator on {}): its share "
                            + "returns to the cluster as its calls end", m, name(src));
                }
            });
            default -> LOG.warn("Cluster message of unknown type {} from {}", w.type, src);
        }
    }

    private void finishReconcile() {
        List<String> present = memberNames();
        Map<String, Map<String, Integer>> next = new HashMap<>();
        Map<String, Integer> made = new HashMap<>(created);
        Replicas sessions = replicas;
        for (String m : present) {
            Map<String, Integer> row = new HashMap<>();
            states.get(m).keys.forEach((k, v) -> {
                // a count above the share is calls taken over from a member that is gone: held, so counted
                int held = Math.max(v[0], v[1]);
                if (v[1] != Shares.UNLIMITED && held > 0) {
                    row.put(k, held);
                }
            });
            if (sessions != null && !m.equals(nodeId)) {
                // calls of the member's sessions known here, of an earlier run of it too (a member that restarted
                // has not taken those back yet): held at least that much, wherever its own report stands
                sessions.heldFor(m).forEach((k, n) -> {
                    if (made.containsKey(k)) {
                        row.merge(k, n, Math::max);
                    }
                });
            }
            next.put(m, row);
        }
        // members that are gone: the highest share any copy of the table shows for them
        List<Map<String, Map<String, Integer>>> copies = new ArrayList<>();
        copies.add(table);
        for (Wire s : states.values()) {
            copies.add(s.table);
            s.created.forEach((k, v) -> made.merge(k, v, Math::max));
        }
        for (Map<String, Map<String, Integer>> copy : copies) {
            copy.forEach((m, row) -> {
                if (!present.contains(m)) {
                    Map<String, Integer> est = next.computeIfAbsent(m, x -> new HashMap<>());
                    row.forEach((k, v) -> est.merge(k, v, Math::max));
                }
            });
        }
        for (String m : forgotten) {
            if (!present.contains(m)) {
                Map<String, Integer> live = new HashMap<>(liveCalls(m));
                live.keySet().retainAll(made.keySet());
                next.put(m, live);
            }
        }
        next.values().removeIf(Map::isEmpty);
        Map<String, Integer> reclaim = new HashMap<>();
        Set<String> keys = new HashSet<>(made.keySet());
        for (String k : keys) {
            int held = 0;
            for (Map<String, Integer> row : next.values()) {
                held += row.getOrDefault(k, 0);
            }
            int lost = made.get(k) - held;
            if (lost > 0) {
                reclaim.put(k, lost);
                next.computeIfAbsent(nodeId, x -> new HashMap<>()).merge(k, lost, Integer::sum);
            } else if (lost < 0) {
                LOG.warn("Cluster key {}: {} held against {} created (counts from before clustering); no share "
                        + "is granted until calls end", k, held, made.get(k));
            }
        }
        Map<String, Map<String, Integer>> before = table;
        table = next;
        created = made;
        if (!multicast(new Wire(Wire.ALLOC, viewId, epoch, null, table, created), true)) {
            table = before;
            return; // retried next round with a new epoch
        }
        reclaim.forEach(this::grantOwn);
        ready = true;
        dirty = true;
        int taken = reclaim.values().stream().mapToInt(Integer::intValue).sum();
        LOG.info("Cluster view {}: shares reconciled over {} member(s){}", viewId, present.size(),
                taken > 0 ? ", " + taken + " unheld unit(s) taken back into the coordinator's share " + new TreeMap<>(reclaim) : "");
        publishStatus();
    }

    private void round() {
        if (view == null || epoch < 0) {
            return;
        }
        round++;
        persist(false);
        if (round % 50 == 0) {
            announceForgotten(); // a repetition lost on the way is sent again
        }
        Map<String, int[]> mine = own();
        if (!coordinator) {
            Map<String, int[]> changed = new HashMap<>();
            boolean full = round % 50 == 0;
            mine.forEach((k, v) -> {
                int[] last = lastSent.get(k);
                if (full || last == null || last[0] != v[0] || last[1] != v[1] || last[2] != v[2]) {
                    changed.put(k, v);
                }
            });
            if (!changed.isEmpty() || round % 10 == 0) {
                send(coord, new Wire(Wire.REPORT, viewId, epoch, changed, null, null));
                lastSent = mine;
            }
            if (round % 10 == 0) {
                publishStatus();
            }
            return;
        }
        if (!ready) {
            if (System.nanoTime() - reconcileSentAt > TimeUnit.SECONDS.toNanos(2)) {
                LOG.info("Cluster view {}: state of {} still missing, asking again", viewId,
                        memberNames().stream().filter(m -> !states.containsKey(m)).toList());
                startReconcile();
            }
            return;
        }
        // the coordinator's own report, merged like a member's
        Map<String, int[]> selfRow = reports.computeIfAbsent(nodeId, x -> new HashMap<>());
        selfRow.putAll(mine);
        rebalance(mine);
        if (round % 10 == 0) {
            publishStatus();
        }
    }

    /** Rounds in a row in which the table showed a member above both its count and its actual share. */
    private int staleRounds;
    static final int STALE_ROUNDS = 50;

    /**
     * The table over-counts a member when its entry stays above both the member's count and its actual share (the
     * calls it took over from a departed member and counted above its share have ended; a grant was lost in
     * flight): capacity nobody can use. After {@link #STALE_ROUNDS} such rounds the coordinator reconciles, which
     * sets every entry to what its member actually holds.
     */
    private boolean tableOverCounts(List<String> present) {
        boolean stale = false;
        for (String m : present) {
            Map<String, int[]> r = merged.get(m);
            Map<String, Integer> row = table.get(m);
            if (r == null || row == null) {
                continue;
            }
            for (Map.Entry<String, Integer> e : row.entrySet()) {
                int[] v = r.get(e.getKey());
                if (v != null && v[1] != Shares.UNLIMITED && e.getValue() > Math.max(v[0], v[1])) {
                    stale = true;
                    break;
                }
            }
        }
        if (!stale) {
            staleRounds = 0;
            return false;
        }
        if (++staleRounds < STALE_ROUNDS) {
            return false;
        }
        staleRounds = 0;
        LOG.info("Cluster view {}: the table counts a member above what it holds; reconciling", viewId);
        startReconcile();
        return true;
    }

    private final Map<String, Map<String, int[]>> merged = new HashMap<>();
    private final Map<String, Map<String, Integer>> refusalsSeen = new HashMap<>();

    private void rebalance(Map<String, int[]> mine) {
        // fold this round's reports into the merged view of each member
        reports.forEach((m, r) -> merged.computeIfAbsent(m, x -> new HashMap<>()).putAll(r));
        reports.keySet().removeIf(m -> !m.equals(nodeId));
        List<String> present = memberNames();
        merged.keySet().retainAll(present);
        if (tableOverCounts(present)) {
            return;
        }
        boolean hasQuorum = present.size() >= quorum;
        Map<String, Integer> lim = limits.get();
        Map<String, Integer> selfCredit = new HashMap<>(yieldedToCredit);
        yieldedToCredit.clear();
        selfCredit.forEach((k, n) -> setEntry(nodeId, k, entry(nodeId, k) + n));
        // members confirmed dead: their entries follow their live calls down; what their calls no longer hold goes
        // to the coordinator, credited (like a yield) once the table showing it is acknowledged
        for (String m : forgotten) {
            Map<String, Integer> row = table.get(m);
            if (row == null || present.contains(m)) {
                continue;
            }
            Map<String, Integer> live = liveCalls(m);
            for (Map.Entry<String, Integer> e : new ArrayList<>(row.entrySet())) {
                int n = live.getOrDefault(e.getKey(), 0);
                int freed = e.getValue() - n;
                if (freed > 0) {
                    setEntry(m, e.getKey(), n);
                    setEntry(nodeId, e.getKey(), entry(nodeId, e.getKey()) + freed);
                    selfCredit.merge(e.getKey(), freed, Integer::sum);
                }
            }
        }
        Map<String, Map<String, Integer>> grants = new HashMap<>();
        Map<String, Map<String, int[]>> revokes = new HashMap<>();
        Set<String> keys = new HashSet<>(lim.keySet());
        keys.addAll(created.keySet());
        for (String k : keys) {
            Integer limit = lim.get(k);
            Integer made = created.get(k);
            int target = limit == null ? 0 : limit;
            // what was created only ever grows (copies merge by maximum); a lowered limit retires units instead
            int effective = made == null ? 0 : made - entry(RETIRED, k);
            if (made == null || target > effective) {
                if (limit != null && hasQuorum) {
                    int add = target - effective;
                    created.put(k, (made == null ? 0 : made) + add);
                    setEntry(nodeId, k, entry(nodeId, k) + add);
                    selfCredit.merge(k, add, Integer::sum);
                }
                // capacity created (or raised) only by a quorum; without one the key keeps what it has
                continue;
            }
            if (target < effective) {
                int x = giveBackOwn(k, effective - target);
                if (x > 0) {
                    setEntry(nodeId, k, entry(nodeId, k) - x);
                    setEntry(RETIRED, k, entry(RETIRED, k) + x);
                }
            }
            // targets: each member's count plus a part of the capacity nobody uses (created, less the counts here and
            // the shares held for members that are gone), weighted by its load and refusals; so after a lowered limit
            // the members above target give back and the coordinator destroys what exceeds the new limit
            long held = 0;
            long counted = 0;
            for (Map.Entry<String, Map<String, Integer>> row : table.entrySet()) {
                if (!present.contains(row.getKey())) {
                    held += row.getValue().getOrDefault(k, 0);
                }
            }
            long idle;
            long weights = 0;
            Map<String, long[]> rows = new LinkedHashMap<>();
            for (String m : present) {
                int[] r = merged.getOrDefault(m, Map.of()).get(k);
                int count = r == null ? 0 : r[0];
                int refusals = r == null ? 0 : r[2];
                int seen = refusalsSeen.computeIfAbsent(m, x -> new HashMap<>()).getOrDefault(k, refusals);
                refusalsSeen.get(m).put(k, refusals);
                int share = entry(m, k);
                long w = 1L + count + 4L * Math.max(0, refusals - seen);
                counted += count;
                weights += w;
                rows.put(m, new long[] {count, share, w});
            }
            if (rows.isEmpty()) {
                continue;
            }
            idle = Math.max(0, created.get(k) - held - counted);
            // the coordinator grants from its own unused share, keeping the headroom its own target gives it
            int[] self = mine.get(k);
            long[] selfRow = rows.get(nodeId);
            long keep = selfRow == null ? 0 : idle * selfRow[2] / weights;
            long available = (self == null ? 0 : Math.max(0, self[1] - self[0])) - keep;
            for (Map.Entry<String, long[]> e : rows.entrySet()) {
                if (e.getKey().equals(nodeId)) {
                    continue;
                }
                long[] r = e.getValue();
                long want = r[0] + idle * r[2] / weights;
                if (r[1] - want > Math.max(1, want / 10)) {
                    revokes.computeIfAbsent(e.getKey(), x -> new HashMap<>()).put(k, new int[] {(int) (r[1] - want)});
                } else if (want > r[1] && available > 0) {
                    int x = giveBackOwn(k, (int) Math.min(want - r[1], available));
                    if (x > 0) {
                        available -= x;
                        setEntry(nodeId, k, entry(nodeId, k) - x);
                        setEntry(e.getKey(), k, entry(e.getKey(), k) + x);
                        grants.computeIfAbsent(e.getKey(), y -> new HashMap<>()).put(k, x);
                    }
                }
            }
        }
        revokes.forEach((m, r) -> {
            Address a = address(m);
            if (a != null) {
                send(a, new Wire(Wire.REVOKE, viewId, epoch, r, null, null));
            }
        });
        if (tableDelta.isEmpty() && selfCredit.isEmpty() && grants.isEmpty()) {
            return;
        }
        Map<String, Map<String, Integer>> delta = new HashMap<>(tableDelta);
        tableDelta.clear();
        Map<String, int[]> acks = new HashMap<>();
        yieldAcks.forEach((m, seq) -> acks.put(m, new int[] {seq}));
        yieldAcks.clear();
        if (!multicast(new Wire(Wire.ALLOC, viewId, epoch, acks, delta, created), true)) {
            // not every member acknowledged: nothing of this round is credited; the next reconciliation finds it
            LOG.warn("Cluster view {}: a table update was not acknowledged by every member; reconciling", viewId);
            startReconcile();
            return;
        }
        selfCredit.forEach(this::grantOwn);
        dirty = true;
        if (!grants.isEmpty()) {
            multicast(new Wire(Wire.COMMIT, viewId, epoch, null, grants, null), false);
        }
    }

    private Address address(String member) {
        if (view != null) {
            for (Address a : view.getMembers()) {
                if (name(a).equals(member)) {
                    return a;
                }
            }
        }
        return null;
    }

    private int entry(String member, String key) {
        Map<String, Integer> row = table.get(member);
        Integer v = row == null ? null : row.get(key);
        return v == null ? 0 : v;
    }

    private void setEntry(String member, String key, int value) {
        table.computeIfAbsent(member, x -> new HashMap<>()).put(key, Math.max(0, value));
        tableDelta.computeIfAbsent(member, x -> new HashMap<>()).put(key, Math.max(0, value));
    }

    /** Most yields one member keeps unconfirmed (a few per round are normal). */
    static final int MAX_PENDING_YIELDS = 10_000;

    /**
     * This member's copy of the table for a reconciliation: yields still in flight to a coordinator that is not in
     * the view count as held by it (it may have credited them on its side); those to a member of the view are void
     * (a message of an older epoch is never credited), so they are forgotten.
     */
    private Map<String, Map<String, Integer>> tableWithYieldsInFlight() {
        List<String> present = memberNames();
        Map<String, Map<String, Integer>> copy = new HashMap<>();
        table.forEach((m, row) -> copy.put(m, new HashMap<>(row)));
        for (java.util.Iterator<Object[]> it = pendingYields.values().iterator(); it.hasNext(); ) {
            Object[] y = it.next();
            String to = (String) y[0];
            if (present.contains(to)) {
                it.remove();
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Integer> amounts = (Map<String, Integer>) y[1];
            Map<String, Integer> row = copy.computeIfAbsent(to, x -> new HashMap<>());
            amounts.forEach((k, n) -> row.merge(k, n, Integer::sum));
        }
        return copy;
    }

    private void applyTable(Map<String, Map<String, Integer>> entries) {
        entries.forEach((m, row) -> table.computeIfAbsent(m, x -> new HashMap<>()).putAll(row));
    }

    // ---- this node's shares in the ledgers ----

    private Map<String, int[]> own() {
        Map<String, int[]> out = new HashMap<>();
        resources.shareSnapshot().forEach((k, v) -> out.put(RESOURCE + k, v));
        out.putAll(policy.shareSnapshot());
        return out;
    }

    private void grantOwn(String key, int n) {
        if (key.startsWith(RESOURCE)) {
            resources.grant(key.substring(RESOURCE.length()), n);
        } else {
            policy.grant(key, n);
        }
    }

    private int giveBackOwn(String key, int n) {
        return key.startsWith(RESOURCE) ? resources.giveBack(key.substring(RESOURCE.length()), n) : policy.giveBack(key, n);
    }

    // ---- sending ----

    private void send(Address to, Wire w) {
        JChannel ch = channel;
        if (ch == null || to == null) {
            return;
        }
        try {
            byte[] b = w.encode();
            ch.send(new BytesMessage(to, b));
            sentMessages.incrementAndGet();
            sentBytes.addAndGet(b.length);
        } catch (Exception e) {
            LOG.debug("Cluster message to {} not sent: {}", to, e.toString());
        }
    }

    /** Multicasts to the view; with {@code acked}, returns only once every member has it (false if one did not). */
    private boolean multicast(Wire w, boolean acked) {
        JChannel ch = channel;
        if (ch == null) {
            return false;
        }
        try {
            byte[] b = w.encode();
            Message m = new BytesMessage(null, b);
            if (acked) {
                m.setFlag(Message.Flag.RSVP);
            }
            ch.send(m);
            int others = Math.max(1, view == null ? 1 : view.size() - 1);
            sentMessages.addAndGet(others);
            sentBytes.addAndGet((long) b.length * others);
            return true;
        } catch (Exception e) {
            LOG.info("Cluster view {}: {} not delivered to every member: {}", viewId, w.type, e.toString());
            return false;
        }
    }

    private void publishStatus() {
        List<String> members = memberNames();
        List<String> departed = new ArrayList<>();
        for (Map.Entry<String, Map<String, Integer>> e : table.entrySet()) {
            if (!members.contains(e.getKey()) && !RETIRED.equals(e.getKey()) && e.getValue().values().stream().anyMatch(v -> v > 0)) {
                departed.add(e.getKey());
            }
        }
        Map<String, Map<String, Integer>> copy = new TreeMap<>();
        table.forEach((m, row) -> copy.put(m, new TreeMap<>(row)));
        String state = view == null ? "joining" : ready ? "member" : "reconciling";
        Map<String, Integer> inForce = new TreeMap<>();
        created.forEach((k, v) -> inForce.put(k, v - entry(RETIRED, k)));
        forgottenView = List.copyOf(new java.util.TreeSet<>(forgotten));
        status = new Status(state, viewId, coord == null ? null : name(coord), members, departed,
                inForce, copy, new TreeMap<>(own()), droppedReports.get(), viewChanges);
    }
}
