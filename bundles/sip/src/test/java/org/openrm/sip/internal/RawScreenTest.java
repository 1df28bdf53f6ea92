package org.openrm.sip.internal;

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
}
