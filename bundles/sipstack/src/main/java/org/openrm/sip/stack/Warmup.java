package org.openrm.sip.stack;

import javax.sip.header.ViaHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the SIP parser, the message copy and the encoder over typical call messages before real traffic
 * has to pay for compiling them. Measured: a cold JVM driven straight into 1,500 calls/s spent its first
 * seconds interpreting and compiling these paths, and shed most calls with 503 while doing so.
 */
public final class Warmup implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
    private static final String INVITE = "INVITE sip:5551234@127.0.0.1:5060 SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-warm-%d\r\n"
            + "From: sipp <sip:sipp@127.0.0.1:5090>;tag=%dSIPpTag001\r\n"
            + "To: <sip:5551234@127.0.0.1:5060>\r\n"
            + "Call-ID: %d-warm@127.0.0.1\r\n"
            + "CSeq: 1 INVITE\r\n"
            + "Contact: <sip:sipp@127.0.0.1:5090;transport=UDP>\r\n"
            + "Max-Forwards: 70\r\n"
            + "Content-Type: application/sdp\r\n"
            + "Content-Length: 129\r\n\r\n"
            + "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            + "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    private final MessageFactory mf;
    private final int iterations;
    private volatile boolean stopped;
    private volatile boolean done;

    public Warmup(MessageFactory mf, int iterations) {
        this.mf = mf;
        this.iterations = iterations;
        this.done = iterations <= 0; // nothing to warm: warm from the first message on
    }

    /** True once the warm-up ran to its end (or was not asked for). */
    public boolean done() {
        return done;
    }

    public void stop() {
        stopped = true;
    }

    @Override
    public void run() {
        long start = System.nanoTime();
        long sink = 0;
        int i = 0;
        try {
            for (; i < iterations && !stopped; i++) {
                Request r = mf.createRequest(String.format(INVITE, i, i, i));
                Request copy = (Request) r.clone();
                copy.removeFirst(ViaHeader.NAME);
                Response ok = mf.createResponse(Response.OK, r);
                sink += copy.toString().length() + ok.toString().length() + r.getHeader("Call-ID").hashCode();
            }
            done = !stopped;
            LOG.info("SIP code paths warmed up with {} messages in {} ms{}", i, (System.nanoTime() - start) / 1_000_000,
                    stopped ? " (stopped early: the stack stopped)" : "");
        } catch (Exception e) {
            done = !stopped; // a message it could not handle: what ran is warm, and readiness must not wait forever
            LOG.debug("warm-up stopped: {} ({})", e.toString(), sink);
        }
    }
}
