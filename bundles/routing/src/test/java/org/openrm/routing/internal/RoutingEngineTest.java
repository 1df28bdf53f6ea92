package org.openrm.routing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.openrm.api.CallRequest;
import org.openrm.api.RouteResult;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.osgi.service.cm.ConfigurationAdmin;

class RoutingEngineTest {
    private final InMemoryResourceLedger ledger = new InMemoryResourceLedger();
    private final InMemoryPolicyLedger policy = new InMemoryPolicyLedger();
    private final org.openrm.api.internal.InMemoryResourceStates states = new org.openrm.api.internal.InMemoryResourceStates();
    private final CallRequest call = new CallRequest("c1", "sip:123@rm", "123", "sip:a@x", "sip:123@rm", Map.of(), "");

    static RoutingEngine.Config config(boolean embedded) {
        return config(Map.of("embedded_defaults", embedded, "retry_after_s", 7));
    }

    /** The routing configuration with some attributes (by method name) set, the others at their defaults. */
    static RoutingEngine.Config config(Map<String, Object> values) {
        return (RoutingEngine.Config) Proxy.newProxyInstance(RoutingEngineTest.class.getClassLoader(),
                new Class<?>[] {RoutingEngine.Config.class},
                (p, m, a) -> values.containsKey(m.getName()) ? values.get(m.getName()) : m.getDefaultValue());
    }

    static ConfigurationAdmin noConfigAdmin() {
        return (ConfigurationAdmin) Proxy.newProxyInstance(RoutingEngineTest.class.getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (p, m, a) -> null);
    }

    private static Model.ConfigEntry group(String name, Map<String, Object> props) {
        return new Model.ConfigEntry(Model.GROUP_PID + "~" + name, Model.GROUP_PID, name, props);
    }

    private static Model.ConfigEntry resource(String name, Map<String, Object> props) {
        return new Model.ConfigEntry(Model.RESOURCE_PID + "~" + name, Model.RESOURCE_PID, name, props);
    }

    private RoutingEngine engine(String scheme, int... capacities) {
        RoutingEngine e = new RoutingEngine(ledger, policy, states, new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(false));
        Map<String, Model.ConfigEntry> m = new HashMap<>();
        m.put("g", group("default", Map.of("scheme", scheme)));
        for (int i = 0; i < capacities.length; i++) {
            m.put("r" + i, resource("mcp" + i, Map.of("uri", "sip:10.0.0." + i + ":5070", "capacity", capacities[i])));
        }
        e.apply(m);
        return e;
    }

    private String pick(RoutingEngine e) {
        RouteResult r = e.route(call);
        return r instanceof RouteResult.Target t ? t.resource() : null;
    }

    private void setHealth(String r, org.openrm.api.ResourceState h) {
        states.update(r, s -> s.withHealth(h, 0, "test", 0));
    }

    @Test
    void onlyHealthyServersAndSuspectOnesAsALastResort() {
        for (String scheme : new String[] {"round-robin", "least-used", "least-percent"}) {
            RoutingEngine e = engine(scheme, 100, 100, 100);
            setHealth("mcp0", org.openrm.api.ResourceState.DOWN);
            setHealth("mcp1", org.openrm.api.ResourceState.SUSPECT);
            setHealth("mcp2", org.openrm.api.ResourceState.IN_SERVICE);
            for (int i = 0; i < 50; i++) {
                assertEquals("mcp2", pick(e), scheme);
            }
            setHealth("mcp2", org.openrm.api.ResourceState.QUARANTINED);
            assertEquals("mcp1", pick(e), scheme + ": suspect when nothing in service is left");
            states.update("mcp1", s -> s.withDisabled(true, 0, "test"));
            RouteResult r = e.route(call);
            assertInstanceOf(RouteResult.Rejection.class, r, scheme + ": down, quarantined, drained: none to pick");
            assertEquals(503, ((RouteResult.Rejection) r).code());
            states.retain(Set.of());
            ledger.snapshot().keySet().forEach(k -> { while (ledger.inUse(k) > 0) { ledger.release(k); } });
        }
    }

    @Test
    void monitorKeysAreChecked() {
        RoutingEngine e = engine("round-robin", 10);
        Map<String, Model.ConfigEntry> m = new HashMap<>();
        m.put("g", group("default", Map.of("monitor", "icmp")));
        m.put("r", resource("a", Map.of("uri", "sip:10.0.0.1:5070")));
        e.apply(m);
        assertEquals(Set.of("mcp0"), e.model().resources.keySet(), "bad monitor kind rejected, last model kept");
        m.put("g", group("default", Map.of("monitor.interval.ms", 1000, "monitor.timeout.ms", 2000)));
        e.apply(m);
        assertEquals(Set.of("mcp0"), e.model().resources.keySet(), "timeout above interval rejected");
        m.put("g", group("default", Map.of("monitor", "none", "monitor.codes", "200, 404")));
        e.apply(m);
        assertEquals(Set.of("a"), e.model().resources.keySet());
        org.openrm.api.ResourceCatalog.Entry entry = e.resources().get(0);
        assertEquals(false, entry.monitor().options());
        assertEquals(Set.of(200, 404), entry.monitor().aliveCodes());
    }

