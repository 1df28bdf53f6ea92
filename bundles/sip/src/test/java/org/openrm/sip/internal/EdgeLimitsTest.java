package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Strangers, oversized messages, too many connections, slowloris: the SIP edge's limits, each triggered. */
class EdgeLimitsTest {

    static ProxyUnderTest openrm(int port, Map<String, Object> sip) throws Exception {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of());
        c.put("org.openrm.resource~mcp", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + Sipp.freePort()));
        Map<String, Object> s = new HashMap<>(Map.of("warmup.messages", 0));
        s.putAll(sip);
        return new ProxyUnderTest(port, c, s);
    }

    static String options(int port, String extra) {
        return RawSip.request("OPTIONS", "sip:127.0.0.1:" + port, 1, 70, extra).replace("\n", "\r\n");
    }

    /** Reads from a TCP connection until {@code maxMs}: the text read, or null if the peer closed it first. */
    static String readOrClosed(Socket s, long maxMs) throws IOException {
        s.setSoTimeout((int) maxMs);
        InputStream in = s.getInputStream();
        byte[] b = new byte[8192];
        try {
            int n = in.read(b);
            return n < 0 ? null : new String(b, 0, n, StandardCharsets.ISO_8859_1);
        } catch (SocketTimeoutException e) {
            return "";
        } catch (IOException reset) {
            return null;
        }
    }

    @Test
    void strangersGet403OrSilence() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = openrm(p, Map.of("trusted.peers", "10.0.0.0/8", "untrusted.options.silent", true,
                "sipserver.uri", "sip:10.9.9.9:5090"));
             RawSip stranger = RawSip.stranger()) {
            // the media server at 127.0.0.1 is a known peer; 127.0.0.2 is nobody
            stranger.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, "127.0.0.2", stranger.port(), 70, ""), p);
            assertNull(stranger.receive(500), "a scanner's OPTIONS gets no answer when untrusted.options.silent");
            for (int i = 0; i < 20; i++) {
                stranger.send(RawSip.request("INVITE", "sip:123@127.0.0.1:" + p, "127.0.0.2", stranger.port(), 70, ""), p);
                stranger.expect("403");
            }
            assertEquals(21, rm.proxy.stack().edge().stats.untrusted.get());
            assertEquals(0, rm.proxy.stats.invites.get(), "no stranger's INVITE reached the proxy");
        }
    }

    @Test
    void largeDatagramsArriveWholeThroughTheScreenedSocketsOwnBuffer() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = openrm(p, Map.of("max.message.size", 40_000)); RawSip ua = new RawSip()) {
            // the stack's own per-datagram buffer is one byte: every datagram is the screened socket's exact copy
            assertEquals(1, rm.stack.udpBuffersShrunk());
            for (int size : new int[] {0, 1, 1_400, 20_000, 39_000}) {
                String req = RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, "")
                        .replace("Content-Length: 0\n\n", "Content-Type: text/plain\nContent-Length: " + size + "\n\n" + "x".repeat(size));
                ua.send(req, p);
                ua.expect("200"); // a truncated or padded copy would fail Content-Length and get 400 or nothing
            }
        }
    }

    @Test
    void oversizedAndOverlongMessagesAreRefused() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = openrm(p, Map.of("max.message.size", 4096, "max.headers", 40, "max.line.length", 1000));
             RawSip ua = new RawSip()) {
            String big = "X-Padding: " + "a".repeat(900) + "\n";
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, big.repeat(5)), p);
            ua.expect("513");
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, "X-Long: " + "b".repeat(1500) + "\n"), p);
            ua.expect("400");
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, "X-Many: 1\n".repeat(50)), p);
            ua.expect("400");
            ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, ""), p);
            ua.expect("200");
            // over TCP, a body announced beyond the bound closes the connection
            try (Socket t = new Socket(InetAddress.getLoopbackAddress(), p)) {
                OutputStream o = t.getOutputStream();
                o.write(options(p, "").replace("Content-Length: 0", "Content-Length: 100000").getBytes(StandardCharsets.ISO_8859_1));
                o.flush();
                assertNull(readOrClosed(t, 3000), "connection closed");
            }
            assertTrue(rm.proxy.stack().tcp().stats.closedOversize.get() >= 1);
            assertTrue(rm.proxy.stack().edge().stats.lineTooLong.get() + rm.proxy.stack().tcp().stats.screened.get() >= 1);
        }
    }

    @Test
    void connectionBoundsHoldPerSourceAndInTotal() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = openrm(p, Map.of("max.tcp.connections", 8, "max.tcp.connections.per.source", 5))) {
            List<Socket> open = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    open.add(new Socket(InetAddress.getLoopbackAddress(), p));
                }
                int refused = 0;
                for (Socket s : open) {
                    if (readOrClosed(s, 300) == null) {
                        refused++;
                    }
                }
                assertEquals(3, refused, "5 connections from 127.0.0.1 at most");
                // other sources fill the total bound of 8
                for (int i = 0; i < 4; i++) {
                    open.add(new Socket(InetAddress.getByName("127.0.0.1"), p, InetAddress.getByName("127.0.0." + (10 + i)), 0));
                }
                int refusedTotal = 0;
                for (Socket s : open.subList(8, 12)) {
                    if (readOrClosed(s, 300) == null) {
                        refusedTotal++;
                    }
                }
                assertEquals(1, refusedTotal, "8 connections in total at most");
                assertEquals(3, rm.proxy.stack().tcp().stats.refusedPerSource.get());
                assertEquals(1, rm.proxy.stack().tcp().stats.refusedTotal.get());
                // the connections held still work
                Socket first = open.get(0);
                first.getOutputStream().write(options(p, "").getBytes(StandardCharsets.ISO_8859_1));
                String r = readOrClosed(first, 3000);
                assertTrue(r != null && r.startsWith("SIP/2.0 200"), "held connection answered: " + r);
            } finally {
                for (Socket s : open) {
                    s.close();
                }
            }
        }
    }

    @Test
    void slowlorisAndIdleConnectionsAreClosed() throws Exception {
        int p = Sipp.freePort();
        try (ProxyUnderTest rm = openrm(p, Map.of("tcp.message.timeout.s", 2, "tcp.idle.timeout.s", 3,
                "max.tcp.connections.per.source", 100))) {
            int threadsBefore = Thread.activeCount();
            List<Socket> slow = new ArrayList<>();
            byte[] msg = options(p, "").getBytes(StandardCharsets.ISO_8859_1);
            try {
                for (int i = 0; i < 40; i++) {
                    slow.add(new Socket(InetAddress.getLoopbackAddress(), p));
                }
                Socket idle = new Socket(InetAddress.getLoopbackAddress(), p);
                slow.add(idle);
                long start = System.currentTimeMillis();
                // one byte a second on each slow connection
                int sent = 0;
                int closed = 0;
                while (System.currentTimeMillis() - start < 8000 && closed < 40) {
                    closed = 0;
                    for (int i = 0; i < 40; i++) {
                        try {
                            slow.get(i).getOutputStream().write(msg[sent % msg.length]);
                        } catch (IOException gone) {
                            closed++;
                        }
                    }
                    sent++;
                    // meanwhile a well-behaved peer is served
                    try (Socket good = new Socket(InetAddress.getLoopbackAddress(), p)) {
                        good.getOutputStream().write(msg);
                        String r = readOrClosed(good, 2000);
                        assertTrue(r != null && r.startsWith("SIP/2.0 200"), "served during the attack: " + r);
                    }
                    Thread.sleep(1000);
                }
                long took = System.currentTimeMillis() - start;
                System.out.printf("slowloris: 40 connections sending a byte a second closed after %d ms (%d bytes each); "
                        + "closed slow %d, idle %d; threads %d -> %d%n", took, sent, rm.proxy.stack().tcp().stats.closedSlow.get(),
                        rm.proxy.stack().tcp().stats.closedIdle.get(), threadsBefore, Thread.activeCount());
                assertEquals(40, closed, "every slow connection closed");
                assertTrue(rm.proxy.stack().tcp().stats.closedSlow.get() >= 40);
                assertNull(readOrClosed(idle, 3000), "the idle connection is closed too");
                assertTrue(rm.proxy.stack().tcp().stats.closedIdle.get() >= 1);
                long end = System.currentTimeMillis() + 3000;
                while (rm.proxy.stack().tcp().open() > 0 && System.currentTimeMillis() < end) {
                    Thread.sleep(50);
                }
                assertEquals(0, rm.proxy.stack().tcp().open(), "no connection left open");
            } finally {
                for (Socket s : slow) {
                    s.close();
                }
            }
        }
    }
}
