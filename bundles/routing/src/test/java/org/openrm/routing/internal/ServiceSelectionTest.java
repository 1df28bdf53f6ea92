package org.openrm.routing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.CallRequest;
import org.openrm.api.RouteResult;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;

public class ServiceSelectionTest {
    final InMemoryResourceLedger ledger = new InMemoryResourceLedger();
    final InMemoryPolicyLedger policy = new InMemoryPolicyLedger();

    private static Model.ConfigEntry entry(String factory, String name, Map<String, Object> props) {
        return new Model.ConfigEntry(factory + "~" + name, factory, name, props);
    }

    /** Adds or replaces a configuration, keyed by its PID as Configuration Admin keys them. */
    private static void put(Map<String, Model.ConfigEntry> cfg, Model.ConfigEntry e) {
        cfg.put(e.pid(), e);
    }

    static Map<String, Model.ConfigEntry> platform() {
        Map<String, Model.ConfigEntry> m = new HashMap<>();
        for (Model.ConfigEntry e : List.of(
                entry(Model.TENANT_PID, "acme", Map.of("limit", 2, "burst.2", 3, "burst.3", 4,
                        "reject.code", 486, "reject.reason", "Tenant Busy")),
                entry(Model.TENANT_PID, "acme-sales", Map.of("parent", "acme", "limit", 10)),
                entry(Model.PROFILE_PID, "welcome", Map.of("tenant", "acme-sales", "service", "voicexml",
                        "url", "http://apps.example/welcome.vxml?lang=en&x=1", "dids", "5551234, 5551235",
                        "did.prefixes", "555", "param.language", "en")),
                entry(Model.PROFILE_PID, "promo", Map.of("tenant", "acme", "service", "announcement",
                        "url", "http://apps.example/promo.wav", "did.prefixes", "55512")),
                entry(Model.PROFILE_PID, "bridge", Map.of("service", "conference", "dids", "7000")),
                entry(Model.PROFILE_PID, "media", Map.of("service", "msml")),
                entry(Model.GROUP_PID, "default", Map.of()),
                entry(Model.RESOURCE_PID, "mcp", Map.of("uri", "sip:10.0.0.5:5070;transport=tcp", "capacity", 1000)))) {
            m.put(e.pid(), e);
        }
        return m;
    }

