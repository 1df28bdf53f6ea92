package org.openrm.sip.internal;

import org.openrm.sip.stack.*;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import javax.sip.SipFactory;
import javax.sip.header.HeaderFactory;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.RouteHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * An in-dialog BYE relayed statelessly: from its bytes ({@link RawRelay}, as openrm does over UDP and TCP), against
 * the least the stack path does with it (parse into JAIN-SIP's objects, pop the Route, decrement Max-Forwards, add
 * a Via, encode; the real stack path adds the dispatch to a worker, the transaction lookup and the send).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RelayBench {
    private static final String BYE = "BYE sip:sipp@10.3.3.3:5070;transport=tcp SIP/2.0\r\n"
            + "Via: SIP/2.0/TCP 10.2.2.2:5090;branch=z9hG4bK-4711-1-5\r\n"
            + "Route: <sip:10.1.1.1:5060;transport=tcp;lr;ftag=4711SIPpTag001>\r\n"
            + "From: \"Caller\" <sip:caller@10.2.2.2:5090>;tag=4711SIPpTag001\r\n"
            + "To: <sip:5551234@10.1.1.1:5060>;tag=99SIPpTag01\r\n"
            + "Call-ID: 1-4711@10.2.2.2\r\n"
            + "CSeq: 2 BYE\r\n"
            + "Contact: <sip:caller@10.2.2.2:5090;transport=tcp>\r\n"
            + "Max-Forwards: 70\r\n"
            + "Content-Length: 0\r\n\r\n";
    private final byte[] tcpBye = BYE.getBytes(StandardCharsets.ISO_8859_1);
    private final byte[] udpBye = BYE.replace(";transport=tcp", "").replace("SIP/2.0/TCP", "SIP/2.0/UDP")
            .getBytes(StandardCharsets.ISO_8859_1);
    private final RawRelay.Self self = new RawRelay.Self("10.1.1.1", "10.1.1.1", 5060, 100, 4096);
    private final RawRelay relay = new RawRelay();
    private final RawRelay.Out out = new RawRelay.Out();
    private MessageFactory mf;
    private HeaderFactory hf;

    @Setup
    public void stack() throws Exception {
        SipFactory f = SipFactory.getInstance();
        f.setPathName("gov.nist");
        mf = f.createMessageFactory();
        hf = f.createHeaderFactory();
    }

    @Benchmark
    public int bytesTcp() {
        if (!relay.relay(tcpBye, tcpBye.length, self, out, true)) {
            throw new IllegalStateException("the benchmark's BYE is not relayed over TCP");
        }
        return out.length;
    }

    @Benchmark
    public int bytesUdp() {
        if (!relay.relay(udpBye, udpBye.length, self, out, false)) {
            throw new IllegalStateException("the benchmark's BYE is not relayed over UDP");
        }
        return out.length;
    }

    @Benchmark
    public int stackObjects() throws Exception {
        Request r = mf.createRequest(BYE);
        r.removeFirst(RouteHeader.NAME);
        ((MaxForwardsHeader) r.getHeader(MaxForwardsHeader.NAME)).decrementMaxForwards();
        r.addFirst(hf.createViaHeader("10.1.1.1", 5060, "tcp", "z9hG4bK-orm-s1"));
        return r.toString().getBytes(StandardCharsets.ISO_8859_1).length;
    }
}