    @Test
    void roundRobinSpreadsEvenly() {
        RoutingEngine e = engine("round-robin", 100_000, 100_000, 100_000);
        Map<String, Integer> n = new HashMap<>();
        for (int i = 0; i < 10_000; i++) {
            n.merge(pick(e), 1, Integer::sum);
        }
        assertEquals(3, n.size());
        n.values().forEach(v -> assertTrue(Math.abs(v - 3333) <= 1, n.toString()));
    }

    @Test
    void leastUsedFillsTheEmptiestAndLeastPercentWeighsByCapacity() {
        RoutingEngine used = engine("least-used", 1000, 3000);
        for (int i = 0; i < 2000; i++) {
            pick(used);
        }
        assertEquals(1000, ledger.inUse("mcp0"));
        assertEquals(1000, ledger.inUse("mcp1"));

        InMemoryResourceLedger fresh = new InMemoryResourceLedger();
        RoutingEngine pct = new RoutingEngine(fresh, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(false));
        pct.apply(Map.of("g", group("default", Map.of("scheme", "least-percent")),
                "a", resource("small", Map.of("uri", "sip:10.0.0.1", "capacity", 1000)),
                "b", resource("big", Map.of("uri", "sip:10.0.0.2", "capacity", 3000))));
        for (int i = 0; i < 2000; i++) {
            pct.route(call);
        }
        assertEquals(500, fresh.inUse("small"), 1);
        assertEquals(1500, fresh.inUse("big"), 1);
    }

    /** 10,000 selections in a steady state: 600 calls up, each new call replacing a random one. */
    private Map<String, Integer> steadyState(RoutingEngine e, InMemoryResourceLedger l) {
        java.util.Random rnd = new java.util.Random(7);
        java.util.List<String> held = new java.util.ArrayList<>();
        Map<String, Integer> picks = new HashMap<>();
        for (int i = 0; i < 10_000; i++) {
            if (held.size() >= 600) {
                l.release(held.remove(rnd.nextInt(held.size())));
            }
            String r = ((RouteResult.Target) e.route(call)).resource();
            held.add(r);
            picks.merge(r, 1, Integer::sum);
        }
        return picks;
    }

    @Test
    void leastUsedAndLeastPercentDistributeTenThousandSelections() {
        RoutingEngine used = engine("least-used", 1000, 3000);
        Map<String, Integer> u = steadyState(used, ledger);
        assertTrue(Math.abs(u.get("mcp0") - 5000) < 150, "least-used: " + u);

        InMemoryResourceLedger fresh = new InMemoryResourceLedger();
        RoutingEngine pct = new RoutingEngine(fresh, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(false));
        pct.apply(Map.of("g", group("default", Map.of("scheme", "least-percent")),
                "a", resource("small", Map.of("uri", "sip:10.0.0.1", "capacity", 1000)),
                "b", resource("big", Map.of("uri", "sip:10.0.0.2", "capacity", 3000))));
        Map<String, Integer> p = steadyState(pct, fresh);
        assertTrue(Math.abs(p.get("small") - 2500) < 150, "least-percent: " + p);
    }

    @Test
    void capacityIsRespectedAndExhaustionGives503WithRetryAfter() {
        RoutingEngine e = engine("round-robin", 2, 1);
        for (int i = 0; i < 3; i++) {
            assertInstanceOf(RouteResult.Target.class, e.route(call));
        }
        RouteResult r = e.route(call);
        RouteResult.Rejection rej = assertInstanceOf(RouteResult.Rejection.class, r);
        assertEquals(503, rej.code());
        assertEquals(7, rej.retryAfterS());
    }

    @Test
    void failoverSkipsTriedAndQuarantinedResources() {
        RoutingEngine e = engine("round-robin", 10, 10, 10);
        e.quarantine("mcp1", 60_000, "test");
        RouteResult r = e.failover(call, null, "mcp0", Set.of("mcp0"), 1);
        assertEquals("mcp2", ((RouteResult.Target) r).resource());
        assertInstanceOf(RouteResult.Rejection.class, e.failover(call, null, "mcp2", Set.of("mcp0", "mcp2"), 2));
    }

