package org.openrm.sip.internal;

import java.net.InetAddress;

import javax.sip.address.SipURI;
import javax.sip.header.ContactHeader;
import javax.sip.header.ExpiresHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.openrm.api.CallRouter;

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
        if (contact == null || !(contact.getAddress().getURI() instanceof SipURI cu)) {
            c.replyStateless(req, Response.BAD_REQUEST, "Contact With A SIP URI Required", 0);
            return;
        }
        if (cu.getHeaderNames() != null && cu.getHeaderNames().hasNext()) {
            c.replyStateless(req, Response.BAD_REQUEST, "Contact URI With Headers", 0);
            return;
        }
        ExpiresHeader eh = (ExpiresHeader) req.getHeader(ExpiresHeader.NAME);
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
        // the edge wrote the source address into the top Via as received
        ViaHeader topVia = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String src = topVia == null ? null : topVia.getReceived();
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
}
