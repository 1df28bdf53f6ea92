package org.openrm.sip.stack;

import java.net.InetAddress;
import java.util.Iterator;
import java.util.ListIterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.ProxyRequireHeader;
import javax.sip.message.Request;

import gov.nist.javax.sip.header.CSeq;
import gov.nist.javax.sip.header.SIPHeader;
import gov.nist.javax.sip.header.SIPHeaderList;
import gov.nist.javax.sip.header.Unsupported;
import gov.nist.javax.sip.header.Via;
import gov.nist.javax.sip.message.SIPRequest;
import gov.nist.javax.sip.message.SIPResponse;
import gov.nist.javax.sip.stack.MessageChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * openrm's SIP edge: every request and response the stack parsed passes here before any transaction exists.
 * Strangers, malformed or unsupported requests and oversized messages are answered (or dropped) at once,
 * statelessly, and counted; nothing here blocks or allocates much.
 *
 * <p>Responses to a request go back to where it came from (its source address and port are written into the
 * top Via as {@code received} and {@code rport}, RFC 3581 applied to everyone): openrm never sends a response
 * to an address a peer merely wrote into a Via (no reflection, no name lookups for strangers' host names).
 */
public final class EdgeGuard {
    private static final Logger LOG = LoggerFactory.getLogger(EdgeGuard.class);

    /** Methods openrm knows; a request with another method that it must answer gets 501, a known one 405. */
    public static final Set<String> KNOWN = Set.of("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE",
            "PRACK", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH");
    private static final Set<String> REQUIRED = Set.of("from", "to", "call-id", "cseq", "via", "f", "t", "i", "v",
            "max-forwards", "content-length", "l", "contact", "m", "route", "record-route", "proxy-require");

    /** Settings, replaced whole on a configuration change. */
    public record Limits(Cidr trusted, boolean silentToStrangersOptions, int maxMessageSize, int maxHeaders, int maxLineLength) { }

    /** Counters for metrics and tests, one per reason a message was refused. */
    public static final class Stats {
        public final AtomicLong untrusted = new AtomicLong();
        public final AtomicLong tooLarge = new AtomicLong();
        public final AtomicLong tooManyHeaders = new AtomicLong();
        public final AtomicLong lineTooLong = new AtomicLong();
        public final AtomicLong malformed = new AtomicLong();
        public final AtomicLong unsupportedScheme = new AtomicLong();
        public final AtomicLong badVersion = new AtomicLong();
        public final AtomicLong proxyRequire = new AtomicLong();
        public final AtomicLong methodMismatch = new AtomicLong();
        public final AtomicLong responsesDropped = new AtomicLong();
        /** Requests that reused another sender's branch and got a transaction of their own (RFC 3261 17.2.3). */
        public final AtomicLong branchCollisions = new AtomicLong();
    }

    public final Stats stats = new Stats();
    private volatile Limits limits;
    /** Hosts openrm talks to besides trusted.peers: the SIP Server, configured and registered media servers. */
    private final Predicate<InetAddress> knownPeer;
    private final OncePerMinute logOnce = new OncePerMinute(LOG);

    public EdgeGuard(Limits limits, Predicate<InetAddress> knownPeer) {
        this.limits = limits;
        this.knownPeer = knownPeer;
    }

    public void limits(Limits l) {
        this.limits = l;
    }

    /** True to let the request through; false when it was answered or dropped here. */
    /** True for a source in trusted.peers or a peer openrm knows (the SIP Server, media servers). */
    public boolean trusts(InetAddress src) {
        return limits.trusted().contains(src) || knownPeer.test(src);
    }

    public boolean admit(SIPRequest req, MessageChannel ch) {
        Limits l = limits;
        String method = req.getMethod();
        boolean ack = Request.ACK.equals(method);
        InetAddress src = source(ch);
        int srcPort = ch.getPeerPacketSourcePort() > 0 ? ch.getPeerPacketSourcePort() : ch.getPeerPort();
        Via top = req.getTopmostVia();
        if (top == null) {
            stats.malformed.incrementAndGet();
            return false; // nowhere to answer
        }
        try {
            // answers go to the source of the request, whatever its Via says
            if (src != null) {
                top.setReceived(src.getHostAddress());
                top.setParameter(Via.RPORT, Integer.toString(srcPort));
            }
            // and by the transport it came on (a Via claiming another transport is not believed)
            if (!ch.getTransport().equalsIgnoreCase(top.getTransport())) {
                top.setTransport(ch.getTransport().toUpperCase(Locale.ROOT));
            }
            if (ch.isReliable() && src != null) {
                gov.nist.javax.sip.stack.OpenrmChannels.pinToSocket(ch, ch.getTransport().toUpperCase(Locale.ROOT), src, srcPort);
            }
        } catch (java.text.ParseException e) {
            stats.malformed.incrementAndGet();
            return false;
        }
        if (src != null && !l.trusted().contains(src) && !knownPeer.test(src)) {
            stats.untrusted.incrementAndGet();
            logOnce.warn("untrusted " + src.getHostAddress(), "Refused {} from {}: not in trusted.peers, not the SIP Server, not a "
                    + "media server (logged once a minute per source)", method, src.getHostAddress());
            if (!ack && !(Request.OPTIONS.equals(method) && l.silentToStrangersOptions())) {
                answer(req, ch, 403, null);
            }
            return false;
        }
        int size = req.getSize();
        if (size > l.maxMessageSize()) {
            stats.tooLarge.incrementAndGet();
            return refuse(req, ch, ack, 513, "Message Too Large", "message of " + size + " bytes");
        }
        int headers = 0;
        boolean checkLines = size > l.maxLineLength();
        for (Iterator<SIPHeader> it = req.getHeaders(); it.hasNext(); ) {
            SIPHeader h = it.next();
            headers += h instanceof SIPHeaderList<?> list ? list.size() : 1;
            if (checkLines && h.toString().length() > l.maxLineLength() + 2) {
                stats.lineTooLong.incrementAndGet();
                return refuse(req, ch, ack, 400, "Header Line Too Long", h.getName() + " longer than " + l.maxLineLength());
            }
        }
        if (headers > l.maxHeaders()) {
            stats.tooManyHeaders.incrementAndGet();
            return refuse(req, ch, ack, 400, "Too Many Headers", headers + " headers");
        }
        // what the parser could not read: harmless extension headers pass, broken essential ones do not
        for (ListIterator<String> it = req.getUnrecognizedHeaders(); it.hasNext(); ) {
            String raw = it.next();
            int colon = raw.indexOf(':');
            String name = (colon < 0 ? raw : raw.substring(0, colon)).trim().toLowerCase(Locale.ROOT);
            if (REQUIRED.contains(name)) {
                stats.malformed.incrementAndGet();
                return refuse(req, ch, ack, 400, "Malformed " + name + " Header", "unparsable " + name);
            }
        }
        if (req.getFromHeader() == null || req.getTo() == null || req.getCallId() == null || req.getCSeq() == null) {
            stats.malformed.incrementAndGet();
            return refuse(req, ch, ack, 400, "Missing Required Header", "From, To, Call-ID or CSeq missing");
        }
        if (Request.INVITE.equals(method) && req.getHeader(javax.sip.header.ContactHeader.NAME) == null) {
            // RFC 2543 style INVITE without Contact: openrm could not relay in-dialog requests to the caller
            stats.malformed.incrementAndGet();
            return refuse(req, ch, ack, 400, "Missing Contact Header", "INVITE without Contact");
        }
        URI target = req.getRequestURI();
        if (target instanceof SipURI t && t.getHost() != null && t.getHost().indexOf(':') >= 0 && !t.getHost().startsWith("[")) {
            stats.malformed.incrementAndGet();
            return refuse(req, ch, ack, 400, "IPv6 Reference Without Brackets", "host " + t.getHost());
        }
        if (req.getHeader(javax.sip.header.MaxForwardsHeader.NAME) == null) {
            // RFC 2543 peers send none: RFC 3261 16.6 lets a proxy add it
            try {
                req.setHeader(new gov.nist.javax.sip.header.MaxForwards(70));
            } catch (javax.sip.InvalidArgumentException e) {
                return false;
            }
        }
        String version = req.getRequestLine() == null ? null : req.getRequestLine().getSipVersion();
        if (version != null && !"SIP/2.0".equalsIgnoreCase(version)) {
            stats.badVersion.incrementAndGet();
            return refuse(req, ch, ack, 505, "Version Not Supported", version);
        }
        URI ruri = req.getRequestURI();
        String scheme = ruri == null ? "" : ruri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("sip") && !scheme.equals("sips") && !scheme.equals("tel")) {
            stats.unsupportedScheme.incrementAndGet();
            return refuse(req, ch, ack, 416, "Unsupported URI Scheme", "scheme " + scheme);
        }
        if (ruri instanceof SipURI su && su.getHeaderNames() != null && su.getHeaderNames().hasNext()) {
            stats.malformed.incrementAndGet();
            return refuse(req, ch, ack, 400, "Headers In Request-URI", "escaped headers in the Request-URI");
        }
        CSeq cseq = (CSeq) req.getCSeq();
        if (!method.equals(cseq.getMethod())) {
            stats.methodMismatch.incrementAndGet();
            boolean known = KNOWN.contains(method);
            return refuse(req, ch, ack, known ? 400 : 501, known ? "CSeq Method Mismatch" : "Not Implemented",
                    "method " + method + " with CSeq " + cseq.getMethod());
        }
        if (!ack && !Request.CANCEL.equals(method)) {
            SIPHeader pr = (SIPHeader) req.getHeader(ProxyRequireHeader.NAME);
            if (pr != null) {
                stats.proxyRequire.incrementAndGet();
                SIPResponse r = req.createResponse(420, "Bad Extension");
                for (ListIterator<? extends javax.sip.header.Header> it = req.getHeaders(ProxyRequireHeader.NAME); it.hasNext(); ) {
                    String tag = ((ProxyRequireHeader) it.next()).getOptionTag();
                    Unsupported u = new Unsupported();
                    try {
                        u.setOptionTag(tag);
                    } catch (java.text.ParseException e) {
                        continue;
                    }
                    r.addHeader(u);
                }
                send(r, ch);
                return false;
            }
        }
        return true;
    }

    /** The address a message came from (TCP channels know it as their peer; no name lookup: it is an address). */
    public static InetAddress source(MessageChannel ch) {
        InetAddress a = ch.getPeerPacketSourceAddress();
        if (a != null) {
            return a;
        }
        try {
            String ip = ch.getPeerAddress();
            return ip == null || !Cidr.isIpLiteral(ip) ? null : InetAddress.getByName(ip);
        } catch (java.net.UnknownHostException e) {
            return null;
        }
    }

    /** True to let the response through; a response that is not for openrm (top Via not its own) is dropped. */
    public boolean admit(SIPResponse resp, MessageChannel ch, Predicate<Via> ownVia) {
        Via top = resp.getTopmostVia();
        if (top == null || !ownVia.test(top) || resp.getCSeq() == null || resp.getCallId() == null) {
            stats.responsesDropped.incrementAndGet();
            return false;
        }
        return true;
    }

    private boolean refuse(SIPRequest req, MessageChannel ch, boolean ack, int code, String reason, String detail) {
        InetAddress src = source(ch);
        logOnce.warn(reason + " " + (src == null ? "" : src.getHostAddress()), "Refused {} from {} with {} {}: {} (logged once a "
                + "minute per source and reason)", req.getMethod(), src == null ? "?" : src.getHostAddress(), code, reason, detail);
        if (!ack) {
            answer(req, ch, code, reason);
        }
        return false;
    }

    private void answer(SIPRequest req, MessageChannel ch, int code, String reason) {
        send(reason == null ? req.createResponse(code) : req.createResponse(code, reason), ch);
    }

    private static void send(SIPResponse r, MessageChannel ch) {
        try {
            if (ch.isReliable()) {
                ch.sendMessage(r); // on the connection the request came on
            } else {
                ch.sendMessage(r, ch.getPeerPacketSourceAddress(), ch.getPeerPacketSourcePort());
            }
        } catch (java.io.IOException | RuntimeException e) {
            LOG.debug("Edge response {} not sent: {}", r.getStatusCode(), e.toString());
        }
    }

}
