package org.openrm.sip.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The proxy logic replaced under load, as {@code bundle:update org.openrm.sip} does it: the stack keeps its sockets
 * and TCP connections, holds new requests through the gap, and the replaced logic finishes the calls it was
 * setting up. sipp over UDP and over one TCP connection: no call fails, the connection is never re-opened.
 */
class LogicSwapTest {

    @BeforeAll
    static void sipp() throws Exception {
        SippEndToEndTest.sippPresent();
    }

    private static Map<String, Map<String, Object>> twoMediaServers(int a, int b, String transport) {
        String suffix = transport.equals("t1") ? ";transport=tcp" : "";
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("scheme", "round-robin", "max.attempts", 2));
        c.put("org.openrm.resource~mcp-a", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + a + suffix, "capacity", 1000));
        c.put("org.openrm.resource~mcp-b", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + b + suffix, "capacity", 1000));
        return c;
    }

    @Test
    void udpCallsSurviveThreeSwapsOfTheLogic() throws Exception {
        swapsUnderLoad("u1");
    }

    @Test
    void tcpCallsSurviveThreeSwapsOfTheLogicOnOneConnection() throws Exception {
        swapsUnderLoad("t1");
    }

    private void swapsUnderLoad(String transport) throws Exception {
        int p = Sipp.freePort(), a = Sipp.freePort(), b = Sipp.freePort(), c = Sipp.freePort();
        int calls = 1500, rate = 150;
        try (ProxyUnderTest rm = new ProxyUnderTest(p, twoMediaServers(a, b, transport), Map.of());
             Sipp mcpA = Sipp.uas("swap-mcp-a-" + transport, "uas-ring-answer.xml", a, transport);
             Sipp mcpB = Sipp.uas("swap-mcp-b-" + transport, "uas-ring-answer.xml", b, transport)) {
            Sipp.awaitBound(a, transport);
            Sipp.awaitBound(b, transport);
            SipProxy first = rm.proxy;
            Sipp uac = Sipp.uac("swap-sipserver-" + transport, c, p, transport, calls, rate, 1000);
            for (int i = 0; i < 3; i++) {
                Thread.sleep(2000);
                rm.swapLogic(100 + 100 * i); // the gap a bundle update takes: requests wait in the stack
            }
            int rc = uac.await(90);
            assertEquals(0, rc, "no call failed across the swaps: " + uac.errors() + mcpA.errors() + mcpB.errors());
            assertEquals(calls, uac.stat("SuccessfulCall(C)"));
            assertTrue(rm.proxy != first, "the logic was replaced");
            Map<String, Long> k = rm.stack.counters();
            assertTrue(k.get("proxy.waited") > 0, "requests waited for the new logic: " + k);
            assertTrue(k.get("proxy.to.retiring") > 0, "replaced logics finished calls they were setting up: " + k);
            assertEquals(0L, k.get("proxy.unserved"), "no request found no logic: " + k);
            // the counters outlive the logic: every revision counted into the same ones (no reset on update)
            assertTrue(rm.proxy.counters().get("invites") >= calls, "INVITEs counted across the swaps: " + rm.proxy.counters());
            if (transport.equals("t1")) {
                assertEquals(1L, k.get("tcp.accepted"), "the SIP Server's one connection stayed open: " + k);
            }
            rm.awaitIdle();
        }
    }
}
