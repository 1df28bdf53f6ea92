package org.openrm.health.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceState;
import org.openrm.sip.internal.Sipp;

/**
 * openrm driven far past its capacity (sipp offering several times what this JVM, untuned and sharing two cores
 * with sipp, can proxy): openrm sheds calls and its own queues run late, and the healthy media servers must
 * stay in service.
 */
class OverloadGuardTest {

    @Test
    void healthyServersStayInServiceWhileOpenrmIsOverloaded() throws Exception {
        int p = Sipp.freePort();
        int a = Sipp.freePort();
        int b = Sipp.freePort();
        int uacPort = Sipp.freePort();
        int rate = Integer.getInteger("openrm.overload.rate", 4000);
        // tight monitoring: a 300 ms timeout is what an overloaded openrm misses first
        var cfg = HealthEndToEndTest.group(Map.of("mcp-a", a, "mcp-b", b), 1000, 300);
        // three failures in a row take a server down: a stray late answer from a media server that shares these two
        // cores with a flooding sipp is not what this test is about; without the guard dozens of timeouts count
        cfg.put("org.openrm.lrg~default", new HashMap<>(cfg.get("org.openrm.lrg~default")));
        cfg.get("org.openrm.lrg~default").put("monitor.down.after", 3);
        try (Sipp mcpA = Sipp.start("mcp-a", "-sf", Sipp.SCENARIOS.resolve("uas.xml").toString(), "-i", "127.0.0.1",
                     "-p", Integer.toString(a), "-t", "u1", "-buff_size", "4194304");
             Sipp mcpB = Sipp.start("mcp-b", "-sf", Sipp.SCENARIOS.resolve("uas.xml").toString(), "-i", "127.0.0.1",
                     "-p", Integer.toString(b), "-t", "u1", "-buff_size", "4194304");
             HealthUnderTest h = new HealthUnderTest(p, cfg, Map.of("warmup.messages", 0))) {
            Sipp.awaitBound(a, b);
            HealthUnderTest.await(() -> h.health.names().size() == 2, 3000, () -> "not synced");
            HealthUnderTest.await(() -> "200".equals(HealthEndToEndTest.probe(h, "mcp-a")), 3000, () -> "no answer");
            // the SIP Server's sipp runs at the lowest priority: openrm and the media servers get the CPU first, so
            // what saturates is openrm, not the media servers (which in production do not share its cores)
            try (Sipp uac = Sipp.startNice("uac", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uacPort), "-t", "u1", "-s", "5551234", "-m", Integer.toString(rate * 15),
                    "-r", Integer.toString(rate), "-d", "1000", "-l", Integer.toString(rate * 4), "-buff_size", "4194304",
                    "-recv_timeout", "8000", "127.0.0.1:" + p)) {
                uac.await(120);
                long ok = uac.stat("SuccessfulCall(C)");
                long failed = uac.stat("FailedCall(C)");
                long shed = h.rm.stack.overloadRejects.get();
                System.out.printf("overload guard: offered %d calls/s for 15 s: ok %d, failed %d, shed with 503 %d; "
                        + "probes %d, probe failures counted %d, timeouts held by the guard %d, transitions %s%n",
                        rate, ok, failed, shed, h.health.stats.probes.get(), h.health.stats.probeFailures.get(),
                        h.health.stats.guardHeld.get(), h.events);
                assertTrue(shed > 0 || failed > 0, "openrm was not pushed past its capacity; raise openrm.overload.rate");
            }
            for (String r : List.of("mcp-a", "mcp-b")) {
                assertTrue(h.path(r).stream().noneMatch(s -> s == ResourceState.DOWN), r + " went down: " + h.path(r));
                assertEquals(ResourceState.IN_SERVICE, h.state(r));
            }
        }
    }
}
