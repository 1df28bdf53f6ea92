package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Message;
import javax.sip.message.Request;

/** Small, stateless facts about SIP messages that every room of the proxy asks. */
final class Sip {
    static final String GVP_HEADER = "X-Genesys-GVP-Session-ID";
    static final String ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, REFER, NOTIFY";

    private Sip() { }

    static String callId(Message m) {
        CallIdHeader h = (CallIdHeader) m.getHeader(CallIdHeader.NAME);
        return h == null ? "" : h.getCallId();
    }

    /** The key of a caller's INVITE transaction as CANCEL matches it: top Via branch and sent-by. */
    static String topBranch(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String b = v == null ? null : v.getBranch();
        return (b == null ? "" : b) + "|" + (v == null ? "" : v.getHost() + ":" + v.getPort());
    }

    static String newBranch() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return "z9hG4bK-orm-" + Long.toHexString(r.nextLong()) + Long.toHexString(r.nextLong());
    }

    /** A branch derived from the request's own, so its retransmissions are forwarded with the same one. */
    static String statelessBranch(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String b = v == null || v.getBranch() == null ? Long.toHexString(ThreadLocalRandom.current().nextLong())
                : v.getBranch();
        CSeqHeader cseq = (CSeqHeader) req.getHeader(CSeqHeader.NAME);
        return "z9hG4bK-orm-s" + Integer.toHexString(b.hashCode()) + Integer.toHexString((b + callId(req)
                + (cseq == null ? "" : cseq.getSeqNumber() + cseq.getMethod())).hashCode());
    }

    static String newSessionId() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return new UUID(r.nextLong(), r.nextLong()).toString().toUpperCase(Locale.ROOT);
    }

    /** The transport of the request's top Via, lower case ("udp" without a Via). */
    static String transport(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        return v == null ? "udp" : v.getTransport().toLowerCase(Locale.ROOT);
    }

    /** The transport a request goes out on: its top Route's, else its Request-URI's, else UDP. */
    static String nextHopTransport(Request req) {
        RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
        URI u = r != null ? r.getAddress().getURI() : req.getRequestURI();
        if (u instanceof SipURI su && su.getTransportParam() != null) {
            return su.getTransportParam().toLowerCase(Locale.ROOT);
        }
        return "udp";
    }

    static String nextHopHost(Request req) {
        RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
        URI u = r != null ? r.getAddress().getURI() : req.getRequestURI();
        return u instanceof SipURI su ? su.getHost() : null;
    }

    /** The transport a URI asks for (its transport parameter), lower case; UDP when it names none. */
    static String transportOf(SipURI u) {
        return u.getTransportParam() == null ? "udp" : u.getTransportParam().toLowerCase(Locale.ROOT);
    }

    /**
     * A failure to reach the peer (connection gone or refused). By type where the stack keeps it; the RI rethrows
     * some IOExceptions as a bare {@code SipException(ioe.getMessage())} without the cause, and only the text of
     * those few stack messages is left to tell them by.
     */
    static boolean isTransportFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.io.IOException) {
                return true;
            }
            String m = t.getMessage();
            if (m != null && (m.startsWith("Could not connect")
                    || m.contains("Socket is closed") || m.contains("Connection refused"))) {
                return true;
            }
        }
        return false;
    }

    static boolean isIpLiteral(String host) {
        return Cidr.isIpLiteral(host);
    }
}
