package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramSocket;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * sipp as SIP Server (UAC) and as two media servers (UAS) around openrm's call path, on free loopback ports.
 */
class SippEndToEndTest {

    @BeforeAll
    static void sippPresent() throws Exception {
        boolean present;
        try {
            present = new ProcessBuilder("sipp", "-v").redirectErrorStream(true).start().waitFor() >= 0;
        } catch (java.io.IOException e) {
            present = false;
        }
        if (!present && System.getenv("CI") != null) {
            throw new AssertionError("sipp is not installed (Debian package sip-tester); .ci/run installs it");
        }
        Assumptions.assumeTrue(present, "sipp not installed");
    }

    private static Map<String, Map<String, Object>> twoMediaServers(int a, int b, String transport, int maxAttempts) {
        String suffix = transport.equals("t1") ? ";transport=tcp" : "";
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("scheme", "round-robin", "max.attempts", maxAttempts));
        c.put("org.openrm.resource~mcp-a", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + a + suffix, "capacity", 500));
        c.put("org.openrm.resource~mcp-b", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + b + suffix, "capacity", 500));
        return c;
    }

    private static void awaitTrue(String what, long millis, BooleanSupplier cond) throws InterruptedException {
        long end = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < end) {
            if (cond.getAsBoolean()) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("timed out after " + millis + " ms waiting for: " + what);
    }

    private void callsFlow(String transport) throws Exception {
        callsFlow(transport, false);
    }

    /**
     * Two sipp media servers on fresh ports, each listening before this returns. A sipp that does not bind its port
     * within 10 s (seen a few times in a full module run, never alone; its screen is printed) is replaced by one on
     * another port, twice at most.
     */
    private static Sipp[] twoListeningMediaServers(String transport) throws Exception {
        for (int attempt = 1; ; attempt++) {
            int a = Sipp.freePort(), b = Sipp.freePort();
            Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, transport);
            Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, transport);
            try {
                Sipp.awaitBound(a, transport);
                Sipp.awaitBound(b, transport);
                return new Sipp[] {mcpA, mcpB};
            } catch (AssertionError e) {
                System.out.printf("%s (attempt %d); sipp screens:%n%s%n%s%n", e.getMessage(), attempt,
                        Sipp.screen(mcpA), Sipp.screen(mcpB));
                mcpA.close();
                mcpB.close();
                if (attempt == 3) {
                    throw e;
                }
            }
        }
    }

    private void callsFlow(String transport, boolean rawRelay) throws Exception {
        Sipp[] mcps = twoListeningMediaServers(transport);
        int a = mcps[0].port, b = mcps[1].port;
        int p = Sipp.freePort(), c = Sipp.freePort();
        try (Sipp mcpA = mcps[0];
             Sipp mcpB = mcps[1];
             ProxyUnderTest rm = new ProxyUnderTest(p, twoMediaServers(a, b, transport, 3), Map.of("raw.relay", rawRelay))) {
            Sipp uac = Sipp.uac("sipserver", c, p, transport, 300, 60, 500);
            int rc = uac.await(90);
            assertEquals(0, rc, "sipp UAC failed calls: " + uac.errors() + mcpA.errors() + mcpB.errors());
            assertEquals(300, uac.stat("SuccessfulCall(C)"));
            assertEquals(0, uac.stat("FailedCall(C)"));
            // round-robin shares the calls between the two media servers
            assertEquals(300, rm.started("mcp-a") + rm.started("mcp-b"));
            assertTrue(rm.started("mcp-a") >= 140 && rm.started("mcp-b") >= 140,
                    "uneven share: " + rm.started);
            rm.awaitIdle();
            System.out.printf("%s: %d responses matched no transaction%n", transport, rm.proxy.stats.statelessResponses.get());
            assertEquals(300, rm.ended.get(org.openrm.api.EndReason.CALLER_BYE).get());
            long rawRequests = rm.proxy.counters().get("raw.relayed.requests");
            long rawResponses = rm.proxy.counters().get("raw.relayed.responses");
            if (rawRelay && !"u1".equals(transport)) {
                // over TCP: the ACKs and BYEs, and the answers to the BYEs, that came whole in one read of their
                // connection (nearly all) went on from their bytes, the rest through the stack
                long tcp = rm.proxy.counters().get("raw.relayed.tcp.requests");
                long tcpAnswers = rm.proxy.counters().get("raw.relayed.tcp.responses");
                System.out.printf("%s: %d of 600 ACK/BYE and %d of 300 answers relayed from their bytes%n", transport, tcp,
                        tcpAnswers);
                assertEquals(rawRequests, tcp);
                assertEquals(rawResponses, tcpAnswers);
                assertTrue(tcp >= 300 && tcp <= 600, "ACK and BYE relayed from their bytes over TCP: " + tcp);
                assertTrue(tcpAnswers >= 150 && tcpAnswers <= 300, "answers to BYE relayed from their bytes over TCP: " + tcpAnswers);
            } else if (rawRelay) {
                // every ACK and BYE (600), and every 200 to a BYE (300), went on from its bytes
                assertEquals(600, rawRequests, "ACK and BYE relayed from their bytes");
                assertEquals(300, rawResponses, "answers to BYE relayed from their bytes");
            } else {
                assertEquals(0, rawRequests + rawResponses);
            }
            // on the wire both ways, whichever path a message took (the stack, or the relay from bytes)
            String t = "u1".equals(transport) ? "udp" : "tcp";
            Map<String, Long> in = rm.proxy.received(), out = rm.proxy.sent();
            for (String m : new String[] {"INVITE", "ACK", "BYE"}) {
                assertTrue(in.getOrDefault(t + "." + m, 0L) >= 300, m + " received: " + in);
                assertTrue(out.getOrDefault(t + "." + m, 0L) >= 300, m + " sent: " + out);
            }
            // from the media servers at least 200 to each INVITE and to each BYE reach the proxy (a 180 the stack
            // takes for a late one is not handed over); to the caller 180, 200 and 200 to BYE go out on the wire
            assertTrue(in.getOrDefault(t + ".response", 0L) >= 600, "responses received: " + in);
            assertTrue(out.getOrDefault(t + ".response", 0L) >= 900, "responses sent: " + out);
        }
    }

    @Test
    void callsFlowOverUdp() throws Exception {
        callsFlow("u1");
    }

    @Test
    void callsFlowOverUdpRelayedFromBytes() throws Exception {
        callsFlow("u1", true);
    }

    @Test
    void callsFlowOverTcp() throws Exception {
        callsFlow("t1");
    }

    @Test
    void callsFlowOverTcpRelayedFromBytes() throws Exception {
        callsFlow("t1", true);
    }

    @Test
    void busyMediaServerSendsCallsToTheOther() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, twoMediaServers(a, b, "u1", 3), Map.of());
             Sipp busy = Sipp.uas("mcp-busy", "uas-486.xml", a, "u1");
             Sipp good = Sipp.uas("mcp-good", "uas.xml", b, "u1")) {
            Sipp.awaitBound(a, b);
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 100, 50, 200);
            assertEquals(0, uac.await(60), "failed calls: " + uac.errors());
            assertEquals(100, uac.stat("SuccessfulCall(C)"));
            assertTrue(rm.proxy.stats.failovers.get() > 0, "no failover happened");
            rm.awaitIdle();
        }
    }

    @Test
    void mediaServerAnswering503WithRetryAfterIsSkippedForThatLong() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, twoMediaServers(a, b, "u1", 3), Map.of());
             Sipp overloaded = Sipp.uas("mcp-503", "uas-503.xml", a, "u1");
             Sipp good = Sipp.uas("mcp-good", "uas.xml", b, "u1")) {
            Sipp.awaitBound(a, b);
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 60, 20, 200);
            assertEquals(0, uac.await(60), "failed calls: " + uac.errors());
            // the first INVITE to mcp-a got 503 + Retry-After: 60; it is not tried again during the run (a second call
            // may already be on its way to mcp-a when the first 503 comes back: seen once in a loaded module run)
            long failovers = rm.proxy.stats.failovers.get();
            assertTrue(failovers >= 1 && failovers <= 2, "failovers: " + failovers);
            assertTrue(rm.ledger.quarantinedUntil("mcp-a") > System.currentTimeMillis() + 30_000);
            rm.awaitIdle();
        }
    }

    @Test
    void killedMediaServerSendsNewCallsToTheOther() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        Map<String, Object> sip = Map.of("invite.timeout.ms", 1000, "failure.quarantine.ms", 60_000);
        try (ProxyUnderTest rm = new ProxyUnderTest(p, twoMediaServers(a, b, "u1", 3), sip);
             Sipp victim = Sipp.uas("mcp-victim", "uas.xml", a, "u1");
             Sipp survivor = Sipp.uas("mcp-survivor", "uas.xml", b, "u1")) {
            Sipp.awaitBound(a, b);
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 400, 40, 1000);
            awaitTrue("calls on the victim", 20_000, () -> rm.started("mcp-a") >= 40);
            victim.kill();
            long killedAt = System.currentTimeMillis();
            uac.await(120);
            long failed = uac.stat("FailedCall(C)");
            long ok = uac.stat("SuccessfulCall(C)");
            // only calls in progress on the victim at the kill may fail: 40 calls/s x ~1 s held, half on the victim
            assertTrue(failed <= 40, "failed calls: " + failed + "\n" + uac.errors());
            assertEquals(400, ok + failed);
            Long last = rm.lastStart.get("mcp-a");
            assertTrue(last == null || last < killedAt + 5_000,
                    "a new call went to the killed media server " + (last - killedAt) + " ms after the kill");
            rm.awaitIdle();
            System.out.printf("kill test: %d calls ok, %d failed (in flight on the killed media server)%n", ok, failed);
        }
    }
}
