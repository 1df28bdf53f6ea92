package org.openrm.cluster.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.jgroups.Address;
import org.jgroups.BytesMessage;
import org.jgroups.JChannel;
import org.jgroups.Message;
import org.jgroups.View;
import org.jgroups.util.NameCache;
import org.openrm.api.ClusterSessions;
import org.openrm.api.EndReason;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static org.openrm.cluster.internal.SessionRecord.str;

/**
 * Replicas of the other members' live sessions, and the takeover of those of a member that is gone.
 *
 * <p>Each node multicasts the minimal record of every session it owns (Call-ID, GVP session id, tags, numbers,
 * media server, profile and tenants, times) when it starts, when it is answered and when it ends, at once when idle,
 * else with the others of its batch window ({@code replicas.batch.ms}, one message per window); whenever a view brings a member this node had not seen, every node multicasts all the
 * sessions it owns (a snapshot: the first chunk replaces what the others held for it). A member's messages carry
 * its incarnation (the JVM's process id and start time): records of an earlier incarnation that a restarted
 * member no longer knows are kept apart and treated as a departed member's.
 *
 * <p>Takeover: an in-dialog request for a session whose owner is not in the view reaches a survivor; the survivor
 * opens the session in its own store, counts its port and policy counts in its own ledgers (above its share if need
 * be: the call holds them already) and multicasts that it owns it now; the session ends there with its CDR like any
 * other. Sessions of a departed member that no request ever claims are taken over by the coordinator and ended with
 * {@link EndReason#TAKEN_OVER} once they are older than the call could be ({@code takeover.setup.s} unanswered,
 * {@code takeover.max.age.s} answered). A member that restarts gets back the sessions of its previous run still
 * live (and counts them). The bank counts each member at no less than its count and than the calls of its sessions
 * replicated here ({@link #heldFor}), so a call taken over is held in some share all along: in the departed
 * member's frozen one, then in the adopter's count.
 *
 * <p>Records reach the others asynchronously, within a batch window: a session admitted or ended in the last window
 * before a crash may be missing or stale on the survivors. A stale one gets a second CDR with the
 * same GVP session id: CDRs are at least once, unique by session id (as after a billing crash).
 */
