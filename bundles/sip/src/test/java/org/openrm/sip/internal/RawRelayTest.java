package org.openrm.sip.internal;

import org.openrm.sip.stack.*;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.ListIterator;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import javax.sip.SipFactory;
import javax.sip.address.SipURI;
import javax.sip.header.Header;
import javax.sip.header.HeaderFactory;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Message;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The byte-level relay against the reference stack doing what openrm does with the same message (DialogRouter's
 * stateless ACK/BYE relay, StrayResponses' relay by Via): wherever the byte relay relays, the stack would have
 * relayed the same message (every header's values in order, the body) to the same address; on the RFC 4475/5118
 * corpus, on typical call messages, and on thousands of fuzzed variants of both. Where the two could differ it
 * must refuse (and the stack relays as before).
 */
class RawRelayTest {
    static final RawRelay.Self SELF = new RawRelay.Self("127.0.0.1", "127.0.0.1", 5060, 100, 4096);
    static MessageFactory mf;
    static HeaderFactory hf;

    @BeforeAll
    static void stack() throws Exception {
        SipFactory f = SipFactory.getInstance();
        f.setPathName("gov.nist");
        mf = f.createMessageFactory();
        hf = f.createHeaderFactory();
    }

    static final String BYE = "BYE sip:127.0.0.1:15071;transport=UDP SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:15090;branch=z9hG4bK-2238-261-5\r\n"
            + "Route: <sip:127.0.0.1:5060;lr;ftag=2238SIPpTag00261>\r\n"
            + "From: sipp <sip:sipp@127.0.0.1:15090>;tag=2238SIPpTag00261\r\n"
            + "To: <sip:5551234@127.0.0.1:5060>;tag=2206SIPpTag01132\r\n"
            + "Call-ID: 261-2238@127.0.0.1\r\n"
            + "CSeq: 2 BYE\r\n"
            + "Contact: <sip:sipp@127.0.0.1:15090;transport=UDP>\r\n"
            + "Max-Forwards: 70\r\n"
            + "Content-Length: 0\r\n\r\n";

    static final String OK = "SIP/2.0 200 OK\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-orm-s1a2b3c4d5e6\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:15090;branch=z9hG4bK-2238-261-5;rport=15091;received=127.0.0.2\r\n"
            + "From: sipp <sip:sipp@127.0.0.1:15090>;tag=2238SIPpTag00261\r\n"
            + "To: <sip:5551234@127.0.0.1:5060>;tag=2206SIPpTag01132\r\n"
            + "Call-ID: 261-2238@127.0.0.1\r\n"
            + "CSeq: 2 BYE\r\n"
            + "Content-Length: 0\r\n\r\n";

    /** What the reference stack does with the message in openrm: the relayed message and where it goes, or null. */
    record Relayed(Message message, String host, int port) { }


    static Relayed reference(String text) {
        return reference(text, false);
    }

    /** As the stack relays it when it came over {@code tcp} (openrm's Via says TCP). */
    static Relayed reference(String text, boolean tcp) {
        Message m;
        try {
            m = text.startsWith("SIP/") ? mf.createResponse(text) : mf.createRequest(text);
        } catch (Exception | Error e) {
            why = e.toString();
            return null; // the stack cannot read it: it relays nothing
        }
        try {
            if (m instanceof Response r) {
                ViaHeader top = (ViaHeader) r.getHeader(ViaHeader.NAME);
                if (top == null || !SELF.isOwn(top.getHost(), top.getPort())) {
                    return null;
                }
                r.removeFirst(ViaHeader.NAME);
                ViaHeader next = (ViaHeader) r.getHeader(ViaHeader.NAME);
                if (next == null) {
                    return null;
                }
                String host = next.getReceived() != null ? next.getReceived() : next.getHost();
                int port = next.getRPort() > 0 ? next.getRPort() : next.getPort() > 0 ? next.getPort() : 5060;
                return new Relayed(r, host, port);
            }
            Request q = (Request) m;
            if (!Request.ACK.equals(q.getMethod()) && !Request.BYE.equals(q.getMethod())
                    || ((ToHeader) q.getHeader(ToHeader.NAME)).getTag() == null) {
                return null;
            }
            MaxForwardsHeader mfh = (MaxForwardsHeader) q.getHeader(MaxForwardsHeader.NAME);
            if (mfh != null && mfh.getMaxForwards() <= 0) {
                return null;
            }
            int ours = 0;
            for (; ours < 4; ours++) {
                RouteHeader r = (RouteHeader) q.getHeader(RouteHeader.NAME);
                if (r == null || !(r.getAddress().getURI() instanceof SipURI su) || !SELF.isOwn(su.getHost(), su.getPort())) {
                    break;
                }
                q.removeFirst(RouteHeader.NAME);
            }
            if (ours == 0) {
                return null;
            }
            RouteHeader r = (RouteHeader) q.getHeader(RouteHeader.NAME);
            SipURI hop = (SipURI) (r != null ? r.getAddress().getURI() : q.getRequestURI());
            if (mfh == null) {
                q.setHeader(hf.createMaxForwardsHeader(69));
            } else {
                mfh.decrementMaxForwards();
            }
            q.addFirst(hf.createViaHeader(SELF.viaHost(), SELF.port(), tcp ? "tcp" : "udp", Sip.statelessBranch(q)));
            return new Relayed(q, hop.getHost(), hop.getPort() > 0 ? hop.getPort() : 5060);
        } catch (Exception | Error e) {
            why = e.toString();
            return null;
        }
    }

    static String why;

    /** Every header's values, in order, by lower-case name; and the body. */
    static Map<String, List<String>> headers(Message m) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (ListIterator<String> names = m.getHeaderNames(); names.hasNext(); ) {
            String n = names.next();
            List<String> values = new ArrayList<>();
            for (ListIterator<Header> h = m.getHeaders(n); h.hasNext(); ) {
                values.add(h.next().toString().trim());
            }
            out.put(n.toLowerCase(java.util.Locale.ROOT), values);
        }
        out.put("(body)", List.of(m.getRawContent() == null ? "" : new String(m.getRawContent(), StandardCharsets.ISO_8859_1)));
        out.put("(first line)", List.of(m instanceof Request q ? q.getMethod() + " " + q.getRequestURI()
                : ((Response) m).getStatusCode() + " " + ((Response) m).getReasonPhrase()));
        return out;
    }

    /** Checks one message; returns whether the byte relay relayed it. */
    static boolean check(String text) {
        return check(text, false);
    }

    /** As {@link #check(String)}, for a message received over {@code tcp}. */
    static boolean check(String text, boolean tcp) {
        byte[] b = text.getBytes(StandardCharsets.ISO_8859_1);
        if (RawScreen.check(b, 0, b.length, 16384) != null) {
            return false; // refused before the relay ever sees it
        }
        RawRelay.Out out = new RawRelay.Out();
        if (!new RawRelay().relay(b, b.length, SELF, out, tcp)) {
            return false;
        }
        assertEquals(tcp, out.tcp);
        Relayed ref = reference(text, tcp);
        assertNotNull(ref, () -> "relayed what the stack would not relay (" + why + "):\n" + text);
        String relayed = new String(out.data, 0, out.length, StandardCharsets.ISO_8859_1);
        Message mine;
        try {
            mine = relayed.startsWith("SIP/") ? mf.createResponse(relayed) : mf.createRequest(relayed);
        } catch (Exception e) {
            throw new AssertionError("the relayed bytes do not parse: " + e + "\n" + relayed, e);
        }
        assertEquals(headers(ref.message()), headers(mine), () -> "differs from the stack's relay of\n" + text);
        assertEquals(ref.host(), out.address.getHostAddress(), text);
        assertEquals(ref.port(), out.port, text);
        return true;
    }

    @Test
    void typicalByeAckAndTheirResponsesAreRelayedAsTheStackWould() {
        assertTrue(check(BYE));
        assertTrue(check(BYE.replace("BYE sip", "ACK sip").replace("CSeq: 2 BYE", "CSeq: 1 ACK")));
        assertTrue(check(OK));
        // two of our Route entries, then the media server's; compact forms and odd spacing
        assertTrue(check(BYE.replace("Route: <sip:127.0.0.1:5060;lr;ftag=2238SIPpTag00261>\r\n",
                "Route: <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:127.0.0.1;lr>\r\nRoute: <sip:10.1.2.3:5080;lr>\r\n")));
        assertTrue(check(BYE.replace("Call-ID:", "i:").replace("To:", "t:  ").replace("Max-Forwards: 70", "Max-Forwards:   9")));
        assertTrue(check(OK.replace("Via: SIP/2.0/UDP 127.0.0.1:15090;branch=z9hG4bK-2238-261-5;rport=15091;received=127.0.0.2",
                "v: SIP/2.0/UDP 127.0.0.1:15090;branch=z9hG4bK-x, SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-y")));
        // sipp's [last_Via:] writes every Via on one line: ours first
        assertTrue(check(OK.replace("z9hG4bK-orm-s1a2b3c4d5e6\r\nVia: SIP/2.0/UDP 127.0.0.1:15090", "z9hG4bK-orm-s1a2b3c4d5e6, SIP/2.0/UDP 127.0.0.1:15090")));
        RawRelay.Out out = new RawRelay.Out();
        byte[] b = BYE.getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(new RawRelay().relay(b, b.length, SELF, out));
        assertEquals("261-2238@127.0.0.1", out.byeCallId);
        assertEquals("2238SIPpTag00261", out.byeFromTag);
    }

    /** Over TCP: an in-dialog ACK/BYE towards a TCP next hop, with its Content-Length, leaves with openrm's TCP Via. */
    static final String TCP_BYE = BYE.replace("sip:127.0.0.1:15071;transport=UDP", "sip:127.0.0.1:15071;transport=tcp")
            .replace("SIP/2.0/UDP 127.0.0.1:15090", "SIP/2.0/TCP 127.0.0.1:15090")
            .replace("<sip:127.0.0.1:5060;lr;ftag=2238SIPpTag00261>", "<sip:127.0.0.1:5060;transport=tcp;lr;ftag=2238SIPpTag00261>");

    @Test
    void overTcpTheSameRelayWithATcpVia() {
        assertTrue(check(TCP_BYE, true));
        assertTrue(check(TCP_BYE.replace("BYE sip", "ACK sip").replace("CSeq: 2 BYE", "CSeq: 1 ACK"), true));
        RawRelay.Out out = new RawRelay.Out();
        byte[] b = TCP_BYE.getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(new RawRelay().relay(b, b.length, SELF, out, true));
        String sent = new String(out.data, 0, out.length, StandardCharsets.ISO_8859_1);
        assertTrue(sent.contains("\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-orm-s"), sent);
        RawRelay r = new RawRelay();
        for (String s : List.of(
                TCP_BYE.replace("Content-Length: 0\r\n", ""), // mandatory over TCP: the stack's to judge
                TCP_BYE.replace("Content-Length: 0\r\n", "Content-Length: 0\r\nl: 0\r\n"), // twice
                TCP_BYE.replace("sip:127.0.0.1:15071;transport=tcp", "sip:127.0.0.1:15071;transport=udp"), // UDP next hop
                TCP_BYE.replace("sip:127.0.0.1:15071;transport=tcp", "sip:127.0.0.1:15071;transport=tls"),
                TCP_BYE.replace("sip:127.0.0.1:15071;transport=tcp", "sip:127.0.0.1:15071"), // no transport: UDP
                OK)) { // an answer whose Via back is UDP, received over TCP
            byte[] m = s.getBytes(StandardCharsets.ISO_8859_1);
            assertFalse(r.relay(m, m.length, SELF, out, true), () -> "relayed over TCP:\n" + s);
        }
        // the answer to a BYE openrm relayed, back to a TCP Via
        String tcpOk = OK.replace("SIP/2.0/UDP 127.0.0.1:15090", "SIP/2.0/TCP 127.0.0.1:15090")
                .replace("SIP/2.0/UDP 127.0.0.1:5060", "SIP/2.0/TCP 127.0.0.1:5060");
        assertTrue(check(tcpOk, true));
        byte[] ok = tcpOk.getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(new RawRelay().relay(ok, ok.length, SELF, out, true));
        assertEquals("127.0.0.2", out.address.getHostAddress()); // received and rport of the caller's Via
        assertEquals(15091, out.port);
        assertFalse(r.relay(ok, ok.length, SELF, out, false), "a TCP Via back, received over UDP");
        byte[] noLength = tcpOk.replace("Content-Length: 0\r\n", "").getBytes(StandardCharsets.ISO_8859_1);
        assertFalse(r.relay(noLength, noLength.length, SELF, out, true), "no Content-Length over TCP");
        assertEquals(new java.net.InetSocketAddress("127.0.0.1", 15090), RawRelay.topViaSentBy(b, b.length));
        // and a UDP message with a TCP next hop stays refused on UDP
        assertFalse(r.relay(b, b.length, SELF, out, false));
    }

    @Test
    void whatItCannotRelayExactlyIsLeftToTheStack() {
        RawRelay r = new RawRelay();
        RawRelay.Out out = new RawRelay.Out();
        for (String s : List.of(
                BYE.replace("Route: <sip:127.0.0.1:5060;lr;ftag=2238SIPpTag00261>\r\n", ""), // not routed through us
                BYE.replace("Max-Forwards: 70\r\n", ""), // the stack adds one
                BYE.replace("Max-Forwards: 70", "Max-Forwards: 0"), // 483
                BYE.replace("sip:127.0.0.1:15071;transport=UDP", "sip:127.0.0.1:15071;transport=tcp"), // another transport
                BYE.replace("sip:127.0.0.1:15071;transport=UDP", "sip:mcp.example.com:15071"), // a name
                BYE.replace(";tag=2206SIPpTag01132", ""), // out of dialog
                BYE.replace("Route: <sip:127.0.0.1:5060;lr;ftag=2238SIPpTag00261>", "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>"),
                BYE.replace("Contact: <sip", "Contact:\r\n <sip"), // folded
                BYE.replace("\r\n", "\n"), // bare line feeds
                BYE.replace("CSeq: 2 BYE", "CSeq: 2 ACK"),
                BYE.replace("Max-Forwards: 70", "Max-Forwards: 70\r\nProxy-Require: foo"),
                BYE.replace("BYE sip:", "BYE sips:"),
                BYE.replace("BYE ", "INFO ").replace("CSeq: 2 BYE", "CSeq: 2 INFO"),
                OK.replace("z9hG4bK-orm-s", "z9hG4bK-orm-"), // a transaction's branch, not a stateless one
                OK.replace("CSeq: 2 BYE", "CSeq: 1 INVITE"),
                OK.replace("127.0.0.1:5060;branch", "127.0.0.1:5061;branch"), // not our Via
                OK.replace("SIP/2.0/UDP 127.0.0.1:15090", "SIP/2.0/TCP 127.0.0.1:15090"))) {
            byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
            assertFalse(r.relay(b, b.length, SELF, out), () -> "relayed:\n" + s);
        }
    }

    @Test
    void theTortureCorpusAndFuzzedMessagesNeverDiffer() throws Exception {
        List<String> corpus = new ArrayList<>();
        if (Files.isDirectory(TortureTest.DIR)) {
            try (Stream<Path> files = Files.walk(TortureTest.DIR)) {
                for (Path p : files.filter(f -> f.toString().endsWith(".sip")).sorted().toList()) {
                    String s = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
                    corpus.add(s);
                    // the same message made a candidate: in a dialog, routed through openrm
                    corpus.add(s.replaceFirst("^[A-Z]+ ", "BYE ").replaceFirst("(?m)^(To|t)\\s*:([^\\r\\n]*)", "To:$2;tag=fz1")
                            .replaceFirst("\r\n", "\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n"));
                }
            }
        }
        corpus.add(BYE);
        corpus.add(OK);
        corpus.add(BYE.replace("BYE sip", "ACK sip").replace("CSeq: 2 BYE", "CSeq: 1 ACK"));
        int relayed = 0;
        for (String s : corpus) {
            if (check(s)) {
                relayed++;
            }
        }
        Random rnd = new Random(20261201);
        String alphabet = "\r\n:;,<> =\t\"@.5sip0aBYEACKtag";
        int fuzzedRelayed = 0;
        int fuzzedTcp = 0;
        for (int n = 0; n < 20_000; n++) {
            char[] c = corpus.get(corpus.size() - 1 - rnd.nextInt(3)).toCharArray();
            for (int k = rnd.nextInt(4); k >= 0; k--) {
                c[rnd.nextInt(c.length)] = alphabet.charAt(rnd.nextInt(alphabet.length()));
            }
            String f = new String(c);
            if (check(f)) {
                fuzzedRelayed++;
            }
            // the same over TCP, towards a TCP next hop
            if (check(f.replace(";transport=UDP", ";transport=tcp").replace("SIP/2.0/UDP 127.0.0.1:15090", "SIP/2.0/TCP 127.0.0.1:15090"), true)) {
                fuzzedTcp++;
            }
        }
        for (String s : corpus) {
            check(s, true);
        }
        System.out.printf("raw relay: corpus %d of %d relayed, fuzzed %d of 20000 relayed (%d over TCP), all equal to the stack's%n",
                relayed, corpus.size(), fuzzedRelayed, fuzzedTcp);
        assertTrue(relayed >= 3 && fuzzedRelayed > 1000, "the relay refused nearly everything: " + fuzzedRelayed);
        assertTrue(fuzzedTcp > 1000, "over TCP the relay refused nearly everything: " + fuzzedTcp);
    }
}
