package org.openrm.sip.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.openrm.sip.stack.TcpGuard;

/**
 * The TCP framer reads each message's body length by scanning the header bytes in place; it must find what the
 * regular expression it replaced found, on the RFC 4475/5118 corpus and on fuzzed header blocks.
 */
class ContentLengthScanTest {

    private static long regex(byte[] b) {
        Matcher m = TcpGuard.CONTENT_LENGTH.matcher(new String(b, StandardCharsets.ISO_8859_1));
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private static void same(byte[] b) {
        assertEquals(regex(b), TcpGuard.contentLength(b, b.length),
                () -> "differs on:\n" + new String(b, StandardCharsets.ISO_8859_1));
    }

    @Test
    void theScanFindsWhatTheRegexFound() throws Exception {
        List<String> corpus = new ArrayList<>(List.of(
                "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
                "INVITE sip:a@b SIP/2.0\r\nl: 129\r\nContent-Length: 7\r\n\r\n",
                "X SIP/2.0\r\ncontent-length  :\t42 \t\r\n\r\n",
                "X SIP/2.0\r\nContent-Length: 1234567890\r\nl: 3\r\n\r\n",
                "X SIP/2.0\r\nContent-Length: 12x\r\nContent-Length: 5\r\n\r\n",
                "X SIP/2.0\r\nContent-Lengthx: 12\r\nL:9\r\n\r\n",
                "X SIP/2.0\nContent-Length: 8\n\n",
                "X SIP/2.0\rContent-Length: 8\rY\r\n\r\n",
                "X SIP/2.0\r\nContent-Length: 8\u0085next\r\n\r\n",
                "X SIP/2.0\r\nContent\rLength: 8\r\n\r\n"));
        Path dir = TortureTest.DIR;
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.filter(f -> f.toString().endsWith(".sip")).sorted().toList()) {
                    corpus.add(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
                }
            }
        }
        for (String s : corpus) {
            same(s.getBytes(StandardCharsets.ISO_8859_1));
        }
        Random rnd = new Random(20261207);
        String alphabet = "\r\n\r\n:: \t0123456789lLcC-ontent-LENGTH\u0085x";
        for (int n = 0; n < 50_000; n++) {
            char[] c = corpus.get(rnd.nextInt(corpus.size())).toCharArray();
            for (int k = rnd.nextInt(6); k >= 0; k--) {
                c[rnd.nextInt(c.length)] = alphabet.charAt(rnd.nextInt(alphabet.length()));
            }
            same(new String(c).getBytes(StandardCharsets.ISO_8859_1));
        }
    }
}
