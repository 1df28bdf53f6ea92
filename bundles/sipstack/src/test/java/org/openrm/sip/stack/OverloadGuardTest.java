package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.PriorityQueue;
import java.util.function.DoubleUnaryOperator;

import org.junit.jupiter.api.Test;

/**
 * The overload guard's controller against a simulated proxy (simulated time, no threads, no clock): one FIFO of
 * messages served at a capacity in work units per second. An admitted call brings six messages (the INVITE, its
 * 180 and 200, the ACK, and one second later the BYE and its 200); a shed one costs a fraction of one on the
 * receive thread. An INVITE that waited longer than T1 (500 ms) is retransmitted (one more message) and counted as
 * failed if it waited past 2 s. The figures the issue asks for are checked here on the model; the load bench checks
 * them on the real node.
 */
class OverloadGuardTest {
    static final double UNITS_PER_CALL = 6;
    static final double SHED_COST = 0.3;
    static final OverloadGuard.Settings SETTINGS = new OverloadGuard.Settings(30, 100, 1_000_000, 1_000_000);

    /** What one simulated run gave. */
    record Run(long offered, long admitted, long shed, long late, long maxDelayMs, long[] shedPerSecond) {
        double shedShare() {
            return shed / (double) offered;
        }
    }

    /**
     * Runs {@code seconds} of offered load {@code rate(t)} calls/s against capacity {@code capacity(t)} units/s
     * (t in seconds).
     */
    static Run simulate(int seconds, DoubleUnaryOperator rate, DoubleUnaryOperator capacity) {
        OverloadGuard g = new OverloadGuard(SETTINGS, () -> 0, () -> 0, () -> 0);
        ArrayDeque<long[]> queue = new ArrayDeque<>(); // {arrival ms, kind, first arrival ms}
        PriorityQueue<long[]> later = new PriorityQueue<>((x, y) -> Long.compare(x[0], y[0])); // {due ms, kind}
        double arrivals = 0, work = 0;
        long offered = 0, admitted = 0, shed = 0, late = 0, maxDelay = 0;
        long[] shedPerSecond = new long[seconds];
        double p = 0;
        java.util.Random rnd = new java.util.Random(7);
        for (long now = 0; now < seconds * 1000L; now++) {
            double t = now / 1000.0;
            arrivals += rate.applyAsDouble(t) / 1000.0;
            work += capacity.applyAsDouble(t) / 1000.0;
            while (arrivals >= 1) {
                arrivals--;
                offered++;
                if (rnd.nextDouble() < p) {
                    shed++;
                    shedPerSecond[(int) (now / 1000)]++;
                    work -= SHED_COST;
                } else {
                    admitted++;
                    queue.add(new long[] {now, 0, now});
                }
            }
            while (!later.isEmpty() && later.peek()[0] <= now) {
                long[] m = later.poll();
                queue.add(new long[] {now, m[1], now});
            }
            // INVITEs waiting past T1 are retransmitted by the caller: one more message each, once per T1 step
            for (long[] m : queue) {
                if (m[1] == 0 && now - m[2] >= 500 && (now - m[2]) % 500 == 0) {
                    later.add(new long[] {now, 9});
                }
            }
            while (work >= 1 && !queue.isEmpty()) {
                long[] m = queue.poll();
                work--;
                if (m[1] == 0) {
                    long waited = now - m[2];
                    maxDelay = Math.max(maxDelay, waited);
                    if (waited > 2000) {
                        late++;
                        continue;
                    }
                    later.add(new long[] {now + 1, 1});
                    later.add(new long[] {now + 1, 1});
                    later.add(new long[] {now + 2, 1});
                    later.add(new long[] {now + 1000, 1});
                    later.add(new long[] {now + 1001, 1});
                }
            }
            if (queue.isEmpty()) {
                work = Math.min(work, 1); // an idle server banks no capacity
            }
            if (now % OverloadGuard.TICK_MS == 0) {
                int head = queue.isEmpty() ? 0 : (int) (now - queue.peek()[0]);
                double before = p;
                p = g.step(SETTINGS, head, queue.size());
                if (before == 0 && p > 0 && Boolean.getBoolean("sim.trace")) {
                    System.out.println("episode at " + now + " ms, delay " + head + ", depth " + queue.size());
                }
            }
        }
        return new Run(offered, admitted, shed, late, maxDelay, shedPerSecond);
    }

    static final double CAPACITY_UNITS = 10_000;
    /** Calls/s the simulated node carries: capacity over units per call. */
    static final double CAPACITY_CALLS = CAPACITY_UNITS / UNITS_PER_CALL;

    @Test
    void belowCapacityWithStallsNothingIsShed() {
        // 90 % of capacity, and every 3 s the node stalls for 100 ms (a GC pause, a compile, a neighbour on the CPU)
        Run r = simulate(30, t -> 0.9 * CAPACITY_CALLS, t -> (t % 3.0) < 0.1 ? 0 : CAPACITY_UNITS);
        System.out.println("90 % with stalls: " + r);
        assertEquals(0, r.shed(), "shed below capacity");
        assertEquals(0, r.late());
    }

