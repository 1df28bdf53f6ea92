package org.openrm.billing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.openrm.sip.internal.Sipp;

/** Real sipp calls, a real ActiveMQ broker with a persistent store, and billing in between. */
class BillingEndToEndTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A record as the broker received it, read by a real JSON parser (not the one billing writes with). */
    static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }

    static long num(String json, String key) {
        JsonNode n = parse(json).get(key);
        if (n == null || !n.isIntegralNumber()) {
            throw new AssertionError(key + " is not a number in " + json);
        }
        return n.asLong();
    }

    /** A string field; null when the field is null or absent. */
    static String text(String json, String key) {
        JsonNode n = parse(json).get(key);
        return n == null || n.isNull() ? null : n.asText();
    }

    /** CDRs by session id, first copy kept; fails if the first copies are not in increasing seq order. */
    static Map<String, String> dedupInOrder(List<String> cdrs) {
        Map<String, String> out = new LinkedHashMap<>();
        long last = -1;
        for (String c : cdrs) {
            String id = text(c, "sessionId");
            if (out.putIfAbsent(id, c) == null) {
                long seq = num(c, "seq");
                assertTrue(seq > last, "order kept: seq " + seq + " after " + last);
                last = seq;
            }
        }
        return out;
    }

    static Sipp uac(int port, int proxy, int calls, int rate, int holdMs) throws Exception {
        return Sipp.start("uac", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1", "-p",
                Integer.toString(port), "-t", "u1", "-s", "5551234", "-m", Integer.toString(calls), "-r",
                Integer.toString(rate), "-d", Integer.toString(holdMs), "-l", Integer.toString(rate * 10),
                "127.0.0.1:" + proxy);
    }

    @Test
    void everyCallHasOneCdrWithItsFields() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        try (TestBroker broker = new TestBroker().start();
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             BillingUnderTest rm = new BillingUnderTest(p, a, b, broker.url(), Map.of())) {
            Sipp.awaitBound(a, b);
            long t0 = System.currentTimeMillis();
            try (Sipp calls = uac(c, p, 200, 50, 500)) {
                assertEquals(0, calls.await(60), calls.errors());
            }
            rm.rm.awaitIdle();
            List<String> cdrs = BillingUnderTest.cdrs(broker.drain("openrm.cdr", 200, 20_000));
            assertEquals(200, cdrs.size(), "exactly one CDR per call");
            Map<String, String> byId = dedupInOrder(cdrs);
            assertEquals(200, byId.size(), "no duplicates");
            Set<String> callIds = new HashSet<>();
            Map<String, Integer> perResource = new java.util.HashMap<>();
            for (String cdr : cdrs) {
                assertEquals(1, num(cdr, "schema"));
                assertEquals(7, num(cdr, "nodeId"));
                assertTrue(callIds.add(text(cdr, "callId")), "one CDR per Call-ID");
                assertEquals("5551234", text(cdr, "dnis"));
                assertEquals("sipp", text(cdr, "ani"));
                assertEquals("acme-sales", text(cdr, "tenant"));
                assertTrue(cdr.contains("\"tenants\":[{\"name\":\"acme-sales\",\"usage\":"), cdr);
                assertTrue(cdr.contains("{\"name\":\"acme\",\"usage\":"), cdr);
                assertTrue(cdr.contains("\"burstLevel\":1"), cdr);
                assertEquals("welcome", text(cdr, "profile"));
                assertEquals("voicexml", text(cdr, "service"));
                assertEquals("default", text(cdr, "resourceGroup"));
                perResource.merge(text(cdr, "resource"), 1, Integer::sum);
                assertEquals("caller-bye", text(cdr, "endReason"));
                assertEquals(200, num(cdr, "finalCode"));
                assertEquals(1, num(cdr, "attempts"));
                long received = num(cdr, "receivedAt"), answered = num(cdr, "answeredAt"), ended = num(cdr, "endedAt");
                assertTrue(t0 <= received && received <= answered && answered <= ended, cdr);
                long duration = num(cdr, "durationMs");
                assertEquals(ended - answered, duration);
                assertTrue(duration >= 450 && duration < 3000, "held ~500 ms: " + cdr);
            }
            assertEquals(Set.of("mcp-a", "mcp-b"), perResource.keySet());
            assertEquals(200, rm.billing.status().delivered() - statsDelivered(rm));
        }
    }

    private static long statsDelivered(BillingUnderTest rm) {
        return rm.billing.statsRecords.get();
    }

    @Test
    void rejectedCallsAndStatisticsAreReported() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        try (TestBroker broker = new TestBroker().start();
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             BillingUnderTest rm = new BillingUnderTest(p, a, b, broker.url(), Map.of())) {
            Sipp.awaitBound(a, b);
            // 20 calls to a number no profile has: 404, reported as rejected
            try (Sipp calls = Sipp.start("uac404", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(c), "-t", "u1", "-s", "999", "-m", "20", "-r", "20", "127.0.0.1:" + p)) {
                calls.await(30);
            }
            // 3 calls held 1.5 s, 5 a second, to a tenant with room for one: the others rejected at its limit
            try (Sipp calls = Sipp.start("uacLimit", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(Sipp.freePort()), "-t", "u1", "-s", "5550000", "-m", "3", "-r", "5", "-d", "1500",
                    "127.0.0.1:" + p)) {
                calls.await(30);
            }
            try (Sipp calls = uac(Sipp.freePort(), p, 30, 30, 1500)) {
                assertEquals(0, calls.await(60), calls.errors());
            }
            List<String> all = broker.drain("openrm.cdr", 53, 20_000);
            List<String> rejected = all.stream().filter(x -> "rejected".equals(text(x, "endReason"))
                    && "999".equals(text(x, "dnis"))).toList();
            assertEquals(20, rejected.size(), all.toString());
            assertEquals(404, num(rejected.get(0), "finalCode"));
            assertEquals(null, text(rejected.get(0), "tenant"), "a call mapped to no profile names none");
            List<String> atLimit = all.stream().filter(x -> "rejected".equals(text(x, "endReason"))
                    && "5550000".equals(text(x, "dnis"))).toList();
            assertEquals(2, atLimit.size(), all.toString());
            assertEquals(503, num(atLimit.get(0), "finalCode"));
            assertEquals("small", text(atLimit.get(0), "tenant"), atLimit.get(0));
            assertEquals("tiny", text(atLimit.get(0), "profile"), atLimit.get(0));
            JsonNode tenants = parse(atLimit.get(0)).path("tenants");
            assertEquals("small", tenants.path(0).path("name").asText(), atLimit.get(0));
            assertEquals(1, tenants.path(0).path("usage").asInt(), atLimit.get(0));
            // statistics every 2 s: the 30 calls arrived, up to 30 at once
            Thread.sleep(2500);
            List<String> stats = broker.drain("openrm.stats", 100, 3000);
            assertTrue(!stats.isEmpty());
            long arrivals = 0, peak = 0;
            for (String s : stats) {
                JsonNode w = parse(s).path("profiles").path("welcome");
                if (!w.isMissingNode()) {
                    arrivals += w.path("arrivals").asLong();
                    peak = Math.max(peak, w.path("peakConcurrent").asLong());
                }
            }
            System.out.printf("statistics: %d records, welcome arrivals %d, peak %d%n", stats.size(), arrivals, peak);
            assertEquals(30, arrivals);
            assertTrue(peak >= 20 && peak <= 30, "peak " + peak);
        }
    }

    @Test
    void brokerDownForAMinuteLosesNothing() throws Exception {
        int outageS = Integer.getInteger("openrm.billing.outage.s", 60);
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        int rate = 20;
        int calls = rate * (outageS + 15);
        try (TestBroker broker = new TestBroker().start();
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             BillingUnderTest rm = new BillingUnderTest(p, a, b, broker.url(), Map.of())) {
            Sipp.awaitBound(a, b);
            try (Sipp uac = uac(c, p, calls, rate, 500)) {
                Thread.sleep(5000);
                broker.stop();
                BillingService.Status before = rm.billing.status();
                long deliveredBefore = before.delivered();
                Thread.sleep(outageS * 1000L);
                BillingService.Status during = rm.billing.status();
                assertTrue(!during.connected() && during.spoolBytes() > 0, "spooling while the broker is down: " + during);
                // back-off 0.5 s, then retry.max.s (1 s here): one attempt a second, not one per fsync (every 10 ms)
                long attempts = during.connectAttempts() - before.connectAttempts();
                assertTrue(attempts <= outageS + 4, attempts + " connection attempts in a " + outageS + " s outage");
                broker.start();
                assertEquals(0, uac.await(120), uac.errors());
                System.out.printf("broker outage %d s: %d delivered before, spool %d KB during, calls %d, %d connection attempts%n",
                        outageS, deliveredBefore, during.spoolBytes() / 1024, calls, attempts);
            }
            rm.rm.awaitIdle();
            List<String> cdrs = BillingUnderTest.cdrs(broker.drain("openrm.cdr", calls, 60_000));
            Map<String, String> unique = dedupInOrder(cdrs);
            System.out.printf("after the outage: %d CDRs received, %d unique (%d duplicates)%n", cdrs.size(),
                    unique.size(), cdrs.size() - unique.size());
            assertEquals(calls, unique.size(), "every call has its CDR");
        }
    }

    @Test
    void billingRestartedUnderLoadWithAFullSpoolLosesNothing() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        int calls = 600;
        try (TestBroker broker = new TestBroker();
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             BillingUnderTest rm = new BillingUnderTest(p, a, b, broker.url(), Map.of())) {
            Sipp.awaitBound(a, b);
            // the broker is down from the start; billing is restarted twice while calls keep ending
            try (Sipp uac = uac(c, p, calls, 40, 300)) {
                for (int i = 0; i < 2; i++) {
                    Thread.sleep(4000);
                    rm.stopBilling();
                    Thread.sleep(1000); // endings in this gap wait in the session store of the api bundle
                    long[] held = rm.rm.store.heldForDurableListener();
                    assertTrue(held[0] > 0 && held[1] == 0, "endings held while billing is away: " + held[0]);
                    rm.startBilling();
                    assertEquals(0, rm.rm.store.heldForDurableListener()[0], "handed to the new billing");
                }
                assertEquals(0, uac.await(120), uac.errors());
            }
            rm.rm.awaitIdle();
            broker.start();
            List<String> cdrs = BillingUnderTest.cdrs(broker.drain("openrm.cdr", calls, 60_000));
            Map<String, String> unique = dedupInOrder(cdrs);
            assertEquals(calls, unique.size(), "every call has its CDR across two restarts of billing");
            assertEquals(calls, cdrs.size(), "and none twice");
        }
    }

    @Test
    void fullSpoolRaisesAnAlarmKeepsTheOldestAndCountsTheRest() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        try (TestBroker broker = new TestBroker();
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1"); Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1");
             BillingUnderTest rm = new BillingUnderTest(p, a, b, broker.url(),
                     Map.of("spool.max.mb", 1, "spool.segment.mb", 1, "stats.interval.s", 3600))) {
            List<org.openrm.api.Alarm> alarms = new java.util.concurrent.CopyOnWriteArrayList<>();
            rm.billing.addAlarmListener(alarms::add);
            Sipp.awaitBound(a, b);
            int calls = 2500; // ~800 bytes a CDR: about 1,300 fit in 1 MB
            try (Sipp uac = uac(c, p, calls, 250, 0)) {
                assertEquals(0, uac.await(120), "calls never wait for billing: " + uac.errors());
            }
            rm.rm.awaitIdle();
            BillingService.Status full = rm.billing.status();
            assertTrue(full.spoolFull() && full.dropped() > 0, full.toString());
            assertEquals(calls, full.cdrs() + full.dropped(), "every ending either spooled or counted");
            long end = System.currentTimeMillis() + 2000;
            while (alarms.isEmpty() && System.currentTimeMillis() < end) {
                Thread.sleep(20);
            }
            assertTrue(alarms.get(0).raised() && alarms.get(0).name().equals("spool-full"), alarms.toString());
            broker.start();
            List<String> cdrs = BillingUnderTest.cdrs(broker.drain("openrm.cdr", (int) full.cdrs(), 60_000));
            assertEquals(full.cdrs(), cdrs.size(), "the records kept are delivered");
            List<String> ids = new ArrayList<>(dedupInOrder(cdrs).keySet());
            assertNotNull(ids.get(0));
            end = System.currentTimeMillis() + 5000;
            while (alarms.size() < 2 && System.currentTimeMillis() < end) {
                Thread.sleep(20);
            }
            assertTrue(alarms.size() >= 2 && !alarms.get(1).raised(), "alarm cleared once delivered: " + alarms);
            System.out.printf("spool full: %d CDRs spooled, %d dropped and counted, alarm %s%n", full.cdrs(),
                    full.dropped(), alarms.get(0).text());
        }
    }
}
