package org.openrm.sip.internal;

import org.openrm.sip.stack.*;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The wire screen on the receive thread, once per datagram: a full INVITE as a SIP Server sends it (every header
 * looked at), and a 200 OK (a response: passed after its first bytes). The UDP receive thread is one thread per
 * listening point, so this cost is serial.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ScreenBench {
    private final byte[] invite = ("INVITE sip:5551234@10.1.1.1:5060 SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 10.2.2.2:5090;branch=z9hG4bK-4711-1-0;rport\r\n"
            + "From: \"Caller\" <sip:caller@10.2.2.2:5090>;tag=4711SIPpTag001\r\n"
            + "To: <sip:5551234@10.1.1.1:5060>\r\n"
            + "Call-ID: 1-4711@10.2.2.2\r\n"
            + "CSeq: 1 INVITE\r\n"
            + "Contact: <sip:caller@10.2.2.2:5090>\r\n"
            + "Max-Forwards: 70\r\n"
            + "X-Genesys-geo-location: paris\r\n"
            + "Subject: benchmark\r\n"
            + "Content-Type: application/sdp\r\n"
            + "Content-Length: 129\r\n\r\n"
            + "v=0\r\no=user1 53655765 2353687637 IN IP4 10.2.2.2\r\ns=-\r\nc=IN IP4 10.2.2.2\r\nt=0 0\r\n"
            + "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").getBytes(StandardCharsets.ISO_8859_1);
    private final byte[] ok = ("SIP/2.0 200 OK\r\n"
            + "Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-rm-1\r\n"
            + "From: \"Caller\" <sip:caller@10.2.2.2:5090>;tag=4711SIPpTag001\r\n"
            + "To: <sip:5551234@10.1.1.1:5060>;tag=99\r\n"
            + "Call-ID: 1-4711@10.2.2.2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);

    @Benchmark
    public Object invite() {
        RawScreen.Refusal r = RawScreen.check(invite, 0, invite.length, 16384);
        if (r != null) {
            throw new IllegalStateException("the benchmark's INVITE is refused: " + r);
        }
        return r;
    }

    @Benchmark
    public Object response() {
        return RawScreen.check(ok, 0, ok.length, 16384);
    }
}
