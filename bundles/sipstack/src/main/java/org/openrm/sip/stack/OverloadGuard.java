package org.openrm.sip.stack;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;

/**
 * The overload guard: sheds a proportion of new INVITEs, only while openrm's own queue stands.
 *
 * <p>The signal is queueing delay, not depth: the age of the oldest received message still waiting for a SIP
 * worker (the UDP receive queues and the TCP post-parse queue both stamp their messages). Depth means nothing
 * without the service rate (a thousand datagrams are 80 ms of work at 1,750 calls/s and 8 ms on a faster node),
 * while delay is what peers feel: past T1 (500 ms) they retransmit and the load doubles. As in CoDel, a delay
 * above {@code overload.target.delay.ms} that does not stand for {@code overload.interval.ms} is a burst (a GC
 * pause, a compile, a neighbour on the CPU) that the queue absorbs, and nothing is shed.
 *
 * <p>Once the delay stands, a proportional-integral controller (PIE, RFC 8033, with SIP's time scale) moves the
 * share of new INVITEs it sheds, {@code p}, so that the delay settles at the target: the node keeps serving at
 * its capacity and refuses the excess, a proportion of the calls rather than all of them for a while. It updates
 * every {@link #TICK_MS} ms on the SIP timer; the decision per INVITE is one volatile read and a random number,
 * taken on the UDP receive thread from the raw bytes (the shed INVITE is never parsed by the stack, its 503 is
 * written from its own header lines) or on the worker for TCP. An INVITE admitted once is remembered for a while
 * by its Call-ID, so that its retransmissions are never shed.
 *
 * <p>Two hard bounds stay behind it: {@code overload.max.queue} messages waiting and {@code overload.max.pending}
 * INVITEs without a final answer shed every new INVITE (memory bounds, not the control signal).
 */
public final class OverloadGuard {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(OverloadGuard.class);
    /** Controller period. */
    public static final int TICK_MS = 10;
    /** Integral gain, per second of delay error per second. */
    public static final double ALPHA = 4.0;
    /** Proportional gain, per second of delay change. */
    public static final double BETA = 3.0;
    /** Growth of the admitted share {@code 1 - p} per tick while the delay is below target. */
    public static final double DECAY = 0.02;
    /** The shed level's fixed-point scale. */
    public static final int SCALE = 1 << 16;
    /** How long an admitted INVITE's Call-ID is remembered (its retransmissions pass): ticks. */
    private static final int REMEMBER_TICKS = 4000 / TICK_MS;
    private static final int SLOTS = 1 << 14;
    /** Half of T1: a delay this long sheds at once, whether it stood or not. */
    public static final int DANGER_MS = 250;

    public record Settings(int targetDelayMs, int intervalMs, int maxQueue, int maxPending) {
        public Settings {
            targetDelayMs = Math.max(1, targetDelayMs);
            intervalMs = Math.max(0, intervalMs);
        }
    }

    private volatile Settings settings;
    private final IntSupplier delayMs;
    private final IntSupplier depth;
    private final IntSupplier pending;

    // the controller: the timer thread only
    private double p;
    private int aboveMs;
    private int previousDelay;
    private boolean active;
    /** The delay at each of the last ticks (a ring): still growing, or draining from a peak? */
    private final int[] delays = new int[1024];
    private int stepCount;

    /** New INVITEs whose random draw falls below this are shed: 0 none, {@link #SCALE} all. */
    private volatile int level;
    /** True while a hard bound is reached: every new INVITE is shed. */
    private volatile boolean hard;
    private volatile int lastDelayMs;
    private volatile int ticks;

    /** Racy on purpose: a lost or torn entry only lets one retransmission take its chance again. */
    private final int[] admitted = new int[SLOTS];
    private final int[] admittedAt = new int[SLOTS];

    /** New INVITEs shed (503), over both paths. */
    public final AtomicLong shed;
    /** Times the guard went from serving all to shedding. */
    public final AtomicLong episodes = new AtomicLong();

    public OverloadGuard(Settings s, IntSupplier delayMs, IntSupplier depth, IntSupplier pending) {
        this(s, delayMs, depth, pending, new AtomicLong());
    }

    public OverloadGuard(Settings s, IntSupplier delayMs, IntSupplier depth, IntSupplier pending, AtomicLong shed) {
        this.shed = shed;
        this.settings = s;
        this.delayMs = delayMs;
        this.depth = depth;
        this.pending = pending;
    }

    public void settings(Settings s) {
        this.settings = s;
    }

    public Settings settings() {
        return settings;
    }

    /** The share of new INVITEs being shed now, 0..1 (1 while a hard bound is reached). */
    public double shedProbability() {
        return hard ? 1.0 : level / (double) SCALE;
    }

    /** The queueing delay seen at the last tick, ms. */
    public int delayMs() {
        return lastDelayMs;
    }

    /** True while the guard sheds, or a standing delay may make it shed soon. */
    public boolean active() {
        return hard || level > 0;
    }

    /**
     * Decides on one new INVITE, by the hash of its Call-ID: true to shed it (the caller answers 503 and counts it
     * through {@link #shed}). An INVITE admitted in the last seconds with the same Call-ID hash passes.
     */
    public boolean shedNew(int callIdHash) {
        int lv = level;
        boolean all = hard;
        if (lv == 0 && !all) {
            remember(callIdHash);
            return false;
        }
        int slot = callIdHash & (SLOTS - 1);
        if (admitted[slot] == callIdHash && ticks - admittedAt[slot] < REMEMBER_TICKS) {
            return false; // a retransmission of an INVITE that went on
        }
        if (all || ThreadLocalRandom.current().nextInt(SCALE) < lv) {
            shed.incrementAndGet();
            return true;
        }
        remember(callIdHash);
        return false;
    }

