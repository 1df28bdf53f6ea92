package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.openrm.api.EndReason;

/** The proxy's own answers, driven by hand-written SIP over UDP (sipp where a media server is needed). */
class ProxyBehaviourTest {

    static Map<String, Map<String, Object>> oneMediaServer(int port, int capacity) {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        c.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + port, "capacity", capacity));
        return c;
    }

    @Test
    void optionsToOpenrmItselfGets200() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10), Map.of());
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, ""), p);
            String ok = ua.expect("200 OK");
            assertTrue(ok.contains("Allow:"), ok);
        }
    }

    @Test
    void optionsGet503WarmingUpUntilTheSyntheticCallsAreDone() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10),
                Map.of("warmup.messages", 2000, "warmup.calls", 600));
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, ""), p);
            String cold = ua.expect("503");
            assertTrue(cold.contains("Warming Up") && cold.contains("Retry-After: 1"), cold);
            assertTrue(!rm.proxy.warm());
            long end = System.currentTimeMillis() + 60_000;
            while (!rm.proxy.warm() && System.currentTimeMillis() < end) {
                Thread.sleep(100);
            }
            assertTrue(rm.proxy.warm(), "warm within the warm-up's budget");
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, ""), p);
            ua.expect("200 OK");
        }
    }

    @Test
    void warmUpCallsGoThroughTheProxyAndStayOutOfTheBooks() throws Exception {
        int p = Sipp.freePort();
        // loopback is not trusted here: the warm-up's own address is, while it runs
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10),
                Map.of("warmup.messages", 0, "warmup.calls", 400, "trusted.peers", "10.0.0.0/8"))) {
            long end = System.currentTimeMillis() + 60_000;
            while (!rm.proxy.warm() && System.currentTimeMillis() < end) {
                Thread.sleep(100);
            }
            assertTrue(rm.proxy.warm(), "warm within the warm-up's budget");
            Map<String, Long> m = rm.stack.counters();
            assertEquals(1L, m.get("warmup.through"), m.toString());
            assertTrue(m.get("warmup.calls") >= 390, "synthetic calls completed through the proxy: " + m);
            // through the proxy, out of its books: no INVITE counted, no TCP connection, no session, no port, no CDR
            assertEquals(0, rm.proxy.stats.invites.get());
            assertEquals(0L, m.get("tcp.accepted"), m.toString());
            assertEquals(0L, m.get("raw.relayed.requests"), m.toString());
            assertEquals(0L, m.get("overload.rejected"), m.toString());
            Map<String, Long> sent = rm.stack.tcp().sent.snapshot(), received = rm.stack.tcp().received.snapshot();
            for (String k : new String[] {"INVITE", "ACK", "BYE"}) {
                assertTrue(!sent.containsKey("udp." + k) && !sent.containsKey("tcp." + k), "sent " + sent);
                assertTrue(!received.containsKey("udp." + k) && !received.containsKey("tcp." + k), "received " + received);
            }
            assertTrue(rm.started.isEmpty() && rm.ended.isEmpty(), "no session started or ended: " + rm.started + rm.ended);
            assertEquals(0, rm.stack.edge().stats.untrusted.get(), "the warm-up's address was trusted while it ran");
            // the whole path ran on scratch books: routed by the scratch router (profile warm-up, its media server),
            // each session opened and ended in the scratch store, its ending heard by the listeners' scratch copies
            long routedAndEnded = rm.scratchEnded.entrySet().stream()
                    .filter(e -> e.getKey().startsWith("CALLER_BYE/warm-up/")).mapToLong(e -> e.getValue().get()).sum();
            assertTrue(routedAndEnded >= 390, "warm-up sessions ended on scratch books: " + rm.scratchEnded);
            assertEquals(1, rm.scratchCopies.get(), "one scratch store for the warm-up");
            long end2 = System.currentTimeMillis() + 15_000;
            while (rm.scratchClosed.get() == 0 && System.currentTimeMillis() < end2) {
                Thread.sleep(100);
            }
            assertEquals(1, rm.scratchClosed.get(), "the scratch books closed once the warm-up's calls ended");
            assertTrue(rm.ledger.snapshot().values().stream().allMatch(v -> v == 0), "no port of the node: " + rm.ledger.snapshot());
            assertTrue(rm.policy.snapshot().isEmpty(), "no count of the node: " + rm.policy.snapshot());
            assertTrue(rm.idle());
        }
    }

    @Test
    void inviteWithMaxForwardsZeroGets483() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10), Map.of());
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 0, ""), p);
            ua.expect("483");
            rm.awaitIdle();
        }
    }

    @Test
    void untrustedPeerGets403AndNothingIsForwarded() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10),
                Map.of("trusted.peers", "10.0.0.0/8"));
             RawSip ua = RawSip.stranger()) {
            ua.send(RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 70, ""), p);
            ua.expect("403");
            assertEquals(0, rm.proxy.stats.invites.get());
            assertTrue(rm.idle());
        }
    }

    @Test
    void noCapacityLeftGets503WithRetryAfterAndLeaksNothing() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 0), Map.of());
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 70, ""), p);
            String r = ua.expect("503");
            assertTrue(r.contains("Retry-After: 5"), r);
            assertTrue(rm.idle());
        }
    }

    @Test
    void deadMediaServerGivesTheCallerAFinalErrorAndReleasesThePort() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(Sipp.freePort(), 10),
                Map.of("invite.timeout.ms", 500));
             RawSip ua = new RawSip()) {
            ua.send(RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 70, ""), p);
            ua.expect("100");
            String fin = ua.expect("SIP/2.0 ");
            int code = Integer.parseInt(fin.substring(8, 11));
            assertTrue(code == 408 || code == 503, fin);
            rm.awaitIdle();
            assertEquals(1, rm.ended.get(EndReason.FAILED).get(), "ended: " + rm.ended);
        }
    }

    @Test
    void retransmittedInviteCreatesOneBranch() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp, 10), Map.of("invite.timeout.ms", 5000));
             RawSip ua = new RawSip();
             RawSip media = new RawSip(mcp)) {
            String invite = RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 70, "");
            for (int i = 0; i < 5; i++) {
                ua.send(invite, p);
            }
            String forwarded = media.receive(3000);
            assertTrue(forwarded != null && forwarded.startsWith("INVITE sip:123@127.0.0.1:" + mcp), forwarded);
            assertTrue(forwarded.contains("Record-Route: <sip:127.0.0.1:" + p + ";lr>"), forwarded);
            assertTrue(forwarded.contains("Max-Forwards: 69"), forwarded);
            assertTrue(forwarded.matches("(?s).*X-Genesys-GVP-Session-ID: [0-9A-F-]{36};gvp.rm.datanodes=node-id=1.*"),
                    forwarded);
            // the stack retransmits its own INVITE after T1 (500 ms); within 300 ms there is exactly one
            assertNull(media.receive(300), "a second downstream INVITE for retransmissions of one INVITE");
            assertEquals(1, rm.store.size());
        }
    }

    @Test
    void aBranchReusedByAnotherSenderIsANewTransaction() throws Exception {
        // RFC 3261 17.2.3: a request matches a server transaction by branch, sent-by and method; two senders that
        // happen to pick the same branch have two transactions, and neither request is taken for a retransmission
        int p = Sipp.freePort(), mcp = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp, 10), Map.of("invite.timeout.ms", 5000));
             RawSip ua1 = new RawSip();
             RawSip ua2 = new RawSip();
             RawSip media = new RawSip(mcp)) {
            String branch = "z9hG4bK-same-" + System.nanoTime();
            String first = inviteWithBranch(p, ua1, branch);
            String second = inviteWithBranch(p, ua2, branch);
            ua1.send(first, p);
            ua1.expect("100 Trying"); // the first sender's transaction is in place (see ProxyStack on the window before)
            ua2.send(second, p);
            ua2.expect("100 Trying");
            // the proxy's own INVITEs retransmit (T1) while the media server stays silent: count branches, not messages
            java.util.Set<String> branches = downstreamBranches(media, 1500);
            assertEquals(2, branches.size(), "one downstream branch per sender: " + branches);
            // a retransmission of either is still absorbed by its own transaction
            ua1.send(first, p);
            ua2.send(second, p);
            branches.addAll(downstreamBranches(media, 800));
            assertEquals(2, branches.size(), "a retransmission went downstream as a new INVITE: " + branches);
            assertEquals(1L, rm.stack.counters().get("edge.branch.collisions"));
            assertEquals(2, rm.store.size());
        }
    }

    /**
     * The same while the first sender's INVITE is still being handed to the proxy logic, before its transaction is
     * in the stack's table (here held 600 ms there): the stack's pending-delivery check, keyed by branch alone, took
     * the second sender's INVITE for a retransmission of the first and dropped it (over TCP, lost for good).
     */
    @Test
    void aBranchReusedWhileTheFirstIsStillInDeliveryIsANewTransaction() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp, 10), Map.of("invite.timeout.ms", 5000));
             RawSip ua1 = new RawSip();
             RawSip ua2 = new RawSip();
             RawSip media = new RawSip(mcp)) {
            java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
            rm.proxy.testHook(r -> {
                if ("INVITE".equals(r.getMethod()) && held.getCount() > 0) {
                    held.countDown();
                    try {
                        Thread.sleep(600); // the first INVITE's delivery to the logic lasts
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            String branch = "z9hG4bK-pending-" + System.nanoTime();
            String first = inviteWithBranch(p, ua1, branch);
            String second = inviteWithBranch(p, ua2, branch);
            ua1.send(first, p);
            assertTrue(held.await(5, java.util.concurrent.TimeUnit.SECONDS), "the first INVITE reached the logic");
            ua2.send(second, p); // while the first is still in delivery, its transaction not yet made
            ua2.expect("100 Trying");
            ua1.expect("100 Trying");
            java.util.Set<String> branches = downstreamBranches(media, 2000);
            assertEquals(2, branches.size(), "one downstream branch per sender: " + branches);
            assertEquals(2, rm.store.size());
        }
    }

    /** An INVITE to the proxy on {@code p} from {@code ua} whose top Via has {@code branch}. */
    private static String inviteWithBranch(int p, RawSip ua, String branch) {
        return RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, ua.port(), 70, "").replaceFirst("branch=[^\n]*", "branch=" + branch);
    }

    /** The top Via branches of the INVITEs {@code media} receives within {@code ms}. */
    private static java.util.Set<String> downstreamBranches(RawSip media, long ms) throws Exception {
        java.util.Set<String> out = new java.util.TreeSet<>();
        long until = System.currentTimeMillis() + ms;
        java.util.regex.Pattern via = java.util.regex.Pattern.compile("(?m)^Via: [^;]*;branch=([^,;\\r\\n]+)");
        while (System.currentTimeMillis() < until) {
            String m = media.receive(100);
            if (m != null && m.startsWith("INVITE ")) {
                java.util.regex.Matcher x = via.matcher(m);
                out.add(x.find() ? x.group(1) : m);
            }
        }
        return out;
    }

    @Test
    void aLateAnswerOnAnAbandonedBranchIsAcknowledgedAndHungUp() throws Exception {
        int p = Sipp.freePort(), slow = Sipp.freePort(), good = Sipp.freePort(), c = Sipp.freePort();
        Map<String, Map<String, Object>> cfg = new HashMap<>();
        cfg.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        cfg.put("org.openrm.resource~mcp-a", Map.of("uri", "sip:127.0.0.1:" + slow, "capacity", 10));
        cfg.put("org.openrm.resource~mcp-b", Map.of("uri", "sip:127.0.0.1:" + good, "capacity", 10));
        try (ProxyUnderTest rm = new ProxyUnderTest(p, cfg, Map.of("invite.timeout.ms", 500));
             Sipp late = Sipp.start("mcp-late", "-sf", Sipp.SCENARIOS.resolve("uas-slow.xml").toString(),
                     "-i", "127.0.0.1", "-p", Integer.toString(slow), "-m", "1");
             Sipp ok = Sipp.uas("mcp-good", "uas.xml", good, "u1")) {
            Sipp.awaitBound(slow, good);
            // the first call goes to mcp-a (round-robin from the first), which answers only after 1.5 s
            Sipp uac = Sipp.uac("sipserver", c, p, "u1", 1, 1, 500);
            assertEquals(0, uac.await(30), uac.errors());
            // the late media server got ACK and BYE for its 200 and completed its scenario
            assertEquals(0, late.await(20), late.errors());
            rm.awaitIdle();
        }
    }

    @Test
    void cancelReachesTheMediaServerAndTheCallerGets487() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), c = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, oneMediaServer(mcp, 10), Map.of());
             Sipp ringing = Sipp.uas("mcp-ring", "uas-ring.xml", mcp, "u1")) {
            Sipp.awaitBound(mcp);
            Sipp uac = Sipp.start("sipserver-cancel", "-sf", Sipp.SCENARIOS.resolve("uac-cancel.xml").toString(),
                    "-i", "127.0.0.1", "-p", Integer.toString(c), "-s", "777", "-m", "20", "-r", "10",
                    "127.0.0.1:" + p);
            assertEquals(0, uac.await(60), uac.errors() + ringing.errors());
            rm.awaitIdle();
            assertEquals(20, rm.ended.get(EndReason.CANCEL).get());
        }
    }
}
