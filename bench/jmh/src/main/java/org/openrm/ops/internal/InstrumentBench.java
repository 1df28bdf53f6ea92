package org.openrm.ops.internal;

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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.openrm.sip.internal.WireCountsAccess;

/**
 * What instrumenting one call costs on the call path, all of it, as the appliance does it for an answered call
 * held and ended by the caller's BYE over UDP: the proxy counts the six messages it handles (INVITE, 180, 200,
 * ACK, BYE, 200) and the seven it writes (100, INVITE, 180, 200, ACK, BYE, 200), the ops bundle counts the call
 * admitted and ended by reason and puts its setup time in the histogram, SNMP counts it admitted. Two threads,
 * as the SIP workers of a two-core node do. Compare with the whole JVM's CPU per call in the load bench.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(2)
public class InstrumentBench {
    private final Metrics metrics = new Metrics(() -> null, false);
    private final WireCountsAccess wire = new WireCountsAccess();
    private final java.util.concurrent.atomic.AtomicLong snmpAdmitted = new java.util.concurrent.atomic.AtomicLong();
    private final byte[][] out = {
        "SIP/2.0 100 Trying\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "INVITE sip:5551234@10.1.1.1:5060 SIP/2.0\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "SIP/2.0 180 Ringing\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "SIP/2.0 200 OK\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "ACK sip:5551234@10.1.1.1:5060 SIP/2.0\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "BYE sip:5551234@10.1.1.1:5060 SIP/2.0\r\n".getBytes(StandardCharsets.ISO_8859_1),
        "SIP/2.0 200 OK\r\n".getBytes(StandardCharsets.ISO_8859_1)};
    private final String[] in = {"INVITE", null, null, "ACK", "BYE", null};
    private final Session session = new Session("s-1", "1-4711@10.2.2.2", "4711SIPpTag001", "sip:caller@10.2.2.2",
            "sip:5551234@10.1.1.1", "5551234", System.currentTimeMillis());

    {
        session.markAnswered(session.receivedAt() + 12);
    }

    /** Everything a call's instrumentation does on the call path. */
    @Benchmark
    public void perCall(Blackhole bh) {
        for (String m : in) {
            wire.received(m); // the dispatcher, per message handed over
            bh.consume(System.nanoTime()); // its handler clock, in and out
            bh.consume(System.nanoTime());
        }
        for (byte[] b : out) {
            wire.sent(b); // the socket, per message written
        }
        metrics.started(session);
        snmpAdmitted.incrementAndGet();
        metrics.ended(session, EndReason.CALLER_BYE, 200);
    }

    /** The ops bundle's part alone: admitted, ended by reason, the setup histogram. */
    @Benchmark
    public void opsPerCall() {
        metrics.started(session);
        metrics.ended(session, EndReason.CALLER_BYE, 200);
    }
}