    @Test
    void atTwiceCapacityGoodputHoldsAndOnlyTheExcessIsShed() {
        Run r = simulate(30, t -> 2 * CAPACITY_CALLS, t -> CAPACITY_UNITS);
        double goodput = (r.admitted() - r.late()) / 30.0;
        System.out.printf("2x: goodput %.0f of %.0f calls/s, shed %.1f %%, max delay %d ms%n", goodput, CAPACITY_CALLS,
                100 * r.shedShare(), r.maxDelayMs());
        assertTrue(goodput >= 0.9 * CAPACITY_CALLS, "goodput " + goodput);
        assertTrue(r.shedShare() > 0.4 && r.shedShare() < 0.6, "a proportion, not all: " + r.shedShare());
        assertTrue(r.maxDelayMs() < 500, "callers would retransmit: " + r.maxDelayMs());
        for (int s = 2; s < 30; s++) {
            assertTrue(r.shedPerSecond()[s] < 0.8 * 2 * CAPACITY_CALLS, "second " + s + " shed almost all");
        }
    }

    @Test
    void aFloodOfFiveTimesCapacityDoesNotCollapse() {
        Run r = simulate(30, t -> 5 * CAPACITY_CALLS, t -> CAPACITY_UNITS);
        double goodput = (r.admitted() - r.late()) / 30.0;
        System.out.printf("5x: goodput %.0f of %.0f calls/s, shed %.1f %%, late %d, max delay %d ms%n", goodput,
                CAPACITY_CALLS, 100 * r.shedShare(), r.late(), r.maxDelayMs());
        // every shed call costs SHED_COST of a message: at 5x the refusals alone take 20 % of the capacity
        assertTrue(goodput >= 0.6 * CAPACITY_CALLS, "goodput " + goodput);
        assertTrue(r.maxDelayMs() < 1000, "max delay " + r.maxDelayMs());
    }

    @Test
    void rampUpToTwiceCapacityAndBack() {
        // 300 -> 1,000 -> capacity -> 2 x capacity -> 300 calls/s on a node carrying ~1,667, 10 s each
        double[] steps = {300, 1000, CAPACITY_CALLS * 0.97, 2 * CAPACITY_CALLS, 300};
        Run r = simulate(50, t -> steps[(int) Math.min(4, t / 10)], t -> CAPACITY_UNITS);
        long[] s = r.shedPerSecond();
        long inFirstThree = 0, inLast = 0, inDouble = 0;
        for (int i = 0; i < 30; i++) {
            inFirstThree += s[i];
        }
        for (int i = 30; i < 40; i++) {
            inDouble += s[i];
        }
        for (int i = 41; i < 50; i++) {
            inLast += s[i];
        }
        System.out.printf("ramp: shed below and at capacity %d, at 2x %d, back at 300 (after 1 s) %d%n", inFirstThree,
                inDouble, inLast);
        assertEquals(0, inFirstThree);
        assertTrue(inDouble > 0);
        assertEquals(0, inLast, "still shedding once the load fell");
        assertEquals(0, r.late());
    }

    @Test
    void coldNodeShedsOnlyItsDeficit() {
        // the capacity grows from 40 % to all of it over 10 s (the JIT compiling) under 80 % of the warm capacity
        Run r = simulate(20, t -> 0.8 * CAPACITY_CALLS, t -> CAPACITY_UNITS * Math.min(1, 0.4 + 0.06 * t));
        // calls the node could not carry while cold: offered minus what its capacity allowed
        double deficit = 0;
        for (double t = 0; t < 20; t += 0.001) {
            double cap = CAPACITY_CALLS * Math.min(1, 0.4 + 0.06 * t);
            deficit += Math.max(0, 0.8 * CAPACITY_CALLS - cap) / 1000;
        }
        System.out.printf("cold: shed %d, deficit %.0f, late %d%n", r.shed(), deficit, r.late());
        assertTrue(r.shed() < 1.5 * deficit + 200, "shed " + r.shed() + " for a deficit of " + deficit);
        long afterWarm = 0;
        for (int i = 12; i < 20; i++) {
            afterWarm += r.shedPerSecond()[i];
        }
        assertEquals(0, afterWarm, "shed once warm");
        assertEquals(0, r.late());
    }

    @Test
    void hardBoundsShedEverythingAndRetransmissionsOfAdmittedInvitesPass() {
        int[] depth = {0};
        OverloadGuard g = new OverloadGuard(new OverloadGuard.Settings(30, 100, 100, 1000), () -> 0, () -> depth[0], () -> 0);
        int admittedCall = OverloadGuard.hash("a-1@sipp");
        assertFalse(g.shedNew(admittedCall));
        depth[0] = 100;
        g.tick();
        assertEquals(1.0, g.shedProbability());
        assertTrue(g.shedNew(OverloadGuard.hash("b-2@sipp")));
        assertFalse(g.shedNew(admittedCall), "a retransmission of an admitted INVITE was shed");
        depth[0] = 0;
        g.tick();
        assertFalse(g.shedNew(OverloadGuard.hash("c-3@sipp")));
        assertEquals(1, g.shed.get());
    }

    @Test
    void aDelayThatDoesNotStandShedsNothing() {
        OverloadGuard g = new OverloadGuard(SETTINGS, () -> 0, () -> 0, () -> 0);
        for (int i = 0; i < 9; i++) {
            assertEquals(0, g.step(SETTINGS, 200 - 10 * i, 100)); // 90 ms far above target, then it drains
        }
        assertEquals(0, g.step(SETTINGS, 0, 0));
        for (int i = 0; i < 9; i++) {
            assertEquals(0, g.step(SETTINGS, 50 + i, 50));
        }
        assertTrue(g.step(SETTINGS, 60, 50) > 0, "a delay standing (growing) for the whole interval must act");
        OverloadGuard danger = new OverloadGuard(SETTINGS, () -> 0, () -> 0, () -> 0);
        assertTrue(danger.step(SETTINGS, OverloadGuard.DANGER_MS, 0) > 0, "near T1 it acts at once");
    }
}