    @Test
    void aGroupWithoutResourcesIsValidAndRejectsCalls() {
        RoutingEngine e = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(false));
        e.apply(Map.of("g", group("empty", Map.of())));
        assertEquals(1, e.model().groups.size());
        assertEquals(503, ((RouteResult.Rejection) e.route(call)).code());
    }

    @Test
    void registeredMediaServersOutliveAnUpdateOfRoutingAndLapse() throws Exception {
        org.openrm.api.internal.InMemoryRegistrations regs = new org.openrm.api.internal.InMemoryRegistrations();
        RoutingEngine before = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), regs, noConfigAdmin(), config(false));
        before.apply(Map.of("g", group("default", Map.of())));
        assertEquals("reg-10.0.0.7:5070", before.register("sip:10.0.0.7:5070", null, 20, 1));
        assertEquals(null, before.register("sip:10.0.0.8:5070", "missing", 20, 60));
        before.deactivate();
        // a new engine instance, as after bundle:update, finds the binding in the api bundle's store
        RoutingEngine after = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), regs, noConfigAdmin(), config(false));
        after.apply(Map.of("g", group("default", Map.of())));
        assertEquals("reg-10.0.0.7:5070", ((RouteResult.Target) after.route(call)).resource());
        assertTrue(after.isMediaServer("10.0.0.7", 5070));
        ledger.release("reg-10.0.0.7:5070");
        long end = System.currentTimeMillis() + 5_000;
        while (after.model().resources.containsKey("reg-10.0.0.7:5070") && System.currentTimeMillis() < end) {
            Thread.sleep(50);
        }
        assertInstanceOf(RouteResult.Rejection.class, after.route(call));
        after.deactivate();
    }

    @Test
    void disabledResourcesAreNotPicked() {
        RoutingEngine e = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(false));
        e.apply(Map.of("g", group("default", Map.of()),
                "a", resource("off", Map.of("uri", "sip:10.0.0.1", "enabled", "false")),
                "b", resource("on", Map.of("uri", "sip:10.0.0.2"))));
        for (int i = 0; i < 10; i++) {
            assertEquals("on", pick(e));
        }
    }

    @Test
    void badConfigurationIsRejectedWholeAndTheLastGoodModelStays() {
        RoutingEngine e = engine("round-robin", 5);
        Model good = e.model();
        e.apply(Map.of("g", group("default", Map.of()),
                "a", resource("x", Map.of("uri", "sip:10.0.0.9", "capacity", -1))));
        assertTrue(e.model() == good);
        e.apply(Map.of("g", group("default", Map.of()), "a", resource("x", Map.of("uri", "http://nope"))));
        assertTrue(e.model() == good);
        e.apply(Map.of("a", resource("x", Map.of("uri", "sip:10.0.0.9", "lrg", "missing"))));
        assertTrue(e.model() == good);
        e.apply(Map.of("g", group("default", Map.of("scheme", "random"))));
        assertTrue(e.model() == good);
    }

    @Test
    void validationNamesThePidAndKey() {
        Model.ConfigException x = assertThrows(Model.ConfigException.class, () -> Model.build(Map.of(
                "g", group("default", Map.of()),
                "a", resource("x", Map.of("uri", "sip:10.0.0.9", "capacity", "lots")))));
        assertTrue(x.getMessage().contains("org.openrm.resource~x") && x.getMessage().contains("capacity"), x.getMessage());
    }

    @Test
    void embeddedDefaultsServeWhenNothingIsConfigured() {
        RoutingEngine e = new RoutingEngine(ledger, policy, new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(), noConfigAdmin(), config(true));
        RouteResult.Target t = assertInstanceOf(RouteResult.Target.class, e.route(call));
        assertEquals("sip:127.0.0.1:5070", t.uri());
    }

    @Test
    void instanceNamesComeFromTheFactoryPidOrTheFileName() {
        assertEquals("mcp1", Model.ConfigEntry.nameOf("org.openrm.resource~mcp1", Model.RESOURCE_PID, Map.of()));
        assertEquals("mcp2", Model.ConfigEntry.nameOf("org.openrm.resource.abc", Model.RESOURCE_PID,
                Map.of("felix.fileinstall.filename", "file:/opt/openrm/etc/org.openrm.resource-mcp2.cfg")));
    }

    /** The warm-up's scratch router: the same selection, admission and rewrite, on a model and ledgers of its own. */
    @Test
    void scratchRouterRoutesTheWarmUpOnItsOwnBooks() {
        RoutingEngine e = engine("round-robin", 10);
        InMemoryResourceLedger l = new InMemoryResourceLedger();
        InMemoryPolicyLedger p = new InMemoryPolicyLedger();
        org.openrm.api.CallRouter scratch = e.scratch("sip:warm@127.100.1.2:40000;transport=tcp", l, p);
        CallRequest warm = new CallRequest("w1", "sip:warm@127.0.0.1:5060", RoutingEngine.WARMUP_DID, "sip:warmup@127.100.1.2",
                "sip:warm@127.0.0.1", Map.of(), "127.100.1.2:40001");
        RouteResult.Target t = assertInstanceOf(RouteResult.Target.class, scratch.route(warm));
        assertEquals("warm-up", t.resource());
        assertEquals("warm-up", t.selection().profile());
        assertEquals(java.util.List.of("warm-up"), t.selection().tenants());
        assertTrue(t.requestUri().startsWith("sip:dialog@127.100.1.2:40000;transport=tcp;voicexml="), t.requestUri());
        assertEquals(1, l.inUse("warm-up"));
        assertEquals(1, p.count("tenant:warm-up"));
        assertTrue(ledger.snapshot().values().stream().allMatch(v -> v == 0), "the node's ports untouched: " + ledger.snapshot());
        assertTrue(policy.snapshot().isEmpty(), "the node's counts untouched");
        // and the node's own router is not changed by it
        assertEquals("mcp0", assertInstanceOf(RouteResult.Target.class, e.route(call)).resource());
    }
}
