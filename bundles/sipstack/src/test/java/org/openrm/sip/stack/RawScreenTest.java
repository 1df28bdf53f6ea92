package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The wire screen's string helpers, written without regular expressions, against the regex they replace. */
class RawScreenTest {

    @Test
    void unfoldingMatchesTheRegularExpressionOnRandomHeaderValues() {
        Random r = new Random(20261127);
        char[] alphabet = {'a', 'b', ' ', '\t', '\r', '\n', '<', '>', '"', ':'};
        for (int n = 0; n < 100_000; n++) {
            StringBuilder v = new StringBuilder();
            for (int i = r.nextInt(40); i > 0; i--) {
                v.append(alphabet[r.nextInt(alphabet.length)]);
            }
            String s = v.toString();
            byte[] b = ("X" + s + "Y").getBytes(StandardCharsets.ISO_8859_1);
            String expected = s.replaceAll("\\r?\\n[ \\t]+", " ").trim();
            assertEquals(expected, RawScreen.unfolded(b, 1, b.length - 1), () -> "value " + s.replace("\r", "\\r").replace("\n", "\\n"));
        }
    }

    @Test
    void headerNamesAreMatchedCaseInsensitivelyAndOthersAreBlank() {
        for (String[] c : new String[][] {{"Via", "via"}, {"v", "v"}, {"FROM", "from"}, {"Call-ID", "call-id"},
                {"i", "i"}, {"CSeq", "cseq"}, {"Max-Forwards", "max-forwards"}, {"content-LENGTH", "content-length"},
                {"l", "l"}, {"t", "t"}, {"To", "to"}, {"Contact", ""}, {"Vias", ""}, {"", ""}, {"x-via", ""}}) {
            byte[] b = (" " + c[0] + ":").getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(c[1], RawScreen.name(b, 1, b.length - 1), c[0]);
        }
    }

    @Test
    void wordsSplitLikeTheRegularExpressions() {
        assertArrayEquals("INVITE sip:a@b SIP/2.0".split(" +"), RawScreen.words("INVITE  sip:a@b SIP/2.0", false));
        assertArrayEquals(new String[] {"INVITE\tsip:a@b", "SIP/2.0"}, RawScreen.words(" INVITE\tsip:a@b  SIP/2.0 ", false));
        assertArrayEquals(new String[] {"1", "INVITE"}, RawScreen.words("1 \t INVITE", true));
        assertArrayEquals(new String[0], RawScreen.words("   ", true));
    }

    private static RawScreen.Refusal screen(String requestLine, String via, String to, String cseq) {
        byte[] b = (requestLine + "\r\nVia: " + via + "\r\nFrom: <sip:a@b>;tag=1\r\nTo: " + to + "\r\nCall-ID: x@y\r\nCSeq: "
                + cseq + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        return RawScreen.check(b, 0, b.length, 65536);
    }

    @Test
    void requestsTheParserCannotReadAreRefusedFromTheirBytes() {
        String rl = "INVITE sip:u@example.com SIP/2.0", via = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", to = "<sip:u@example.com>";
        assertEquals(null, screen(rl, via, to, "8 INVITE"));
        assertEquals(null, screen("INVITE  sip:u@example.com   SIP/2.0", via, to, "8 INVITE")); // runs of SP: normalised
        assertEquals(null, screen(rl, via + ";received=192.0.2.9, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2", to, "8 INVITE"));
        assertEquals(null, screen(rl, via + ";x=\"a;,b\"", "\"Mr. \\\"J\\\" User\" <sip:u@example.com>", "2147483647 INVITE"));
        // RFC 4475 3.1.2.1, 3.1.2.4, 3.1.2.6, 3.1.2.7, 3.1.2.8
        for (String v : new String[] {"SIP/2.0/UDP 192.0.2.15;;,;,,", via + ";", via + ",", via + ";;lr", ";" + via, via + ", ,x"}) {
            assertEquals(400, screen(rl, v, to, "8 INVITE").code(), v);
        }
        assertEquals(400, screen(rl, via, to, "36893488147419103232 INVITE").code());
        assertEquals(400, screen(rl, via, to, "2147483648 INVITE").code());
        assertEquals(400, screen(rl, via, to, "-1 INVITE").code());
        assertEquals(400, screen(rl, via, to, "INVITE").code());
        assertEquals(400, screen(rl, via, "\"Mr. J. User <sip:u@example.com>", "8 INVITE").code());
        assertEquals(400, screen("INVITE <sip:u@example.com> SIP/2.0", via, to, "8 INVITE").code());
        assertEquals(400, screen("INVITE sip:u@example.com; lr SIP/2.0", via, to, "8 INVITE").code());
        assertEquals(400, screen("INVITE sip:u@example.com", via, to, "8 INVITE").code());
        for (String[] c : new String[][] {{" 0", "true"}, {" 152\r\n", "true"}, {"\t7 ", "true"}, {" -999", "false"},
                {" ", "false"}, {" 1 2", "false"}, {" 12345678901", "false"}, {" 0x10", "false"}}) {
            byte[] b = c[0].getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(Boolean.parseBoolean(c[1]), RawScreen.digits(b, 0, b.length), c[0]);
        }
    }
}
