package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.net.InetAddress;

import javax.sip.address.SipURI;
import javax.sip.header.ContactHeader;
import javax.sip.header.ExpiresHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.openrm.api.CallRouter;
import org.openrm.api.Registrations;

/**
 * A media server joins a resource group: {@code Contact: <sip:host:port;lrg=<group>;capacity=<n>>;expires=<s>}.
 * Only trusted peers get here (others had 403). Answered statelessly: a retransmission re-registers.
 */
final class Registrar {
    private final Services s;

    Registrar(Services s) {
        this.s = s;
    }

    void onRegister(StackContext c, Request req) throws Exception {
        CallRouter r = s.router();
        if (r == null) {
            c.replyStateless(req, Response.SERVICE_UNAVAILABLE, "Routing Unavailable", c.config.overload_retry_after_s());
            return;
        }
        ContactHeader contact = (ContactHeader) req.getHeader(ContactHeader.NAME);
        // the edge wrote the source address into the top Via as received
        ViaHeader topVia = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String src = topVia == null ? null : topVia.getReceived();
        ExpiresHeader eh = (ExpiresHeader) req.getHeader(ExpiresHeader.NAME);
        if (contact == null) {
            answer(c, req, r, src, false); // a query (RFC 3261 10.2.3): the bindings the registering address holds
            return;
        }
        if (contact.isWildCard()) {
            // "Contact: *" removes every binding of the registering address, and only with Expires: 0 (10.3 step 6)
            if (eh == null || eh.getExpires() != 0 || countContacts(req) > 1) {
                c.replyStateless(req, Response.BAD_REQUEST, "Wildcard Contact Needs Expires 0 Alone", 0);
                return;
            }
            answer(c, req, r, src, true);
            return;
        }
        if (!(contact.getAddress().getURI() instanceof SipURI cu)) {
            c.replyStateless(req, Response.BAD_REQUEST, "Contact With A SIP URI Required", 0);
            return;
        }
        // escaped headers inside <> (RFC 4475 3.3.14) are legal: the binding keeps host, port and transport only,
        // so they never become headers of a call routed to it; outside <> they are not (RFC 3261 20.10, 3.1.2.13)
        if (cu.getHeaderNames() != null && cu.getHeaderNames().hasNext()
                && contact.getAddress() instanceof gov.nist.javax.sip.address.AddressImpl a
                && a.getAddressType() == gov.nist.javax.sip.address.AddressImpl.ADDRESS_SPEC) {
            c.replyStateless(req, Response.BAD_REQUEST, "Contact URI With Headers Outside <>", 0);
            return;
        }
        int expires = contact.getExpires() >= 0 ? contact.getExpires() : eh != null ? eh.getExpires() : 3600;
        String lrg = cu.getParameter("lrg");
        if (lrg == null && req.getRequestURI() instanceof SipURI ru) {
            lrg = ru.getParameter("lrg");
        }
        int capacity = -1;
        String cap = cu.getParameter("capacity");
        if (cap != null) {
            try {
                capacity = Integer.parseInt(cap);
            } catch (NumberFormatException e) {
                c.replyStateless(req, Response.BAD_REQUEST, "Bad capacity Parameter", 0);
                return;
            }
        }
        if (expires > 0 && (src == null || !Sip.isIpLiteral(cu.getHost()) || !Sip.isIpLiteral(src)
                || !InetAddress.getByName(cu.getHost()).equals(InetAddress.getByName(src)))) {
            // a media server registers itself: a binding for another address would divert calls
            c.replyStateless(req, Response.FORBIDDEN, "Contact Must Be The Registering Address", 0);
            return;
        }
        String uri = (cu.isSecure() ? "sips:" : "sip:") + cu.getHost() + ":" + (cu.getPort() > 0 ? cu.getPort() : 5060)
                + (cu.getTransportParam() == null ? "" : ";transport=" + cu.getTransportParam());
        String name = r.register(uri, lrg, capacity, expires);
        if (name == null) {
            c.replyStateless(req, Response.NOT_FOUND, "Resource Group Not Found", 0);
            return;
        }
        Response ok = c.mf.createResponse(Response.OK, req);
        if (expires > 0) {
            ContactHeader bound = c.hf.createContactHeader(c.af.createAddress(c.af.createURI(uri)));
            bound.setExpires(expires);
            ok.addHeader(bound);
        }
        c.tagTo(ok);
        c.provider.sendResponse(ok);
    }

    private static int countContacts(Request req) {
        int n = 0;
        for (java.util.ListIterator<?> it = req.getHeaders(ContactHeader.NAME); it.hasNext(); it.next()) {
            n++;
        }
        return n;
    }

    /**
     * 200 with the bindings the registering address holds, each with its remaining expiry; with {@code removeAll}
     * ("Contact: *") they are removed first and none is listed.
     */
    private void answer(StackContext c, Request req, CallRouter r, String src, boolean removeAll) throws Exception {
        Response ok = c.mf.createResponse(Response.OK, req);
        Registrations regs = s.registrations();
        if (regs != null && src != null && Sip.isIpLiteral(src)) {
            InetAddress from = InetAddress.getByName(src);
            long now = System.currentTimeMillis();
            for (Registrations.Binding b : regs.all().values()) {
                javax.sip.address.URI u = c.af.createURI(b.uri());
                if (!(u instanceof SipURI bu) || !Sip.isIpLiteral(bu.getHost()) || !InetAddress.getByName(bu.getHost()).equals(from)) {
                    continue;
                }
                if (removeAll) {
                    r.register(b.uri(), b.group(), b.capacity(), 0);
                } else if (b.expiresAt() > now) {
                    ContactHeader bound = c.hf.createContactHeader(c.af.createAddress(u));
                    bound.setExpires((int) Math.max(1, (b.expiresAt() - now) / 1000));
                    ok.addHeader(bound);
                }
            }
        }
        c.tagTo(ok);
        c.provider.sendResponse(ok);
    }
}
