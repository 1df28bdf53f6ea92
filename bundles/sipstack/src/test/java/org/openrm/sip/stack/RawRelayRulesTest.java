package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The byte-level relay validates header values in place (no String per value); each rule must say what the String
 * rules it replaced said ({@link StringRules}), on every header value of the RFC 4475/5118 corpus, on those values
 * fuzzed, and on random strings of the characters the rules care about.
 */
class RawRelayRulesTest {

    private static final Path CORPUS = Path.of("../sip/src/test/resources/sip-torture").toAbsolutePath();
    private static final String[] VIA = {"branch", "rport", "received", "alias", "keep"};
    private static final String[] URI = {"lr", "transport", "user", "ftag", "ob"};
    private static final String[] HEADER = {"tag", "expires", "q"};

    private int accepted;

    private void same(byte[] b, int from, int to) {
        String v = new String(b, from, to - from, StandardCharsets.ISO_8859_1);
        String at = "on [" + v + "]";
        boolean n = StringRules.nameAddrs(b, from, to);
        assertEquals(n, RawRelay.nameAddrs(b, from, to), () -> "nameAddrs " + at);
        boolean via = StringRules.viaLine(b, from, to);
        assertEquals(via, RawRelay.viaLine(b, from, to), () -> "viaLine " + at);
        assertEquals(StringRules.callIdOk(b, from, to), RawRelay.callIdOk(b, from, to), () -> "callIdOk " + at);
        boolean u = StringRules.uriOk(v);
        assertEquals(u, RawRelay.uriOk(b, from, to), () -> "uriOk " + at);
        assertEquals(StringRules.hostPort(v), RawRelay.hostPort(b, from, to), () -> "hostPort " + at);
        assertEquals(StringRules.isToken(v), RawRelay.isToken(b, from, to), () -> "isToken " + at);
        assertEquals(StringRules.isIpv4(v), RawRelay.isIpv4(b, from, to), () -> "isIpv4 " + at);
        for (int i = from; i < to; i++) {
            if (b[i] == ';') {
                String p = new String(b, i, to - i, StandardCharsets.ISO_8859_1);
                int k = i;
                assertEquals(StringRules.params(p, StringRules.VIA_PARAMS), RawRelay.params(b, i, to, VIA), () -> "via params at " + k + " " + at);
                assertEquals(StringRules.params(p, StringRules.URI_PARAMS), RawRelay.params(b, i, to, URI), () -> "uri params at " + k + " " + at);
                assertEquals(StringRules.params(p, StringRules.HEADER_PARAMS), RawRelay.params(b, i, to, HEADER), () -> "header params at " + k + " " + at);
            }
        }
        if (n || via || u) {
            accepted++;
        }
    }

    private static String pick(Random rnd, String[] from) {
        return from[rnd.nextInt(from.length)];
    }

    /** Every header value of a message: after the first colon of each line, to the line's end. */
    private void values(byte[] m) {
        int pos = 0;
        while (pos < m.length) {
            int eol = pos;
            while (eol < m.length && m[eol] != '\n') {
                eol++;
            }
            int e = eol > pos && m[eol - 1] == '\r' ? eol - 1 : eol;
            int colon = pos;
            while (colon < e && m[colon] != ':') {
                colon++;
            }
            if (colon < e) {
                same(m, colon + 1, e);
            }
            same(m, pos, e); // the whole line too (a request line's URI and odd shapes)
            pos = eol + 1;
        }
    }

