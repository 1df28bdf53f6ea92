package org.openrm.billing.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.TestConfigs;

/** openrm's call path with billing, wired by hand as SCR wires it; billing can be stopped and restarted on its spool. */
final class BillingUnderTest implements AutoCloseable {
    final ProxyUnderTest rm;
    final Path spoolDir;
    final Map<String, Object> billingConfig;
    BillingService billing;

    BillingUnderTest(int port, int mcpA, int mcpB, String brokerUrl, Map<String, Object> extra) throws Exception {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("scheme", "round-robin"));
        c.put("org.openrm.resource~mcp-a", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + mcpA, "capacity", 500));
        c.put("org.openrm.resource~mcp-b", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + mcpB, "capacity", 500));
        c.put("org.openrm.tenant~acme", Map.of("limit", 1000));
        c.put("org.openrm.tenant~acme-sales", Map.of("parent", "acme", "limit", 500));
        c.put("org.openrm.profile~welcome", Map.of("tenant", "acme-sales", "service", "voicexml",
                "url", "http://apps.example/welcome.vxml", "dids", "5551234"));
        // one call at a time: the second is rejected at the tenant's limit
        c.put("org.openrm.tenant~small", Map.of("limit", 1));
        c.put("org.openrm.profile~tiny", Map.of("tenant", "small", "service", "voicexml",
                "url", "http://apps.example/tiny.vxml", "dids", "5550000"));
        rm = new ProxyUnderTest(port, c, Map.of("node.id", 7));
        spoolDir = Files.createTempDirectory("openrm-spool");
        billingConfig = new LinkedHashMap<>(Map.of("broker.url", brokerUrl + "?connectionTimeout=2000",
                "spool.dir", spoolDir.toString(), "node.id", 7, "stats.interval.s", 2, "retry.max.s", 1));
        billingConfig.putAll(extra);
        startBilling();
    }

    /** Activates billing as SCR does: constructed, then bound into the session store's whiteboard. */
    void startBilling() throws Exception {
        billing = new BillingService(rm.store, TestConfigs.of(BillingService.Config.class, billingConfig));
        rm.store.addListener(billing);
    }

    /** Deactivates billing as SCR does on an update: unbound from the store first, then deactivated. */
    void stopBilling() {
        rm.store.removeListener(billing);
        billing.deactivate();
    }

    static List<String> cdrs(List<String> messages) {
        return messages.stream().filter(m -> m.contains("\"type\":\"cdr\"")).toList();
    }

    @Override
    public void close() {
        try {
            stopBilling();
        } finally {
            rm.close();
        }
    }
}