public final class Replicas implements SessionListener, ClusterSessions, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Replicas.class);
    /** Message types, above the bank's (1..7): the bank hands these to this class. */
    static final byte RECORDS = 64;
    static final byte SNAPSHOT = 65;
    /** To a restarted member: the sessions of its previous run that are still live (it takes them back). */
    static final byte ORPHANS = 66;
    private static final byte OPEN = 1;
    private static final byte ANSWER = 2;
    private static final byte END = 3;
    /** The sender took the session over: it owns it now. */
    private static final byte OWN = 4;
    /** Bytes per message beyond which a batch or a snapshot goes on in the next message. */
    static final int MAX_MESSAGE = 48 * 1024;
    /** This JVM: a restarted member is a new incarnation, an update of this bundle is not. */
    static final String INCARNATION = ProcessHandle.current().pid() + "@" + ManagementFactory.getRuntimeMXBean().getStartTime();

    /**
     * @param flushMs     longest wait of the sender for an event (this paces snapshots owed)
     * @param batchMs     at most one message per this many ms: under load the events of a window share a message
     * @param queueMax    events of this node's sessions waiting to be sent, at most (beyond: a snapshot follows)
     * @param replicasMax replicas held for the other members, at most
     * @param setupS      age after which a departed member's unanswered session is ended by the coordinator
     * @param maxAgeS     age after which a departed member's answered session is ended by the coordinator
     */
    record Settings(int flushMs, int batchMs, int queueMax, int replicasMax, int setupS, int maxAgeS) { }

    /** What this node holds of one member's sessions. */
    static final class Member {
        final String node;
        final String incarnation;
        volatile String sipHost;
        volatile int sipPort;
        /** Call-ID → record; bounded by {@link Settings#replicasMax} over all members. */
        final Map<String, SessionRecord> sessions = new ConcurrentHashMap<>();

        Member(String node, String incarnation) {
            this.node = node;
            this.incarnation = incarnation;
        }
    }

    private final String nodeId;
    private final SessionStore store;
    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final Supplier<JChannel> channel;
    private final Settings settings;
    /** Events of this node's own sessions waiting for the next batch: {kind, record or Call-ID}. */
    private final ArrayBlockingQueue<Object[]> out;
    /** Members by node id; a restarted member's earlier incarnation is kept under {@code node#incarnation}. */
    private final Map<String, Member> members = new ConcurrentHashMap<>();
    private final AtomicInteger held = new AtomicInteger();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong takenOver = new AtomicLong();
    /** Sessions of this node that another member took over while it counted this node gone. */
    private final AtomicLong yielded = new AtomicLong();
    private final AtomicLong sentMessages = new AtomicLong();
    private final AtomicLong sentBytes = new AtomicLong();
    private final ScheduledThreadPoolExecutor loop;
    /** Sends each event as soon as it is queued, with whatever else queued meanwhile (batches form under load). */
    private final Thread sender;
    private volatile boolean closed;
    /** Node ids of the current view (this node included). */
    private volatile Set<String> view = Set.of();
    private volatile boolean coordinator;
    /** A snapshot of this node's sessions is owed to the view (a member joined, or a batch was dropped). */
    private volatile boolean snapshotOwed;
    private volatile String sipHost;
    private volatile int sipPort;
    private final String incarnation;

    Replicas(String nodeId, SessionStore store, ResourceLedger ledger, PolicyLedger policy, Supplier<JChannel> channel,
             Settings settings) {
        this(nodeId, INCARNATION, store, ledger, policy, channel, settings);
    }

    /** @param incarnation this run of the node (tests give members of one JVM runs of their own) */
    Replicas(String nodeId, String incarnation, SessionStore store, ResourceLedger ledger, PolicyLedger policy,
             Supplier<JChannel> channel, Settings settings) {
        this.nodeId = nodeId;
        this.ledger = ledger;
        this.policy = policy;
        this.incarnation = incarnation;
        this.store = store;
        this.channel = channel;
        this.settings = settings;
        this.out = new ArrayBlockingQueue<>(settings.queueMax());
        loop = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-cluster-replicas");
            t.setDaemon(true);
            return t;
        });
        loop.scheduleWithFixedDelay(this::safeSweep, 1, 1, TimeUnit.SECONDS);
        sender = new Thread(this::sendLoop, "openrm-cluster-replicas-out");
        sender.setDaemon(true);
        sender.start();
    }

    // ---- this node's sessions (SessionListener: the call path; never blocks) ----

    @Override
    public void started(Session s) {
        offer(OPEN, SessionRecord.of(s));
    }

    @Override
    public void answered(Session s) {
        offer(ANSWER, new Object[] {s.callId(), s.answeredAt()});
    }

    @Override
    public void ended(Session s, EndReason reason, int finalCode, long endedAt) {
        if (reason != EndReason.REJECTED) {
            offer(END, s.callId());
        }
    }

    private void offer(byte kind, Object what) {
        if (!out.offer(new Object[] {kind, what})) {
            // the others will get every session of this node in the next snapshot instead
            dropped.incrementAndGet();
            snapshotOwed = true;
        }
    }

    // ---- ClusterSessions (SIP workers) ----

    @Override
    public void advertise(String host, int port) {
        sipHost = host;
        sipPort = port;
    }

    @Override
    public Set<String> memberAddresses() {
        Set<String> out = new HashSet<>();
        for (Member m : members.values()) {
            if (m.sipHost != null && isAlive(m)) {
                out.add(m.sipHost + ":" + m.sipPort);
            }
        }
        return out;
    }

    @Override
    public boolean isMemberHost(String host) {
        for (Member m : members.values()) {
            if (host.equals(m.sipHost) && isAlive(m)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public Peer peerAt(String host, int port) {
        Peer departed = null;
        for (Member m : members.values()) {
            if (port == m.sipPort && host.equalsIgnoreCase(m.sipHost)) {
                boolean alive = !isOldIncarnation(m) && view.contains(m.node);
                if (alive) {
                    return new Peer(m.node, true);
                }
                departed = new Peer(m.node, false);
            }
        }
        return departed;
    }

    @Override
    public Session takeOver(String callId) {
        for (Member m : members.values()) {
            if (isAlive(m)) {
                continue;
            }
            SessionRecord r = m.sessions.remove(callId);
            if (r != null) {
                held.decrementAndGet();
                return adopt(m, r);
            }
        }
        return null;
    }

    private boolean isOldIncarnation(Member m) {
        return m.node.indexOf('#') >= 0;
    }

    private boolean isAlive(Member m) {
        return !isOldIncarnation(m) && view.contains(m.node);
    }

    /**
     * Opens a departed member's session in this node's store, counted here (its port and its policy counts, beyond
     * this node's share if need be: the call holds them already), and tells the others this node owns it now.
     */
    private Session adopt(Member from, SessionRecord r) {
        Session s = r.session();
        if (store.byCallId(r.callId()) != null) {
            return store.byCallId(r.callId()); // already here (taken over by a request that raced this one)
        }
        if (r.resource() != null) {
            ledger.acquireAnyway(r.resource());
        }
        if (!r.policyKeys().isEmpty()) {
            int[] none = new int[r.policyKeys().size()];
            java.util.Arrays.fill(none, -1);
            policy.admit(r.policyKeys(), none, null);
        }
        if (!store.open(s, r.resource(), r.group())) {
            if (r.resource() != null) {
                ledger.release(r.resource());
            }
            policy.release(r.policyKeys());
            return store.byCallId(r.callId());
        }
        takenOver.incrementAndGet();
        offer(OWN, r);
        LOG.debug("Session {} (Call-ID {}) of {} taken over", r.id(), r.callId(), from.node);
        return s;
    }

    // ---- the view and the messages (JGroups threads) ----

    void onView(View v) {
        Set<String> names = new HashSet<>();
        for (Address a : v.getMembers()) {
            String n = NameCache.get(a);
            names.add(n != null ? n : String.valueOf(a));
        }
        Set<String> before = view;
        view = Set.copyOf(names);
        Address first = v.getCoord();
        String c = first == null ? null : NameCache.get(first);
        coordinator = nodeId.equals(c);
        for (String n : names) {
            if (!n.equals(nodeId) && !before.contains(n)) {
                snapshotOwed = true; // a newcomer (or a member back after a split) learns this node's sessions
            }
        }
        for (String n : before) {
            if (!names.contains(n) && !n.equals(nodeId)) {
                Member m = members.get(n);
                LOG.info("Cluster: member {} left the view holding {} session(s) here; they are taken over as requests "
                        + "for them arrive (or by the coordinator once they are too old)", n, m == null ? 0 : m.sessions.size());
            }
        }
    }

    /** A RECORDS or SNAPSHOT message (the bank hands them over). */
    void receive(Message msg) {
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(msg.getArray(), msg.getOffset(), msg.getLength()));
            byte type = in.readByte();
            String node = str(in);
            String incarnation = str(in);
            String host = str(in);
            int port = in.readInt();
            if (node == null || node.equals(nodeId)) {
                return; // this node's own multicast
            }
            Member m = member(node, incarnation);
            if (host != null) {
                m.sipHost = host;
                m.sipPort = port;
            }
            if (type == SNAPSHOT && in.readBoolean()) {
                held.addAndGet(-m.sessions.size());
                m.sessions.clear();
            }
            if (type == ORPHANS) {
                String target = str(in);
                int n = in.readInt();
                for (int i = 0; i < n && nodeId.equals(target); i++) {
                    in.readByte();
                    SessionRecord r = SessionRecord.read(in);
                    if (store.byCallId(r.callId()) == null) {
                        adopt(m, r); // a session of this node's previous run, still live: back here
                    }
                }
                return;
            }
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                byte kind = in.readByte();
                switch (kind) {
                    case OPEN -> {
                        SessionRecord r = SessionRecord.read(in);
                        yieldTo(m, r, false);
                        put(m, r);
                    }
                    case OWN -> {
                        SessionRecord r = SessionRecord.read(in);
                        forget(r.callId()); // whoever held it before: the sender owns it now
                        yieldTo(m, r, true);
                        put(m, r);
                    }
                    case ANSWER -> {
                        String callId = str(in);
                        long at = in.readLong();
                        m.sessions.computeIfPresent(callId, (k, r) -> r.answered(at));
                    }
                    case END -> {
                        String callId = str(in);
                        if (m.sessions.remove(callId) != null) {
                            held.decrementAndGet();
                        } else {
                            forget(callId); // ended by the member that took it over from another
                        }
                    }
                    default -> throw new IOException("record kind " + kind);
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cluster session records from {} not understood, dropped: {}", msg.getSrc(), e.toString());
        }
    }

    /**
     * Another member owns a session this node has in its store: it took the session over while it counted this node
     * gone (an update of this bundle, a split). Its copy is the one requests reach now, counted there: this node's
     * copy ends here ({@code taken-over}, releasing its counts; the session id is the same, CDRs are at least once).
     */
    private void yieldTo(Member owner, SessionRecord r, boolean theirsTakenOver) {
        Session mine = store.byCallId(r.callId());
        if (mine == null || !mine.id().equals(r.id())) {
            return;
        }
        // the copy taken over wins over the original owner's (requests reach it now); of two taken over (both sides
        // of a split), the member with the lower id keeps it
        boolean yield = mine.takenOver() ? theirsTakenOver && owner.node.compareTo(nodeId) < 0 : theirsTakenOver;
        if (yield && store.end(mine, EndReason.TAKEN_OVER, 0)) {
            yielded.incrementAndGet();
            LOG.info("Cluster: session {} (Call-ID {}) was taken over by {} while this node was away; ended here",
                    r.id(), r.callId(), owner.node);
        }
    }

    /** The member's entry for this incarnation; an earlier incarnation's records are kept apart, as departed. */
    private Member member(String node, String incarnation) {
        Member m = members.get(node);
        if (m != null && (incarnation == null || incarnation.equals(m.incarnation))) {
            return m;
        }
        Member fresh = new Member(node, incarnation);
        if (m == null) {
            Member raced = members.putIfAbsent(node, fresh);
            return raced != null ? raced : fresh;
        }
        members.put(node, fresh);
        if (!m.sessions.isEmpty()) {
            Member old = new Member(node + "#" + m.incarnation, m.incarnation);
            old.sipHost = m.sipHost;
            old.sipPort = m.sipPort;
            old.sessions.putAll(m.sessions);
            members.put(old.node, old);
            LOG.info("Cluster: member {} restarted; {} session(s) of its previous run are handed back to it (and held "
                    + "here for takeover until it has them)", node, old.sessions.size());
            loop.execute(() -> handBack(node, List.copyOf(old.sessions.values())));
        }
        return fresh;
    }

    private void put(Member m, SessionRecord r) {
        if (m.sessions.containsKey(r.callId())) {
            m.sessions.put(r.callId(), r);
            return;
        }
        if (held.incrementAndGet() > settings.replicasMax()) {
            held.decrementAndGet();
            if (dropped.getAndIncrement() % 10_000 == 0) {
                LOG.warn("Cluster: {} session replicas held (replicas.max): the session {} of {} is not replicated here",
                        settings.replicasMax(), r.id(), m.node);
            }
            return;
        }
        m.sessions.put(r.callId(), r);
    }

    private void forget(String callId) {
        for (Member m : members.values()) {
            if (m.sessions.remove(callId) != null) {
                held.decrementAndGet();
            }
        }
    }

    // ---- sending (own thread) ----

    /**
     * A session's record leaves as soon as it is queued when the sender is idle, else with the others of its batch
     * window ({@code replicas.batch.ms}): a crash loses at most the records of the last window; waiting
     * {@code replicas.flush.ms} at most for the channel or a snapshot owed.
     */
    private void sendLoop() {
        long lastSend = 0;
        long batchNanos = TimeUnit.MILLISECONDS.toNanos(settings.batchMs());
        while (!closed) {
            try {
                Object[] first = out.poll(settings.flushMs(), TimeUnit.MILLISECONDS);
                if (first != null && batchNanos > 0) {
                    // at most one message per batch window: idle, an event leaves at once; under load the events of
                    // the window share one message (a message per event costs the sender and every member more CPU)
                    long wait = lastSend + batchNanos - System.nanoTime();
                    if (wait > 0) {
                        java.util.concurrent.locks.LockSupport.parkNanos(wait);
                    }
                }
                flush(first);
                if (first != null) {
                    lastSend = System.nanoTime();
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                snapshotOwed = true;
                LOG.warn("Cluster session records not sent", e);
            }
        }
    }

    private void flush(Object[] first) {
        JChannel ch = channel.get();
        if (ch == null || !ch.isConnected()) {
            if (first != null) {
                snapshotOwed = true; // the others learn it from the snapshot once this node is in a view
            }
            return;
        }
        if (snapshotOwed) {
            snapshotOwed = false;
            out.clear(); // the snapshot carries the state these events led to
            sendSnapshot(ch);
            return;
        }
        Object[] e = first;
        while (e != null) {
            Batch b = new Batch(RECORDS);
            for (; e != null && b.size() < MAX_MESSAGE; e = out.poll()) {
                b.add((byte) e[0], e[1]);
            }
            send(ch, b);
        }
    }

    private void sendSnapshot(JChannel ch) {
        Batch b = new Batch(SNAPSHOT, true);
        for (Session s : store.sessions()) {
            if (b.size() >= MAX_MESSAGE) {
                send(ch, b);
                b = new Batch(SNAPSHOT, false);
            }
            b.add(s.takenOver() ? OWN : OPEN, SessionRecord.of(s)); // a session taken over says so: it wins a conflict
        }
        send(ch, b);
    }

    private void handBack(String node, List<SessionRecord> recs) {
        JChannel ch = channel.get();
        if (ch == null) {
            return;
        }
        Batch b = new Batch(ORPHANS, node);
        for (SessionRecord r : recs) {
            if (b.size() >= MAX_MESSAGE) {
                send(ch, b);
                b = new Batch(ORPHANS, node);
            }
            b.add(OPEN, r);
        }
        send(ch, b);
    }

    private void send(JChannel ch, Batch b) {
        try {
            byte[] bytes = b.bytes();
            ch.send(new BytesMessage(null, bytes));
            int others = Math.max(1, view.size() - 1);
            sentMessages.addAndGet(others);
            sentBytes.addAndGet((long) bytes.length * others);
        } catch (Exception e) {
            snapshotOwed = true; // what was lost goes in a snapshot
            LOG.debug("Cluster session records not sent: {}", e.toString());
        }
    }

    /** One message of records: the header, then the count patched in at the end. */
    private final class Batch {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream(1024);
        private final DataOutputStream o = new DataOutputStream(buf);
        private final int countAt;
        private int n;

        Batch(byte type) {
            this(type, false, null);
        }

        Batch(byte type, boolean first) {
            this(type, first, null);
        }

        Batch(byte type, String target) {
            this(type, false, target);
        }

        private Batch(byte type, boolean first, String target) {
            try {
                o.writeByte(type);
                str(o, nodeId);
                str(o, incarnation);
                str(o, sipHost);
                o.writeInt(sipPort);
                if (type == SNAPSHOT) {
                    o.writeBoolean(first);
                }
                if (type == ORPHANS) {
                    str(o, target);
                }
                countAt = buf.size();
                o.writeInt(0);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        int size() {
            return buf.size();
        }

        void add(byte kind, Object what) {
            try {
                o.writeByte(kind);
                switch (kind) {
                    case OPEN, OWN -> ((SessionRecord) what).write(o);
                    case ANSWER -> {
                        Object[] a = (Object[]) what;
                        str(o, (String) a[0]);
                        o.writeLong((Long) a[1]);
                    }
                    default -> str(o, (String) what);
                }
                n++;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        byte[] bytes() {
            byte[] b = buf.toByteArray();
            b[countAt] = (byte) (n >>> 24);
            b[countAt + 1] = (byte) (n >>> 16);
            b[countAt + 2] = (byte) (n >>> 8);
            b[countAt + 3] = (byte) n;
            return b;
        }
    }

    // ---- the coordinator's sweep of sessions nobody claims ----

    private void safeSweep() {
        try {
            sweep(System.currentTimeMillis());
        } catch (RuntimeException e) {
            LOG.warn("Cluster takeover sweep failed", e);
        }
    }

    /** Coordinator only: departed members' sessions older than a call could be are taken over and ended. */
    int sweep(long now) {
        if (!coordinator) {
            return 0;
        }
        int ended = 0;
        for (Member m : members.values()) {
            if (isAlive(m)) {
                continue;
            }
            for (SessionRecord r : m.sessions.values()) {
                long age = now - r.receivedAt();
                boolean tooOld = r.answeredAt() == 0 ? age > settings.setupS() * 1000L : age > settings.maxAgeS() * 1000L;
                if (tooOld && m.sessions.remove(r.callId(), r)) {
                    held.decrementAndGet();
                    Session s = adopt(m, r);
                    if (s != null && store.end(s, EndReason.TAKEN_OVER, 0)) {
                        ended++;
                    }
                }
            }
            if (m.sessions.isEmpty() && isOldIncarnation(m)) {
                members.remove(m.node, m);
            }
        }
        if (ended > 0) {
            LOG.info("Cluster: {} session(s) of departed members ended as taken over (no request for them came)", ended);
        }
        return ended;
    }

    // ---- status ----

    /**
     * Per cluster key ({@code resource:<name>} and policy keys), the calls of {@code member}'s sessions held here,
     * those of its earlier runs included: what it (or its previous run, whose calls may still be live) holds at
     * least. The bank counts a member at no less than this when it reconciles.
     */
    Map<String, Integer> heldFor(String member) {
        Map<String, Integer> out = new java.util.HashMap<>();
        for (Member m : members.values()) {
            if (!m.node.equals(member) && !m.node.startsWith(member + "#")) {
                continue;
            }
            for (SessionRecord r : m.sessions.values()) {
                if (r.resource() != null) {
                    out.merge(Bank.RESOURCE + r.resource(), 1, Integer::sum);
                }
                for (String k : r.policyKeys()) {
                    out.merge(k, 1, Integer::sum);
                }
            }
        }
        return out;
    }

    /** Replicas held per member (earlier incarnations as {@code node#incarnation}), with whether it is in the view. */
    public Map<String, Integer> held() {
        Map<String, Integer> outMap = new java.util.TreeMap<>();
        members.forEach((n, m) -> outMap.put(n + (isAlive(m) ? "" : " (departed)"), m.sessions.size()));
        return outMap;
    }

    /** Replicas held now, over all members. */
    public int total() {
        return held.get();
    }

    /**
     * {sessions taken over, replicas not held or events not sent for want of room, messages sent, bytes sent, sessions
     * of this node another member took over while it was away}.
     */
    public long[] counters() {
        return new long[] {takenOver.get(), dropped.get(), sentMessages.get(), sentBytes.get(), yielded.get()};
    }

    @Override
    public void close() {
        closed = true;
        sender.interrupt();
        loop.shutdownNow();
    }
}