    private void remember(int h) {
        int slot = h & (SLOTS - 1);
        admitted[slot] = h;
        admittedAt[slot] = ticks;
    }

    /** How long the guard stays held after {@link #release()} at most, for the backlog of a swap to drain. */
    static final long DRAIN_NANOS = 2_000_000_000L;
    /** True while the proxy logic is being replaced, and until the backlog that built meanwhile has drained. */
    private volatile boolean held;
    /** System.nanoTime by which a released hold ends whatever the delay; Long.MAX_VALUE while not released. */
    private volatile long releaseBy = Long.MAX_VALUE;

    /**
     * The proxy logic is being replaced: messages wait in the stack for the new one, and the delay that builds is the
     * swap's, not overload. The controller stands still (only the hard bound on waiting messages applies).
     */
    public void hold() {
        releaseBy = Long.MAX_VALUE;
        held = true;
    }

    /** A new logic took over: the hold ends once the delay is back at target (the backlog served), 2 s at most. */
    public void release() {
        releaseBy = System.nanoTime() + DRAIN_NANOS;
    }

    /** Every {@link #TICK_MS} ms: reads the delay and the bounds, moves the shed level. */
    public void tick() {
        ticks++;
        Settings s = settings;
        int d = Math.max(0, delayMs.getAsInt());
        int q = depth.getAsInt();
        lastDelayMs = d;
        if (held) {
            long by = releaseBy;
            if (by != Long.MAX_VALUE && (d <= s.targetDelayMs() || System.nanoTime() - by > 0)) {
                held = false;
            } else {
                hard = q >= s.maxQueue();
                p = 0;
                level = 0;
                active = false;
                aboveMs = 0;
                previousDelay = d;
                return;
            }
        }
        hard = q >= s.maxQueue() || pending.getAsInt() >= s.maxPending();
        boolean was = active;
        level = (int) (SCALE * step(s, d, q));
        report(was, d, q);
    }

    private long episodeStart;
    private long episodeShedBase;
    private long lastReport;

    /** One log line when an episode starts, one per 5 s while it lasts, one when it ends. */
    private void report(boolean was, int d, int q) {
        long now = System.currentTimeMillis();
        if (!was && active) {
            episodeStart = now;
            lastReport = now;
            episodeShedBase = shed.get();
            LOG.warn("Overload: queueing delay {} ms ({} messages waiting) stood above the {} ms target; shedding a share "
                    + "of new INVITEs with 503 + Retry-After", d, q, settings.targetDelayMs());
        } else if (was && !active) {
            LOG.info("Overload over after {} ms: {} new INVITEs shed", now - episodeStart, shed.get() - episodeShedBase);
        } else if (active && now - lastReport >= 5000) {
            lastReport = now;
            LOG.info("Overload: shedding {} % of new INVITEs, queueing delay {} ms, {} shed so far", Math.round(p * 100), d,
                    shed.get() - episodeShedBase);
        } else if (LOG.isTraceEnabled() && active) {
            LOG.trace("overload tick: delay {} ms, waiting {}, p {}", d, q, p);
        }
    }

    /**
     * One controller step on delay {@code d} (ms) and queue depth {@code q}; returns the new shed probability.
     * Visible for the simulation.
     */
    public double step(Settings s, int d, int q) {
        int target = s.targetDelayMs();
        int window = Math.min(delays.length - 1, Math.max(1, s.intervalMs() / TICK_MS));
        int highest = 0;
        for (int i = 1; i <= window; i++) {
            highest = Math.max(highest, delays[(stepCount - i) & (delays.length - 1)]);
        }
        delays[stepCount & (delays.length - 1)] = d;
        stepCount++;
        if (!active) {
            aboveMs = d > target ? aboveMs + TICK_MS : 0;
            previousDelay = d;
            // overload, not a burst: the delay stood above target for a whole interval and is still at the highest it
            // was in it (after a stall a node with capacity to spare drains its queue from the peak on, the delay
            // falls, however long that takes); or the delay nears T1, where callers start to retransmit
            boolean standing = aboveMs >= s.intervalMs() && aboveMs > 0 && d >= highest;
            if (!standing && d < DANGER_MS) {
                return 0;
            }
            active = true;
            episodes.incrementAndGet();
        }
        double error = (d - target) / 1000.0;
        double change = (d - previousDelay) / 1000.0;
        previousDelay = d;
        p += ALPHA * error * (TICK_MS / 1000.0) + BETA * change;
        if (d < target) {
            // below target the node has capacity to spare: the admitted share grows by DECAY per tick (x1.2 per
            // 100 ms), so that a passing deficit (a cold JIT, a neighbour) sheds only while it lasts, and a node
            // admitting 5 % of a flood does not jump to admitting three times what it can carry
            p = 1 - Math.min(1, (1 - p) * (1 + DECAY));
        }
        if (p <= 0.001) {
            p = 0;
            if (d <= target / 2) {
                active = false; // the episode is over
                aboveMs = 0;
            }
        } else if (p > 1) {
            p = 1;
        }
        return p;
    }

    /** A Call-ID's hash for {@link #shedNew}, over its bytes (the receive thread has no String). */
    public static int hash(byte[] b, int from, int to) {
        int h = 0x9747b28c;
        for (int i = from; i < to; i++) {
            h = (h ^ (b[i] & 0xff)) * 0x01000193;
        }
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        return h;
    }

    public static int hash(String callId) {
        byte[] b = callId.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        return hash(b, 0, b.length);
    }
}
