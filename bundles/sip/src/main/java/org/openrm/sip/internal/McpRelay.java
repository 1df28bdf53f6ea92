package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.sip.ClientTransaction;
import javax.sip.ServerTransaction;
import javax.sip.address.SipURI;
import javax.sip.header.RouteHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import gov.nist.javax.sip.message.SIPMessage;
import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Requests a media server originates (an outbound leg or a transfer inside a running GVP session, or any INVITE
 * from a configured media server's address): relayed to the SIP Server, record-routed, without a new service
 * selection and without taking a port.
 */
final class McpRelay {
    private static final Logger LOG = LoggerFactory.getLogger(McpRelay.class);

    private final Services s;
    /** Relayed INVITEs not yet answered finally, by the media server's branch key, for its CANCEL. */
    private final Map<String, ClientTransaction> relayedInvites = new ConcurrentHashMap<>();

    McpRelay(Services s) {
        this.s = s;
    }

    /** True if the INVITE carries the GVP session id of a live session, or comes from a media server's address. */
    boolean isMediaServerOriginated(Request req, CallRequest cr, CallRouter r) {
        String gvp = cr.header(Sip.GVP_HEADER);
        if (gvp != null) {
            int semi = gvp.indexOf(';');
            String id = (semi < 0 ? gvp : gvp.substring(0, semi)).trim();
            if (s.store.bySessionId(id) != null) {
                return true;
            }
        }
        SIPMessage m = (SIPMessage) req;
        return m.getRemoteAddress() != null && r.isMediaServer(m.getRemoteAddress().getHostAddress(), m.getRemotePort());
    }

    void forwardToSipServer(StackContext c, ServerTransaction st, Request req, CallRequest cr) {
        try {
            SipURI target = c.sipServerUri();
            if (target == null) {
                c.reply(st, Response.SERVICE_UNAVAILABLE, "SIP Server Not Configured", 0);
                return;
            }
            Request out = (Request) req.clone();
            if (!cr.dialled().isEmpty()) {
                target.setUser(cr.dialled());
            }
            out.setRequestURI(target);
            c.decrementMaxForwards(out);
            // the SIP Server is the destination: a route set preloaded beyond openrm is not followed
            out.removeHeader(RouteHeader.NAME);
            out.addFirst(c.recordRoute(Sip.transport(req)));
            out.addFirst(c.via(Sip.transportOf(target), Sip.newBranch()));
            ClientTransaction ct = c.provider.getNewClientTransaction(out);
            ct.setApplicationData(new Relay(st));
            if (relayedInvites.size() < c.config.overload_max_pending()) {
                relayedInvites.put(Sip.topBranch(req), ct);
            }
            s.stats.mediaServerOriginated.incrementAndGet();
            ct.sendRequest();
        } catch (Exception e) {
            LOG.info("Call {}: cannot forward the media server's INVITE to the SIP Server: {}", cr.callId(), e.toString());
            c.reply(st, Response.SERVICE_UNAVAILABLE, "SIP Server Unreachable", 0);
        }
    }

    /**
     * A CANCEL of a relayed INVITE: answered 200 and forwarded; false if {@code branchKey} is no INVITE relayed here.
     */
    boolean cancel(StackContext c, ServerTransaction cst, Request req, String branchKey) throws Exception {
        ClientTransaction relayed = relayedInvites.remove(branchKey);
        if (relayed == null) {
            return false;
        }
        cst.sendResponse(c.mf.createResponse(Response.OK, req));
        try {
            c.provider.getNewClientTransaction(relayed.createCancel()).sendRequest();
        } catch (Exception e) {
            LOG.info("CANCEL {} not forwarded: {}", Sip.callId(req), e.toString());
        }
        return true;
    }

    /** A response on a relayed request. */
    void response(ClientTransaction ct, Relay relay, Response resp) throws Exception {
        if (resp.getStatusCode() >= 200 && Request.INVITE.equals(ct.getRequest().getMethod())) {
            relayedInvites.values().remove(ct);
        }
        relay.relay(resp);
    }

    /** A relayed request got no answer: the caller gets 408. */
    void timeout(StackContext c, ClientTransaction ct, Relay relay) {
        relayedInvites.values().remove(ct);
        if (c != null) {
            c.reply(relay.st(), Response.REQUEST_TIMEOUT, null, 0);
        }
    }
}
