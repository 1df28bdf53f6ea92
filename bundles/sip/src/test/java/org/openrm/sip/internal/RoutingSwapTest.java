package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.CallRouter;

/** New INVITEs that arrive while routing is being replaced wait for it (bounded) instead of getting 503. */
class RoutingSwapTest {

    private static Map<String, Map<String, Object>> oneMediaServer(int port) {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        c.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + port, "capacity", 100));
        return c;
    }

    @Test
    void invitesWaitForRoutingToComeBack() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp), Map.of("warmup.messages", 0));
             Sipp ms = Sipp.uas("swap-mcp", "uas.xml", mcp, "u1")) {
            Sipp.awaitBound(mcp);
            CallRouter routing = rm.proxy.router;
            rm.proxy.router = null; // routing's bundle is being updated
            try (Sipp uac = Sipp.uac("swap-uac", c, p, "u1", 20, 40, 200)) {
                Thread.sleep(700); // ~20 INVITEs arrive with no router bound
                long parked = rm.proxy.stats.invites.get();
                rm.proxy.router = routing;
                assertEquals(0, uac.await(30), "no call failed across the swap: " + uac.errors());
                assertTrue(parked > 0, "INVITEs arrived while routing was away");
            }
            rm.awaitIdle();
            assertTrue(rm.proxy.stats.routingWaited.get() > 0, "some INVITEs waited: " + rm.proxy.stats.routingWaited.get());
            assertEquals(0, rm.proxy.stats.routingUnavailable.get());
        }
    }

    @Test
    void routingAwayLongerThanTheWaitGets503() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp), Map.of("warmup.messages", 0, "routing.wait.ms", 300));
             Sipp ms = Sipp.uas("swap-mcp2", "uas.xml", mcp, "u1")) {
            Sipp.awaitBound(mcp);
            rm.proxy.router = null;
            try (Sipp uac = Sipp.uac("swap-uac2", c, p, "u1", 3, 10, 200)) {
                uac.await(30);
            }
            assertEquals(3, rm.proxy.stats.routingUnavailable.get(), "each got 503 after routing.wait.ms");
            rm.awaitIdle();
        }
    }
}
