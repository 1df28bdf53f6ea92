package org.openrm.sip.internal;

import org.openrm.sip.stack.*;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import javax.sip.SipFactory;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.RetryAfterHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.junit.jupiter.api.Test;

/** The overload guard's byte-level INVITE finder and 503 writer, against the reference stack's parser. */
class ShedScreenTest {
    static final String INVITE = "INVITE sip:5551234@127.0.0.1:5060 SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-1;rport\r\n"
            + "v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-0\r\n"
            + "From: sipp <sip:sipp@127.0.0.1:5090>;tag=1SIPpTag001\r\n"
            + "To: <sip:5551234@127.0.0.1:5060>\r\n"
            + "Call-ID: 1-2345@127.0.0.1\r\n"
            + "CSeq: 1 INVITE\r\n"
            + "Max-Forwards: 70\r\n"
            + "Content-Length: 0\r\n\r\n";

    static MessageFactory mf() throws Exception {
        SipFactory f = SipFactory.getInstance();
        f.setPathName("gov.nist");
        return f.createMessageFactory();
    }

    @Test
    void aNewInviteIsFoundAndItsShed503IsWhatTheStackWouldAnswer() throws Exception {
        byte[] b = INVITE.getBytes(StandardCharsets.ISO_8859_1);
        ShedScreen.Verdict v = new ShedScreen.Verdict();
        assertEquals(ShedScreen.NEW_INVITE, ShedScreen.classify(b, b.length, v));
        assertEquals(OverloadGuard.hash("1-2345@127.0.0.1"), v.callIdHash);
        byte[] answer = ShedScreen.overloaded(b, v, 2);
        Request req = mf().createRequest(INVITE);
        Response r = mf().createResponse(new String(answer, StandardCharsets.ISO_8859_1));
        assertEquals(503, r.getStatusCode());
        assertEquals("Overloaded", r.getReasonPhrase());
        assertEquals(2, ((RetryAfterHeader) r.getHeader(RetryAfterHeader.NAME)).getRetryAfter());
        List<String> vias = new java.util.ArrayList<>();
        r.getHeaders(ViaHeader.NAME).forEachRemaining(h -> vias.add(h.toString()));
        List<String> expected = new java.util.ArrayList<>();
        req.getHeaders(ViaHeader.NAME).forEachRemaining(h -> expected.add(h.toString()));
        assertEquals(expected, vias);
        assertEquals(req.getHeader(CallIdHeader.NAME), r.getHeader(CallIdHeader.NAME));
        assertEquals(req.getHeader(CSeqHeader.NAME), r.getHeader(CSeqHeader.NAME));
        ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
        assertTrue(to.getTag().startsWith(ShedScreen.TAG_PREFIX), to.toString());
        assertEquals(((ToHeader) req.getHeader(ToHeader.NAME)).getAddress(), to.getAddress());

        // its ACK is recognised and absorbed; an ACK of a dialog is not
        String ack = INVITE.replace("INVITE sip", "ACK sip").replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
                .replace("To: <sip:5551234@127.0.0.1:5060>", "To: <sip:5551234@127.0.0.1:5060>;tag=" + to.getTag());
        byte[] a = ack.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(ShedScreen.SHED_ACK, ShedScreen.classify(a, a.length, v));
        byte[] dialogAck = ack.replace(to.getTag(), "4711SIPpTag01").getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(ShedScreen.OTHER, ShedScreen.classify(dialogAck, dialogAck.length, v));
    }

    @Test
    void compactFormsFoldedLinesAndBareLineFeedsAreHandled() throws Exception {
        String s = INVITE.replace("Call-ID: 1-2345@127.0.0.1", "i:   1-2345@127.0.0.1  ")
                .replace("To: <sip:5551234@127.0.0.1:5060>", "t: \"Long\r\n  Name\" <sip:5551234@127.0.0.1:5060>")
                .replace("\r\n", "\n");
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        ShedScreen.Verdict v = new ShedScreen.Verdict();
        assertEquals(ShedScreen.NEW_INVITE, ShedScreen.classify(b, b.length, v));
        assertEquals(OverloadGuard.hash("1-2345@127.0.0.1"), v.callIdHash);
        Response r = mf().createResponse(new String(ShedScreen.overloaded(b, v, 1), StandardCharsets.ISO_8859_1));
        assertNotNull(((ToHeader) r.getHeader(ToHeader.NAME)).getTag());
        assertEquals("1-2345@127.0.0.1", ((CallIdHeader) r.getHeader(CallIdHeader.NAME)).getCallId());
    }

    @Test
    void inDialogRequestsResponsesAndOtherMethodsAreNotNewInvites() {
        ShedScreen.Verdict v = new ShedScreen.Verdict();
        for (String s : List.of(INVITE.replace("To: <sip:5551234@127.0.0.1:5060>", "To: <sip:5551234@127.0.0.1:5060>;tag=x"),
                INVITE.replace("To: <sip:5551234@127.0.0.1:5060>", "To: <sip:5551234@127.0.0.1:5060> ; TAG = x"),
                INVITE.replace("INVITE sip", "BYE sip"), "SIP/2.0 200 OK\r\n\r\n", "\r\n\r\n",
                INVITE.replace("Call-ID: 1-2345@127.0.0.1\r\n", ""))) {
            byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
            assertEquals(ShedScreen.OTHER, ShedScreen.classify(b, b.length, v), s);
        }
        // a tag parameter inside the URI is not the header's tag
        byte[] b = INVITE.replace("To: <sip:5551234@127.0.0.1:5060>", "To: <sip:5551234@127.0.0.1:5060;tag=u>")
                .getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(ShedScreen.NEW_INVITE, ShedScreen.classify(b, b.length, v));
    }

    @Test
    void neverThrowsOnTheTortureCorpusOrFuzzedBytes() throws Exception {
        ShedScreen.Verdict v = new ShedScreen.Verdict();
        Path dir = TortureTest.DIR;
        List<byte[]> corpus = new java.util.ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.filter(f -> f.toString().endsWith(".sip")).toList()) {
                    corpus.add(Files.readAllBytes(p));
                }
            }
        }
        corpus.add(INVITE.getBytes(StandardCharsets.ISO_8859_1));
        Random r = new Random(20261201);
        int invites = 0;
        for (int n = 0; n < 50_000; n++) {
            byte[] b = corpus.get(r.nextInt(corpus.size())).clone();
            int len = b.length;
            if (n >= corpus.size()) {
                for (int k = r.nextInt(8); k >= 0; k--) {
                    b[r.nextInt(b.length)] = (byte) "\r\n:;<> =\tINVITEACKtag".charAt(r.nextInt(20));
                }
                len = r.nextInt(b.length + 1);
            }
            if (ShedScreen.classify(b, len, v) == ShedScreen.NEW_INVITE) {
                invites++;
                byte[] out = ShedScreen.overloaded(b, v, 1);
                assertTrue(new String(out, StandardCharsets.ISO_8859_1).startsWith("SIP/2.0 503 Overloaded\r\n"));
            }
        }
        assertTrue(invites > 0);
    }
}