    RoutingEngine engine(Map<String, Model.ConfigEntry> cfg, String defaultProfile) {
        RoutingEngine.Config c = RoutingEngineTest.config(Map.of("default_profile", defaultProfile, "embedded_defaults", false));
        RoutingEngine e = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), RoutingEngineTest.noConfigAdmin(), c);
        e.apply(cfg);
        return e;
    }

    private static CallRequest call(String ruri, String dialled, Map<String, String> headers) {
        return new CallRequest("c-" + System.nanoTime(), ruri, dialled, "sip:a@x", "sip:b@y", headers, "");
    }

    private String profileOf(RoutingEngine e, CallRequest c) {
        RouteResult r = e.route(c);
        if (r instanceof RouteResult.Target t) {
            policy.release(t.selection().policyKeys());
            ledger.release(t.resource());
            return t.selection().profile();
        }
        return "reject " + ((RouteResult.Rejection) r).code();
    }

    @Test
    void selectionRulesApplyInOrder() {
        RoutingEngine e = engine(platform(), "media");
        // 1. gvp-tenant-id names the profile, whatever the number says
        assertEquals("promo", profileOf(e, call("sip:5551234@rm;gvp-tenant-id=promo", "5551234", Map.of())));
        // 1. with a profile header it names the tenant and the header the profile
        assertEquals("welcome", profileOf(e, call("sip:9@rm;gvp-tenant-id=acme-sales", "9",
                Map.of("x-genesys-gsw-ivr-profile-name", "welcome"))));
        assertEquals("reject 404", profileOf(e, call("sip:9@rm;gvp-tenant-id=acme", "9",
                Map.of("x-genesys-gsw-ivr-profile-name", "welcome"))));
        // 2. the headers alone
        assertEquals("promo", profileOf(e, call("sip:5551234@rm", "5551234", Map.of("x-genesys-gsw-ivr-profile-id", "promo"))));
        // 3. exact DID before any prefix, then the longest prefix
        assertEquals("welcome", profileOf(e, call("sip:5551234@rm", "5551234", Map.of())));
        assertEquals("promo", profileOf(e, call("sip:5551299@rm", "5551299", Map.of())));
        assertEquals("welcome", profileOf(e, call("sip:5559999@rm", "5559999", Map.of())));
        // 4. the default profile
        assertEquals("media", profileOf(e, call("sip:42@rm", "42", Map.of())));
        // unknown names are 404, never a silent default
        assertEquals("reject 404", profileOf(e, call("sip:42@rm;gvp-tenant-id=nope", "42", Map.of())));
        assertEquals("reject 404", profileOf(engine(platform(), ""), call("sip:42@rm", "42", Map.of())));
    }

    @Test
    void requestUrisFollowRfc4240AndEscapeTheirParameters() {
        RoutingEngine e = engine(platform(), "");
        RouteResult.Target t = (RouteResult.Target) e.route(call("sip:5551234@rm", "5551234", Map.of()));
        assertEquals("sip:dialog@10.0.0.5:5070;transport=tcp;voicexml=http://apps.example/welcome.vxml%3Flang%3Den&x%3D1;language=en",
                t.requestUri());
        t = (RouteResult.Target) e.route(call("sip:5551299@rm", "5551299", Map.of()));
        assertEquals("sip:annc@10.0.0.5:5070;transport=tcp;play=http://apps.example/promo.wav", t.requestUri());
        t = (RouteResult.Target) e.route(call("sip:7000@rm", "7000", Map.of()));
        assertEquals("sip:conf=7000@10.0.0.5:5070;transport=tcp", t.requestUri());
        t = (RouteResult.Target) e.route(call("sip:1@rm;gvp-tenant-id=media", "1", Map.of()));
        assertEquals("sip:msml@10.0.0.5:5070;transport=tcp", t.requestUri());
        assertEquals("a%3Bb%20c%25", RequestUris.escapeParam("a;b c%"));
        assertEquals("http://x/y?z=1", RequestUris.unescape("http://x/y%3Fz%3D1"));
    }

    @Test
    void tenantTreeCountsBurstLevelsAndRejectsWithTheConfiguredCode() {
        RoutingEngine e = engine(platform(), "");
        List<RouteResult.Target> held = new java.util.ArrayList<>();
        int[] expectedLevels = {1, 1, 2, 3};
        for (int i = 0; i < 4; i++) {
            RouteResult.Target t = (RouteResult.Target) e.route(call("sip:5551234@rm", "5551234", Map.of()));
            assertEquals(List.of("acme-sales", "acme"), t.selection().tenants());
            assertEquals(List.of(i + 1, i + 1), t.selection().usage());
            assertEquals(expectedLevels[i], t.selection().burstLevels().get(1));
            assertEquals(1, t.selection().burstLevels().get(0));
            held.add(t);
        }
        RouteResult.Rejection r = assertInstanceOf(RouteResult.Rejection.class,
                e.route(call("sip:5551299@rm", "5551299", Map.of())));
        assertEquals(486, r.code());
        assertEquals("Tenant Busy", r.reason());
        assertEquals(RouteResult.Rejection.Cause.POLICY_LIMIT, r.cause(), "a configured 486 is still a policy limit");
        // the rejection names the profile and tenants for the CDR, with their usage now, and holds no count
        assertEquals("promo", r.selection().profile());
        assertEquals(List.of("acme"), r.selection().tenants());
        assertEquals(List.of(policy.count("tenant:acme")), r.selection().usage());
        assertEquals(List.of(3), r.selection().burstLevels());
        assertTrue(r.selection().policyKeys().isEmpty());
        for (RouteResult.Target t : held) {
            policy.release(t.selection().policyKeys());
            ledger.release(t.resource());
        }
        assertTrue(policy.snapshot().isEmpty());
        assertInstanceOf(RouteResult.Target.class, e.route(call("sip:5551299@rm", "5551299", Map.of())));
    }

    @Test
    void noMediaServerForTheServiceReleasesTheAdmission() {
        Map<String, Model.ConfigEntry> cfg = platform();
        put(cfg, entry(Model.GROUP_PID, "default", Map.of("services", "msml")));
        RoutingEngine e = engine(cfg, "");
        RouteResult.Rejection r = assertInstanceOf(RouteResult.Rejection.class,
                e.route(call("sip:5551234@rm", "5551234", Map.of())));
        assertEquals(503, r.code());
        assertEquals(RouteResult.Rejection.Cause.NO_MEDIA_SERVER, r.cause());
        assertTrue(policy.snapshot().isEmpty(), "admission leaked: " + policy.snapshot());
        assertEquals("welcome", r.selection().profile());
        assertEquals("acme-sales", r.selection().tenant());
        assertTrue(r.selection().policyKeys().isEmpty());
    }

    private static Map<String, Model.ConfigEntry> twoSites() {
        Map<String, Model.ConfigEntry> cfg = platform();
        cfg.remove(Model.RESOURCE_PID + "~mcp");
        put(cfg, entry(Model.GROUP_PID, "default", Map.of("geo", "east")));
        put(cfg, entry(Model.GROUP_PID, "asr", Map.of("geo", "west", "capabilities", "asr, tts")));
        put(cfg, entry(Model.RESOURCE_PID, "east1", Map.of("lrg", "default", "uri", "sip:10.0.1.1")));
        put(cfg, entry(Model.RESOURCE_PID, "east2", Map.of("lrg", "default", "uri", "sip:10.0.1.2")));
        put(cfg, entry(Model.RESOURCE_PID, "west1", Map.of("lrg", "asr", "uri", "sip:10.0.2.1")));
        put(cfg, entry(Model.RESOURCE_PID, "north1", Map.of("lrg", "asr", "uri", "sip:10.0.3.1", "geo", "north")));
        return cfg;
    }

    private String resourceOf(RoutingEngine e, CallRequest c) {
        RouteResult r = e.route(c);
        if (r instanceof RouteResult.Target t) {
            policy.release(t.selection().policyKeys());
            ledger.release(t.resource());
            return t.resource();
        }
        return "reject " + ((RouteResult.Rejection) r).code();
    }

    @Test
    void geoLocationIsPreferredAndEnforcedWhenStrict() {
        RoutingEngine e = engine(twoSites(), "");
        for (int i = 0; i < 20; i++) {
            assertEquals("west1", resourceOf(e, call("sip:5551234@rm", "5551234", Map.of("x-genesys-geo-location", "west"))));
            assertEquals("north1", resourceOf(e, call("sip:5551234@rm", "5551234", Map.of("x-genesys-geo-location", "north",
                    "x-genesys-strict-location", "enforce"))));
        }
        // nothing in "south": any location when not strict, 480 when enforced
        assertTrue(!resourceOf(e, call("sip:5551234@rm", "5551234", Map.of("x-genesys-geo-location", "south"))).startsWith("reject"));
        assertEquals("reject 480", resourceOf(e, call("sip:5551234@rm", "5551234",
                Map.of("x-genesys-geo-location", "south", "x-genesys-strict-location", "enforce"))));
        assertTrue(policy.snapshot().isEmpty());
    }

    @Test
    void resourceRequirementPicksAGroupWithTheCapabilities() {
        RoutingEngine e = engine(twoSites(), "");
        for (int i = 0; i < 20; i++) {
            String r = resourceOf(e, call("sip:5551234@rm;gvp.rm.resource-req=asr", "5551234", Map.of()));
            assertTrue(r.equals("west1") || r.equals("north1"), r);
        }
        assertEquals("reject 503", resourceOf(e, call("sip:5551234@rm;gvp.rm.resource-req=fax", "5551234", Map.of())));
    }

    @Test
    void legsOfOneConferenceShareTheirMediaServer() {
        Map<String, Model.ConfigEntry> cfg = twoSites();
        RoutingEngine e = engine(cfg, "");
        org.openrm.api.internal.InMemorySessionStore store = new org.openrm.api.internal.InMemorySessionStore(ledger, policy);
        e.sessions = store;
        String host = null;
        for (int leg = 0; leg < 10; leg++) {
            RouteResult.Target t = (RouteResult.Target) e.route(call("sip:7000@rm", "7000", Map.of()));
            assertEquals("7000", t.selection().conference());
            if (host == null) {
                host = t.resource();
            }
            assertEquals(host, t.resource(), "leg " + leg);
            assertTrue(t.requestUri().startsWith("sip:conf=7000@"), t.requestUri());
            org.openrm.api.Session s = new org.openrm.api.Session("id" + leg, "call" + leg, "tag", "f", "t", "7000", 0);
            s.selection(t.selection());
            assertTrue(store.open(s, t.resource(), t.group()));
        }
        // another conference may land elsewhere; all legs of 7000 ended: the ports and counts come back
        for (org.openrm.api.Session s : List.copyOf(store.sessions())) {
            store.end(s, org.openrm.api.EndReason.CALLER_BYE, 0);
        }
        assertTrue(policy.snapshot().isEmpty());
        assertTrue(ledger.snapshot().values().stream().allMatch(v -> v == 0));
    }

    @Test
    void configurationsThatCannotWorkAreRejectedNamingPidAndKey() {
        Map<String, Model.ConfigEntry> cycle = platform();
        put(cycle, entry(Model.TENANT_PID, "acme", Map.of("parent", "acme-sales")));
        assertMessage(cycle, "org.openrm.tenant~", "parent");
        Map<String, Model.ConfigEntry> missing = platform();
        put(missing, entry(Model.PROFILE_PID, "x", Map.of("tenant", "ghost", "service", "msml")));
        assertMessage(missing, "org.openrm.profile~x", "tenant");
        Map<String, Model.ConfigEntry> negative = platform();
        put(negative, entry(Model.TENANT_PID, "neg", Map.of("limit", -3)));
        assertMessage(negative, "org.openrm.tenant~neg", "limit");
        Map<String, Model.ConfigEntry> dup = platform();
        put(dup, entry(Model.PROFILE_PID, "dup", Map.of("service", "msml", "dids", "7000")));
        assertMessage(dup, "org.openrm.profile~", "dids");
        Map<String, Model.ConfigEntry> service = platform();
        put(service, entry(Model.PROFILE_PID, "odd", Map.of("service", "fax")));
        assertMessage(service, "org.openrm.profile~odd", "service");
        // and the engine keeps the last good model
        RoutingEngine e = engine(platform(), "");
        Model good = e.model();
        e.apply(cycle);
        assertTrue(e.model() == good);
    }

    private static void assertMessage(Map<String, Model.ConfigEntry> cfg, String pid, String key) {
        Model.ConfigException x = assertThrows(Model.ConfigException.class, () -> Model.build(cfg));
        assertTrue(x.getMessage().contains(pid) && x.getMessage().contains(": " + key + ":"), x.getMessage());
    }
}
