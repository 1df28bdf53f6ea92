package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Service selection and tenant policy through the whole call path, with sipp peers. */
class ServiceSelectionEndToEndTest {

    @BeforeAll
    static void sippPresent() throws Exception {
        SippEndToEndTest.sippPresent();
    }

    private static Map<String, Map<String, Object>> platform(int mcp, int tenantLimit) {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.tenant~acme", Map.of("limit", tenantLimit, "reject.code", 486, "reject.reason", "Tenant Busy"));
        c.put("org.openrm.profile~welcome", Map.of("tenant", "acme", "service", "voicexml",
                "url", "http://apps.example/welcome.vxml?lang=en", "dids", "5551234", "param.language", "en"));
        c.put("org.openrm.lrg~default", Map.of("services", "voicexml"));
        c.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + mcp, "capacity", 500));
        return c;
    }

    @Test
    void didSelectsTheProfileAndTheMediaServerGetsItsRfc4240RequestUri() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, platform(mcp, 1000), Map.of());
             Sipp vxml = Sipp.uas("mcp-vxml", "uas-vxml.xml", mcp, "u1")) {
            Sipp.awaitBound(mcp);
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 50, 25, 300); // dials 5551234
            assertEquals(0, uac.await(60), uac.errors() + vxml.errors());
            assertEquals(50, uac.stat("SuccessfulCall(C)"));
            rm.awaitIdle();
        }
    }

    @Test
    void inviteFromAMediaServerInsideASessionGoesToTheSipServerWithoutANewSelection() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), sipServer = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, platform(mcp, 1000), Map.of("sipserver.uri", "sip:127.0.0.1:" + sipServer));
             Sipp media = Sipp.uas("mcp-vxml", "uas-vxml.xml", mcp, "u1");
             Sipp sipServerUas = Sipp.uas("sipserver-uas", "uas.xml", sipServer, "u1");
             RawSip mcpLeg = new RawSip()) {
            Sipp.awaitBound(mcp, sipServer);
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 1, 1, 6000); // one call, held 6 s
            long end = System.currentTimeMillis() + 5000;
            while (rm.store.size() == 0 && System.currentTimeMillis() < end) {
                Thread.sleep(20);
            }
            String id = rm.store.sessions().iterator().next().id();
            // the media server places an outbound leg of that session (to a number that has no profile)
            mcpLeg.send(RawSip.request("INVITE", "sip:5550000@127.0.0.1:" + p, mcpLeg.port(), 70,
                    "X-Genesys-GVP-Session-ID: " + id + ";gvp.rm.datanodes=node-id=1\n"), p);
            mcpLeg.expect("200 OK"); // answered by the sipp SIP Server, which checked Record-Route and the header
            assertEquals(1, rm.proxy.stats.mediaServerOriginated.get());
            assertEquals(1, rm.store.size(), "the leg is not a new session");
            assertEquals(1, rm.ledger.inUse("mcp"), "the leg takes no port");
            assertEquals(0, uac.await(30), uac.errors());
            rm.awaitIdle();
        }
    }

    @Test
    void registeredMediaServerTakesCallsUntilItsBindingExpires() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), c = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = new HashMap<>();
        cfg.put("org.openrm.lrg~default", Map.of());
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of(), Map.of("embedded.defaults", "false"));
             Sipp media = Sipp.uas("mcp-registered", "uas.xml", mcp, "u1");
             RawSip registrar = new RawSip()) {
            registrar.send(RawSip.request("INVITE", "sip:5551234@127.0.0.1:" + p, registrar.port(), 70, ""), p);
            registrar.expect("503"); // nothing registered yet
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70,
                    "Contact: <sip:127.0.0.1:" + mcp + ";lrg=default;capacity=50>;expires=3\n").replace(
                    "Contact: <sip:test@127.0.0.1:" + registrar.port() + ">\n", ""), p);
            String ok = registrar.expect("200 OK");
            long registeredAt = System.currentTimeMillis();
            assertTrue(ok.contains("expires=3"), ok);
            assertTrue(rm.routing.isMediaServer("127.0.0.1", mcp));
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 20, 20, 100);
            assertEquals(0, uac.await(30), uac.errors() + media.errors());
            // the binding lapses 3 s after the REGISTER (polled, at most 10 s); then calls find no media server
            long end = System.currentTimeMillis() + 10_000;
            while (rm.routing.isMediaServer("127.0.0.1", mcp) && System.currentTimeMillis() < end) {
                Thread.sleep(50);
            }
            assertTrue(System.currentTimeMillis() - registeredAt >= 2_900, "the binding lapsed early");
            registrar.send(RawSip.request("INVITE", "sip:5551234@127.0.0.1:" + p, registrar.port(), 70, ""), p);
            registrar.expect("503");
            rm.awaitIdle();
            // a REGISTER for a group that does not exist is refused
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70,
                    "Contact: <sip:127.0.0.1:" + mcp + ";lrg=nowhere>;expires=60\n").replace(
                    "Contact: <sip:test@127.0.0.1:" + registrar.port() + ">\n", ""), p);
            registrar.expect("404");
        }
    }

    @Test
    void registerWithoutContactListsTheBindingsAndAWildcardRemovesThem() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = new HashMap<>();
        cfg.put("org.openrm.lrg~default", Map.of());
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of(), Map.of("embedded.defaults", "false"));
             RawSip registrar = new RawSip()) {
            String noContact = "Contact: <sip:test@127.0.0.1:" + registrar.port() + ">\n";
            // a query before any binding: 200 without Contact
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70, "").replace(noContact, ""), p);
            String empty = registrar.expect("200 OK");
            assertTrue(!empty.toLowerCase().contains("\ncontact:") && !empty.contains("\nm:"), empty);
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70,
                    "Contact: <sip:127.0.0.1:" + mcp + ";lrg=default;capacity=50>;expires=60\n").replace(noContact, ""), p);
            registrar.expect("200 OK");
            // the query lists the binding with what is left of its expiry
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70, "").replace(noContact, ""), p);
            String listed = registrar.expect("200 OK");
            assertTrue(listed.contains("<sip:127.0.0.1:" + mcp + ">") && listed.matches("(?s).*expires=(60|59|58).*"), listed);
            // "Contact: *" needs Expires: 0
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70, "Contact: *\n")
                    .replace(noContact, ""), p);
            registrar.expect("400");
            assertTrue(rm.routing.isMediaServer("127.0.0.1", mcp));
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70, "Contact: *\nExpires: 0\n")
                    .replace(noContact, ""), p);
            registrar.expect("200 OK");
            long end = System.currentTimeMillis() + 5_000;
            while (rm.routing.isMediaServer("127.0.0.1", mcp) && System.currentTimeMillis() < end) {
                Thread.sleep(20);
            }
            assertTrue(!rm.routing.isMediaServer("127.0.0.1", mcp), "the wildcard removed the binding");
        }
    }

    @Test
    void registerFromAnUntrustedAddressGets403() throws Exception {
        int p = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = new HashMap<>();
        cfg.put("org.openrm.lrg~default", Map.of());
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of("trusted.peers", "10.0.0.0/8"));
             RawSip registrar = RawSip.stranger()) {
            registrar.send(RawSip.request("REGISTER", "sip:127.0.0.1:" + p, registrar.port(), 70, ""), p);
            registrar.expect("403");
        }
    }

    @Test
    void strictGeoLocationKeepsCallsInTheirLocation() throws Exception {
        int p = Sipp.freePort(), east = Sipp.freePort(), west = Sipp.freePort(), c = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = platform(east, 1000);
        cfg.put("org.openrm.lrg~default", Map.of("services", "voicexml", "geo", "east"));
        cfg.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + east, "capacity", 500));
        cfg.put("org.openrm.resource~mcp-west", Map.of("uri", "sip:127.0.0.1:" + west, "capacity", 500, "geo", "west"));
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of());
             Sipp mcpEast = Sipp.uas("mcp-east", "uas-vxml.xml", east, "u1");
             Sipp mcpWest = Sipp.uas("mcp-west", "uas-vxml.xml", west, "u1");
             RawSip ua = new RawSip()) {
            Sipp.awaitBound(east, west);
            Sipp uac = Sipp.start("sipserver-geo", "-sf", Sipp.SCENARIOS.resolve("uac-geo.xml").toString(), "-key", "geo", "west",
                    "-i", "127.0.0.1", "-p", Integer.toString(c), "-s", "5551234", "-m", "30", "-r", "30", "-d", "100",
                    "127.0.0.1:" + p);
            assertEquals(0, uac.await(60), uac.errors());
            assertEquals(30, rm.started("mcp-west"), "calls per media server: " + rm.started);
            assertEquals(0, rm.started("mcp"));
            ua.send(RawSip.request("INVITE", "sip:5551234@127.0.0.1:" + p, ua.port(), 70,
                    "X-Genesys-geo-location: south\nX-Genesys-strict-location: enforce\n"), p);
            ua.expect("480");
            rm.awaitIdle();
        }
    }

    @Test
    void legsOfOneConferenceMeetOnOneMediaServer() throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = new HashMap<>();
        cfg.put("org.openrm.profile~bridge", Map.of("service", "conference", "dids", "7000"));
        cfg.put("org.openrm.lrg~default", Map.of());
        cfg.put("org.openrm.resource~mcp-a", Map.of("uri", "sip:127.0.0.1:" + a, "capacity", 500));
        cfg.put("org.openrm.resource~mcp-b", Map.of("uri", "sip:127.0.0.1:" + b, "capacity", 500));
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of());
             Sipp mcpA = Sipp.uas("mcp-a", "uas.xml", a, "u1");
             Sipp mcpB = Sipp.uas("mcp-b", "uas.xml", b, "u1")) {
            Sipp.awaitBound(a, b);
            // 20 legs of conference 7000, held 3 s so they overlap: round-robin alone would split them
            Sipp uac = Sipp.start("sipserver-conf", "-sf", Sipp.SCENARIOS.resolve("uac.xml").toString(),
                    "-i", "127.0.0.1", "-p", Integer.toString(c), "-s", "7000", "-m", "20", "-r", "20", "-d", "3000",
                    "127.0.0.1:" + p);
            assertEquals(0, uac.await(60), uac.errors());
            assertTrue(rm.started("mcp-a") == 20 || rm.started("mcp-b") == 20, "legs per media server: " + rm.started);
            rm.awaitIdle();
        }
    }

    @Test
    void tenantAtItsLimitGetsTheConfiguredRejection() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, platform(Sipp.freePort(), 0), Map.of());
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("INVITE", "sip:5551234@127.0.0.1:" + p, ua.port(), 70, ""), p);
            String r = ua.expect("486");
            assertTrue(r.startsWith("SIP/2.0 486 Tenant Busy"), r);
            assertFalse(r.contains("Retry-After"), r);
            rm.awaitIdle();
        }
    }

    @Test
    void unknownNumberWithoutDefaultProfileGets404() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, platform(Sipp.freePort(), 10), Map.of());
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("INVITE", "sip:999@127.0.0.1:" + p, ua.port(), 70, ""), p);
            ua.expect("404");
            rm.awaitIdle();
        }
    }
}
