package org.openrm.health.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStateEvent;
import org.openrm.sip.internal.Sipp;

/** Health under call load, with a thousand media servers, and with openrm pushed past its capacity. */
class HealthUnderLoadTest {

    @Test
    void killedServerLeavesRotationAndComesBack() throws Exception {
        int p = Sipp.freePort();
        int a = Sipp.freePort();
        int b = Sipp.freePort();
        int uacPort = Sipp.freePort();
        int interval = 1000;
        Map<String, Object> sip = Map.of("invite.timeout.ms", 1000);
        Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1");
        try (Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             HealthUnderTest h = new HealthUnderTest(p, HealthEndToEndTest.group(Map.of("mcp-a", a, "mcp-b", b), interval, 500), sip)) {
            Sipp.awaitBound(a, b);
            HealthUnderTest.await(() -> h.health.names().size() == 2, 3000, () -> "not synced");
            // 100 calls/s held 1 s for 25 s; a call that waits 5 s for a message fails
            try (Sipp uac = Sipp.start("uac", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uacPort), "-t", "u1", "-s", "5551234", "-m", "2500", "-r", "100", "-d", "1000",
                    "-recv_timeout", "5000", "127.0.0.1:" + p)) {
                Thread.sleep(6000);
                int onA = h.rm.ledger.inUse("mcp-a");
                mcpA.kill();
                long killedAt = System.currentTimeMillis();
                long down = h.await("mcp-a", ResourceState.DOWN, 5000);
                Thread.sleep(7000);
                long lastToDead = h.lastRouted.getOrDefault("mcp-a", 0L) - killedAt;
                mcpA = Sipp.uas("mcp-a2", "uas.xml", a, "u1");
                long restartedAt = System.currentTimeMillis();
                HealthUnderTest.await(() -> h.lastRouted.getOrDefault("mcp-a", 0L) > restartedAt, interval + 3000,
                        () -> "no call reached the restarted mcp-a");
                long back = h.lastRouted.get("mcp-a") - restartedAt;
                uac.await(90);
                long failed = uac.stat("FailedCall(C)");
                long ok = uac.stat("SuccessfulCall(C)");
                System.out.printf("health under load: %d calls on mcp-a at the kill, down after %d ms, last call routed to it "
                        + "%d ms after the kill, first call after restart %d ms, calls ok %d failed %d%n",
                        onA, down, lastToDead, back, ok, failed);
                assertTrue(lastToDead <= 5000, "no new call to the dead server more than 5 s after the kill: " + lastToDead);
                assertTrue(back <= interval + 1000, "calls return within about one interval: " + back);
                // failed calls are those held on mcp-a at the kill (their BYE has nowhere to go), give or take the
                // calls set up in the instant of the kill
                assertTrue(failed <= onA + 20, "failed " + failed + " vs " + onA + " held on mcp-a at the kill");
                assertEquals(2500, ok + failed);
            }
        } finally {
            mcpA.close();
        }
    }

    @Test
    void thousandServersArePingedEvenly() throws Exception {
        int p = Sipp.freePort();
        int interval = 2000;
        List<Sipp> uas = new ArrayList<>();
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("monitor.interval.ms", interval, "monitor.timeout.ms", 1000));
        try {
            int[] ports = new int[4];
            for (int i = 0; i < ports.length; i++) {
                ports[i] = Sipp.freePort();
                uas.add(Sipp.start("opt" + i, "-sf", Sipp.SCENARIOS.resolve("uas.xml").toString(), "-i", "127.0.0.1",
                        "-p", Integer.toString(ports[i]), "-t", "u1", "-buff_size", "4194304"));
            }
            for (int i = 0; i < 1000; i++) {
                c.put("org.openrm.resource~r" + i, Map.of("lrg", "default", "capacity", 10,
                        "uri", "sip:r" + i + "@127.0.0.1:" + ports[i % ports.length]));
            }
            try (HealthUnderTest h = new HealthUnderTest(p, c, Map.of())) {
                Sipp.awaitBound(ports);
                HealthUnderTest.await(() -> h.health.names().size() == 1000, 5000, () -> "not synced");
                Thread.sleep(interval); // the first round
                var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
                long cpu0 = os.getProcessCpuTime();
                long t0 = System.currentTimeMillis();
                int from = h.pingTimes.size();
                Thread.sleep(5L * interval);
                long cpu = os.getProcessCpuTime() - cpu0;
                long wall = System.currentTimeMillis() - t0;
                List<Long> times;
                synchronized (h.pingTimes) {
                    times = new ArrayList<>(h.pingTimes.subList(from, h.pingTimes.size()));
                }
                TreeMap<Long, Integer> per100ms = new TreeMap<>();
                for (long t : times) {
                    per100ms.merge(t / 100, 1, Integer::sum);
                }
                int max = per100ms.values().stream().mapToInt(Integer::intValue).max().orElse(0);
                double expected = 1000.0 / interval * 100;
                long notInService = h.rm.states.snapshot().values().stream().filter(s -> s.state() != ResourceState.IN_SERVICE).count();
                System.out.printf("1000 resources, interval %d ms: %d pings in %d ms, at most %d per 100 ms (even: %.0f), "
                        + "process CPU %.1f %% of one core (%d ms CPU), %d not in service, guard held %d%n",
                        interval, times.size(), wall, max, expected, 100.0 * cpu / 1e6 / wall, cpu / 1_000_000,
                        notInService, h.health.stats.guardHeld.get());
                assertTrue(times.size() >= 4500, "about 1000 pings per interval: " + times.size());
                assertTrue(max <= 3 * expected, "pings spread over the interval, not in bursts: max " + max + " per 100 ms");
                assertEquals(0, notInService, "every answering server in service");
                assertTrue(h.events.stream().map(ResourceStateEvent::to).noneMatch(s -> s == ResourceState.DOWN));
            }
        } finally {
            uas.forEach(Sipp::close);
        }
    }
}
