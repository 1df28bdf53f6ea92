package org.openrm.ops.internal;

import java.util.HashMap;
import java.util.Map;

import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.TestConfigs;

/** The ops component wired by hand onto a {@link ProxyUnderTest}, as SCR wires it, on free (port 0) listeners. */
final class OpsUnderTest {
    private OpsUnderTest() { }

    /** Starts ops on {@code rm} with {@code config} over the test defaults (health.port and metrics.port 0). */
    static OpsService start(ProxyUnderTest rm, Map<String, Object> config) throws Exception {
        Map<String, Object> c = new HashMap<>();
        c.put("health.port", 0);
        c.put("metrics.port", 0);
        c.putAll(config);
        OpsService ops = new OpsService(rm.store, rm.ledger, rm.policy, rm.states, rm.node, TestConfigs.of(OpsService.Config.class, c));
        ops.catalog = rm.routing;
        ops.sip = rm.proxy;
        rm.store.addListener(ops);
        return ops;
    }
}