    @Test
    void inPlaceRulesSayWhatTheStringRulesSaid() throws Exception {
        List<String> corpus = new ArrayList<>(List.of(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=5060;received=10.0.0.2, SIP/2.0/TCP h-1.b:7;alias\r\n",
                "Route: <sip:10.0.0.1:5060;lr;transport=udp>, \"A b\" <sip:u@h;ftag=x>;q=0.5\r\n",
                "From: Alice Smith <sip:alice@a.example;user=phone>;tag=1928 \r\n",
                "To: sip <sip:b@h>\r\nTo:\t<sip:%41@h>\r\nTo: \"x\\\"y\" <sip:h>\r\nContact: <sip:h:0>, <sip:h:65536>\r\n",
                "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\nCall-ID: @x\r\nCall-ID: x@\r\nCall-ID:  a@b@c \r\n",
                "Max-Forwards:  70 \r\nVia: SIP/2.0/UDP  h ; branch = z9hG4bK ; received = 1.2.3.4\r\n"));
        if (Files.isDirectory(CORPUS)) {
            try (Stream<Path> files = Files.walk(CORPUS)) {
                for (Path p : files.filter(f -> f.toString().endsWith(".sip")).sorted().toList()) {
                    corpus.add(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
                }
            }
        }
        assertTrue(corpus.size() > 20, "the torture corpus was found at " + CORPUS);
        for (String s : corpus) {
            values(s.getBytes(StandardCharsets.ISO_8859_1));
        }
        Random rnd = new Random(20261208);
        String alphabet = "<>\"\\;=,:@%?#[] \t.-_/sipSIP2.0UDPTCPtagbranchreceivedlrtransportq1234567890az\u0001\u00b5\u00ff";
        for (int n = 0; n < 30_000; n++) {
            char[] c = corpus.get(rnd.nextInt(corpus.size())).toCharArray();
            for (int k = rnd.nextInt(6); k >= 0; k--) {
                c[rnd.nextInt(c.length)] = alphabet.charAt(rnd.nextInt(alphabet.length()));
            }
            values(new String(c).getBytes(StandardCharsets.ISO_8859_1));
        }
        String[] pieces = {"<", ">", "\"", ";", "=", ",", ":", "@", " ", "\t", "sip:", "SIP/2.0/UDP ", "SIP/2.0/TCP ",
            "tag", "branch", "received", "lr", "q", "tel", "SIPS", "Bob", "expires", "rport", "transport=tcp", "1.2.3.4", "5060", "h", "a b", "%", "?", "\\", "99999", "0"};
        for (int n = 0; n < 200_000; n++) {
            StringBuilder sb = new StringBuilder();
            for (int k = rnd.nextInt(14); k >= 0; k--) {
                sb.append(pieces[rnd.nextInt(pieces.length)]);
            }
            byte[] b = sb.toString().getBytes(StandardCharsets.ISO_8859_1);
            same(b, 0, b.length);
        }
        // shaped like the values the relay meets: name-addrs and Via values, each part drawn from near misses
        String[] display = {"", "Bob ", "tel ", "Sips ", "sip ", "\"A b\" ", "\"a\\\"b\" ", "\"x ", "a\tb ", "Bob", " ", "A-b "};
        String[] scheme = {"sip:", "SIP:", "sips:", "tel:", "sip", ""};
        String[] user = {"", "u@", "%4@", "%41@", "a;b@", "@", "u@v@", "a?b@"};
        String[] host = {"h", "1.2.3.4", "h-1.x", "[::1]", "", "h_x", "10.0.0.1"};
        String[] port = {"", ":5060", ":0", ":99999", ":65535", ":", ":5o"};
        String[] uriParams = {"", ";lr", ";transport=tcp", ";x=1", ";lr;ftag=a", ";", ";LR", ";user=phone;ob", "; lr"};
        String[] headerParams = {"", ";tag=1", " ; tag = 2", ";q=0.5", ";foo", ";tag", ";expires=60", "x", " ;Tag=a.b"};
        String[] transport = {"SIP/2.0/UDP ", "SIP/2.0/TCP ", "sip/2.0/udp ", "SIP/2.0/TLS ", "SIP/2.0/UDP", "SIP/2.0/UDP  "};
        String[] viaParams = {"", ";branch=z9hG4bK1", ";rport", ";rport=5060", ";received=1.2.3.4", ";received=h",
            ";alias", ";keep=30", " ; branch = z9hG4bKx", ";maddr=1.2.3.4", ";branch="};
        for (int n = 0; n < 100_000; n++) {
            StringBuilder sb = new StringBuilder();
            boolean via = rnd.nextBoolean();
            for (int v = rnd.nextInt(3); v >= 0; v--) {
                if (via) {
                    sb.append(pick(rnd, transport)).append(pick(rnd, host)).append(pick(rnd, port))
                            .append(pick(rnd, viaParams)).append(pick(rnd, viaParams));
                } else {
                    sb.append(pick(rnd, display)).append('<').append(pick(rnd, scheme)).append(pick(rnd, user))
                            .append(pick(rnd, host)).append(pick(rnd, port)).append(pick(rnd, uriParams)).append('>')
                            .append(pick(rnd, headerParams)).append(pick(rnd, headerParams));
                }
                if (v > 0) {
                    sb.append(rnd.nextBoolean() ? ", " : ",");
                }
            }
            byte[] b = (" " + sb).getBytes(StandardCharsets.ISO_8859_1);
            same(b, 0, b.length);
            same(b, 1, b.length);
        }
        assertTrue(accepted > 10_000, "the inputs reached the rules' accepting paths: " + accepted);
    }
}
