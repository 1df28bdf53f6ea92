package org.openrm.routing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;

/** The one schema that config sync checks an etcd model with: each kind of invalid model is named. */
class ModelValidatorTest {
    private final RoutingEngine engine = new RoutingEngine(new InMemoryResourceLedger(), new InMemoryPolicyLedger(),
            new org.openrm.api.internal.InMemoryResourceStates(), new org.openrm.api.internal.InMemoryRegistrations(),
            RoutingEngineTest.noConfigAdmin(), RoutingEngineTest.config(false));

    private static Map<String, Map<String, Object>> good() {
        Map<String, Map<String, Object>> m = new HashMap<>();
        m.put("org.openrm.lrg~default", Map.of("scheme", "least-used"));
        m.put("org.openrm.resource~mcp1", Map.of("lrg", "default", "uri", "sip:127.0.0.1:5070", "capacity", 10));
        m.put("org.openrm.tenant~acme", Map.of("limit", 5));
        m.put("org.openrm.tenant~sales", Map.of("parent", "acme", "limit", 3));
        m.put("org.openrm.profile~welcome", Map.of("tenant", "sales", "url", "http://x/a.vxml", "dids", "5551234",
                "param.language", "fr"));
        m.put("org.openrm.routing", Map.of("default.profile", "welcome"));
        return m;
    }

    private String with(String key, Map<String, Object> props) {
        Map<String, Map<String, Object>> m = good();
        m.put(key, props);
        return engine.problem(m);
    }

    @Test
    void aGoodModelPasses() {
        assertNull(engine.problem(good()));
    }

    @Test
    void eachKindOfInvalidModelIsNamed() {
        assertEquals("org.openrm.resource~mcp1: lrg: names resource group 'nope' that is not configured",
                with("org.openrm.resource~mcp1", Map.of("lrg", "nope", "uri", "sip:127.0.0.1:5070")));
        String cycle = with("org.openrm.tenant~acme", Map.of("parent", "sales"));
        assertTrue(cycle.contains(": parent: the tenant tree has a cycle"), cycle);
        assertEquals("org.openrm.resource~mcp1: uri: 'http://mcp' is not a SIP URI like sip:10.0.0.5:5070",
                with("org.openrm.resource~mcp1", Map.of("uri", "http://mcp")));
        assertEquals("org.openrm.tenant~acme: limit: must not be negative, is -2", with("org.openrm.tenant~acme", Map.of("limit", -2)));
        String unknown = with("org.openrm.resource~mcp1", Map.of("uri", "sip:127.0.0.1:5070", "capacityy", 5));
        assertTrue(unknown.startsWith("org.openrm.resource~mcp1: capacityy: is not a key of org.openrm.resource"), unknown);
        String routing = with("org.openrm.routing", Map.of("retry.after", 3));
        assertTrue(routing.startsWith("org.openrm.routing: retry.after: is not a key"), routing);
        assertEquals("org.openrm.routing: retry.after.s: 'soon' is not a whole number", with("org.openrm.routing", Map.of("retry.after.s", "soon")));
    }

    @Test
    void fileInstallAndSyncMarkersAreNotUnknownKeys() {
        assertNull(with("org.openrm.resource~mcp1", Map.of("uri", "sip:127.0.0.1:5070", "felix.fileinstall.filename",
                "file:/x/org.openrm.resource-mcp1.cfg", "service.factoryPid", "org.openrm.resource", "openrm.source", "etcd")));
    }
}
