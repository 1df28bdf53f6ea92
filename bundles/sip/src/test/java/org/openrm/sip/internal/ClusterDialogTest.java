package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.openrm.api.ClusterSessions;
import org.openrm.api.EndReason;
import org.openrm.api.Session;

/**
 * In-dialog requests whose Route names another cluster member: forwarded to it while it is in the view; taken over
 * (the session joins this node's store and ends here) and relayed by the rest of the route set once it is gone;
 * refused as before when no member has that address.
 */
class ClusterDialogTest {

    /** The cluster bundle as the SIP path sees it: one peer at {@code peerPort}, alive or gone. */
    static final class OnePeer implements ClusterSessions {
        final int peerPort;
        final ProxyUnderTest rm;
        volatile boolean alive = true;
        final List<String> takeOvers = new CopyOnWriteArrayList<>();
        final List<String> advertised = new CopyOnWriteArrayList<>();

        OnePeer(int peerPort, ProxyUnderTest rm) {
            this.peerPort = peerPort;
            this.rm = rm;
        }

        @Override
        public void advertise(String host, int port) {
            advertised.add(host + ":" + port);
        }

        @Override
        public boolean isMemberHost(String host) {
            return false;
        }

        @Override
        public java.util.Set<String> memberAddresses() {
            return alive ? java.util.Set.of("127.0.0.1:" + peerPort) : java.util.Set.of();
        }

        @Override
        public Peer peerAt(String host, int port) {
            return port == peerPort && "127.0.0.1".equals(host) ? new Peer("n1", alive) : null;
        }

        @Override
        public Session takeOver(String callId) {
            takeOvers.add(callId);
            Session s = new Session("gvp-" + callId, callId, "caller-tag", "sip:a@b", "sip:c@d", "5551234", System.currentTimeMillis());
            s.markTakenOver();
            s.markAnswered(System.currentTimeMillis() - 1000);
            return rm.store.open(s, null, null) ? s : null;
        }
    }

    static String bye(String callId, int ua, int peer, int mcp) {
        return "BYE sip:welcome@127.0.0.1:" + mcp + " SIP/2.0\n"
                + "Via: SIP/2.0/UDP 127.0.0.1:" + ua + ";branch=z9hG4bK-bye-" + System.nanoTime() + "\n"
                + "Route: <sip:127.0.0.1:" + peer + ";lr>\n"
                + "From: <sip:caller@127.0.0.1>;tag=caller-tag\n"
                + "To: <sip:5551234@127.0.0.1>;tag=mcp-tag\n"
                + "Call-ID: " + callId + "\n"
                + "CSeq: 2 BYE\n"
                + "Max-Forwards: 70\n"
                + "Content-Length: 0\n\n";
    }

    @Test
    void aPeersDialogIsForwardedToItWhileAliveAndTakenOverOnceItIsGone() throws Exception {
        int p = Sipp.freePort();
        int mcp = Sipp.freePort();
        int peerPort = Sipp.freePort();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, ProxyBehaviourTest.oneMediaServer(mcp, 10), Map.of());
             RawSip ua = new RawSip();
             RawSip peer = new RawSip(peerPort);
             RawSip media = new RawSip(mcp)) {
            // without a cluster: a dialog another proxy record-routed is not openrm's
            ua.send(bye("c0@test", ua.port(), peerPort, mcp), p);
            assertTrue(ua.expect("404").contains("Not Routed Through This Proxy"));

            OnePeer cluster = new OnePeer(peerPort, rm);
            rm.proxy.bindCluster(cluster);
            assertEquals(List.of("127.0.0.1:" + p), cluster.advertised, "the proxy tells the cluster its address");
            cluster.advertised.clear();

            // the peer is alive: the BYE goes on to it, its Route untouched, nothing taken over
            ua.send(bye("c1@test", ua.port(), peerPort, mcp), p);
            String atPeer = peer.receive(3000);
            assertNotNull(atPeer, "the live peer gets the BYE");
            assertTrue(atPeer.startsWith("BYE sip:welcome@127.0.0.1:" + mcp), atPeer);
            assertTrue(atPeer.contains("Route: <sip:127.0.0.1:" + peerPort + ";lr>"), atPeer);
            assertTrue(atPeer.contains("Via: SIP/2.0/UDP 127.0.0.1:" + p), atPeer);
            assertTrue(cluster.takeOvers.isEmpty());
            assertNull(media.receive(300), "not straight to the media server");

            // the cluster bundle away (an update): the members it knew still get their dialogs
            rm.proxy.unbindCluster(cluster);
            ua.send(bye("c1b@test", ua.port(), peerPort, mcp), p);
            String whileAway = peer.receive(3000);
            assertNotNull(whileAway, "forwarded to the member while the cluster bundle is away");
            assertTrue(whileAway.contains("Call-ID: c1b@test"), whileAway);
            rm.proxy.bindCluster(cluster);

            // the peer is gone: this node takes the session over, relays to the media server and ends it here
            cluster.alive = false;
            ua.send(bye("c2@test", ua.port(), peerPort, mcp), p);
            String atMedia = media.receive(3000);
            assertNotNull(atMedia, "the media server gets the BYE of the departed member's call");
            assertTrue(atMedia.startsWith("BYE sip:welcome@127.0.0.1:" + mcp), atMedia);
            assertFalse(atMedia.contains("Route:"), "the departed member's Route is gone: " + atMedia);
            assertEquals(List.of("c2@test"), cluster.takeOvers);
            // the session ends once the BYE is on the wire: just after the media server can have read it
            for (int i = 0; i < 100 && rm.store.byCallId("c2@test") != null; i++) {
                Thread.sleep(20);
            }
            assertNull(rm.store.byCallId("c2@test"), "the session ended");
            assertEquals(1, rm.ended.get(EndReason.CALLER_BYE).get(), "ended by the caller's BYE: " + rm.ended);
            // the media server's 200 goes back to the caller by Via
            String via = atMedia.substring(atMedia.indexOf("Via:"));
            String ok = "SIP/2.0 200 OK\n" + atMedia.substring(atMedia.indexOf("Via:"), atMedia.indexOf("Content-Length"))
                    .replace("\r\n", "\n") + "Content-Length: 0\n\n";
            assertTrue(via.contains(";branch="), via);
            media.send(ok, p);
            ua.expect("200");
            assertNull(peer.receive(200), "nothing went to the departed member");
            assertEquals(0, rm.store.size());
            assertEquals(0, rm.ledger.inUse("mcp"), "no port was taken or given back");
        }
    }
}
