package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.junit.jupiter.api.Test;

class WireCountsTest {

    private static int kind(String s) {
        byte[] b = ("xx" + s).getBytes(StandardCharsets.ISO_8859_1);
        return WireCounts.kindOf(b, 2, b.length - 2);
    }

    @Test
    void namesTheMethodFromTheFirstBytes() {
        assertEquals(0, kind("INVITE sip:a@b SIP/2.0\r\n"));
        assertEquals(WireCounts.ACK_KIND, kind("ACK sip:a@b SIP/2.0\r\n"));
        assertEquals(2, kind("BYE sip:a@b SIP/2.0\r\n"));
        assertEquals(WireCounts.RESPONSE, kind("SIP/2.0 200 OK\r\n"));
        assertEquals(WireCounts.RESPONSE, kind("\r\nSIP/2.0 100 Trying\r\n"));
        // a longer token that starts like a known method, an unknown one, a method without its space
        assertEquals(WireCounts.OTHER, kind("INVITEX sip:a@b SIP/2.0\r\n"));
        assertEquals(WireCounts.OTHER, kind("NEWMETHOD sip:a@b SIP/2.0\r\n"));
        assertEquals(WireCounts.OTHER, kind("BYE"));
        assertEquals(WireCounts.OTHER, kind("invite sip:a@b SIP/2.0\r\n"));
        // keep-alives and empty datagrams are no message
        assertEquals(-1, kind("\r\n\r\n"));
        assertEquals(-1, kind(""));
        for (int i = 0; i < WireCounts.RESPONSE; i++) {
            assertEquals(i, kind(WireCounts.KINDS[i] + " sip:x SIP/2.0\r\n"), WireCounts.KINDS[i]);
            assertEquals(i, WireCounts.kindOf(WireCounts.KINDS[i]));
        }
        assertEquals(WireCounts.RESPONSE, WireCounts.kindOf((String) null));
        assertEquals(WireCounts.OTHER, WireCounts.kindOf("FOO"));
    }

    @Test
    void countsByTransportAndKindWithBoundedLabels() {
        WireCounts w = new WireCounts();
        byte[] inv = "INVITE sip:a@b SIP/2.0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        w.count(WireCounts.UDP, inv, 0, inv.length);
        w.count(WireCounts.UDP, inv, 0, inv.length);
        w.count(WireCounts.TCP, WireCounts.RESPONSE);
        w.count(WireCounts.transportOf("SCTP"), WireCounts.kindOf("X-" + System.nanoTime()));
        w.count(WireCounts.UDP, -1);
        assertEquals(Map.of("udp.INVITE", 2L, "tcp.response", 1L, "other.other", 1L), w.snapshot());
        assertEquals(WireCounts.UDP, WireCounts.transportOf(null));
        assertEquals(WireCounts.TCP, WireCounts.transportOf("tcp"));
    }
}
