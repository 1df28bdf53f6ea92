package org.openrm.health.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStatus;
import org.openrm.sip.internal.Sipp;

/** Real sipp media servers that answer, fall silent, answer 503, die and come back; openrm's view of them. */
class HealthEndToEndTest {
    static final int INTERVAL = 500;
    static final int TIMEOUT = 300;
    static final int DOWN_AFTER = 2;

    static Map<String, Map<String, Object>> group(Map<String, Integer> servers, int interval, int timeout) {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("scheme", "round-robin", "max.attempts", 3, "monitor", "options",
                "monitor.interval.ms", interval, "monitor.timeout.ms", timeout, "monitor.down.after", DOWN_AFTER,
                "monitor.up.after", 1));
        servers.forEach((name, port) -> c.put("org.openrm.resource~" + name,
                Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + port, "capacity", 500)));
        return c;
    }

    @Test
    void statesFollowTheMediaServers() throws Exception {
        int p = Sipp.freePort();
        int a = Sipp.freePort();
        int q = Sipp.freePort();
        // what the issue promises: a change within down.after x interval + timeout; one interval of slack for
        // the phase of the probe schedule against the moment of the change
        long bound = (long) DOWN_AFTER * INTERVAL + TIMEOUT + INTERVAL;
        Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1");
        Sipp full = Sipp.uas("mcp-q", "options-503.xml", q, "u1");
        try (HealthUnderTest h = new HealthUnderTest(p, group(Map.of("mcp-a", a, "mcp-q", q), INTERVAL, TIMEOUT), Map.of())) {
            Sipp.awaitBound(a, q);
            HealthUnderTest.await(() -> "200".equals(probe(h, "mcp-a")), 3000, () -> "mcp-a never answered: " + probe(h, "mcp-a"));
            assertEquals(ResourceState.IN_SERVICE, h.state("mcp-a"));
            ResourceStatus s = h.rm.states.get("mcp-a");
            assertTrue(s.lastLatencyMs() >= 0 && s.lastLatencyMs() < TIMEOUT, "latency recorded: " + s);

            // 503 with Retry-After: 3 -> quarantined for 3 s, again and again while it says so
            h.await("mcp-q", ResourceState.QUARANTINED, INTERVAL + TIMEOUT + 500);
            ResourceStatus qs = h.rm.states.get("mcp-q");
            assertTrue(qs.quarantinedUntil() - qs.since() >= 2900, "Retry-After honoured: " + qs);

            // silent (SIGSTOP): suspect, then down
            mcpA.pause();
            long t0 = System.currentTimeMillis();
            h.await("mcp-a", ResourceState.DOWN, bound);
            long down = System.currentTimeMillis() - t0;
            h.awaitPath("mcp-a", List.of(ResourceState.SUSPECT, ResourceState.DOWN));
            mcpA.resume();
            long up = h.await("mcp-a", ResourceState.IN_SERVICE, INTERVAL + TIMEOUT + 500);

            // killed, then restarted on its port
            mcpA.kill();
            t0 = System.currentTimeMillis();
            h.await("mcp-a", ResourceState.DOWN, bound);
            long downKilled = System.currentTimeMillis() - t0;
            mcpA = Sipp.uas("mcp-a2", "uas.xml", a, "u1");
            Sipp.awaitBound(a);
            long upRestarted = h.await("mcp-a", ResourceState.IN_SERVICE, INTERVAL + TIMEOUT + 500);

            // the 503 server turns healthy: back in service once its Retry-After has passed
            full.kill();
            full = Sipp.uas("mcp-q2", "uas.xml", q, "u1");
            long back = h.await("mcp-q", ResourceState.IN_SERVICE, 3000 + INTERVAL + TIMEOUT + 1000);
            System.out.printf("health: silent->down %d ms, resumed->in-service %d ms, killed->down %d ms, "
                    + "restarted->in-service %d ms, 503 server healthy->in-service %d ms (bound %d ms)%n",
                    down, up, downKilled, upRestarted, back, bound);
            h.awaitPath("mcp-a", List.of(ResourceState.SUSPECT, ResourceState.DOWN, ResourceState.IN_SERVICE,
                    ResourceState.SUSPECT, ResourceState.DOWN, ResourceState.IN_SERVICE));
            assertTrue(h.events.stream().allMatch(e -> e.reason() != null && !e.reason().isEmpty()));
        } finally {
            mcpA.close();
            full.close();
        }
    }

    @Test
    void disabledServerIsDrainedNotCut() throws Exception {
        int p = Sipp.freePort();
        int a = Sipp.freePort();
        int b = Sipp.freePort();
        int uacPort = Sipp.freePort();
        try (Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             HealthUnderTest h = new HealthUnderTest(p, group(Map.of("mcp-a", a, "mcp-b", b), 1000, 500), Map.of())) {
            Sipp.awaitBound(a, b);
            HealthUnderTest.await(() -> h.health.names().size() == 2, 3000, () -> "not synced");
            // 40 calls held 4 s: some are on mcp-a when it is disabled, and must finish normally
            try (Sipp uac = Sipp.uac("uac", uacPort, p, "u1", 40, 20, 4000)) {
                HealthUnderTest.await(() -> h.rm.ledger.inUse("mcp-a") >= 5, 5000, () -> "no calls on mcp-a");
                assertTrue(h.health.setDisabled("mcp-a", true, "test"));
                long disabledAt = System.currentTimeMillis();
                assertEquals(ResourceState.OUT_OF_SERVICE, h.state("mcp-a"));
                assertEquals(0, uac.await(60), "every call succeeded, the drained ones too: " + uac.errors());
                assertTrue(h.lastRouted.getOrDefault("mcp-a", 0L) <= disabledAt, "no call to mcp-a after it was disabled");
            }
            assertTrue(h.health.setDisabled("mcp-a", false, "test"));
            assertEquals(ResourceState.IN_SERVICE, h.state("mcp-a"));
            h.awaitPath("mcp-a", List.of(ResourceState.OUT_OF_SERVICE, ResourceState.IN_SERVICE));
            h.rm.awaitIdle();
        }
    }

    static String probe(HealthUnderTest h, String r) {
        ResourceStatus s = h.rm.states.get(r);
        return s == null ? null : s.lastProbe();
    }
}
