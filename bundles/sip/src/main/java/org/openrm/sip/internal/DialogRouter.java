package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import javax.sip.ClientTransaction;
import javax.sip.RequestEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.address.SipURI;
import javax.sip.header.FromHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.openrm.api.CallRouter;
import org.openrm.api.ClusterSessions;
import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Requests that follow a route set openrm record-routed: ACK and BYE statelessly (RFC 3261 16.11), other
 * in-dialog requests statefully. A route set another cluster member record-routed goes on to that member while it
 * is in the view, and is taken over (the session with it) once it is gone. openrm is no open relay: a dialog neither
 * it nor a member record-routed, or a next hop that is neither an address nor a configured peer, gets 404.
 */
final class DialogRouter {
    private static final Logger LOG = LoggerFactory.getLogger(DialogRouter.class);

    private final Services s;

    DialogRouter(Services s) {
        this.s = s;
    }

    void onRouted(StackContext c, RequestEvent ev, Request req) throws Exception {
        String method = req.getMethod();
        boolean ack = Request.ACK.equals(method);
        int ours = c.removeOwnRoutes(req);
        if (req.getHeader(RouteHeader.NAME) == null && c.isOwnUri(req.getRequestURI())) {
            if (!ack) {
                c.replyStateless(req, ((ToHeader) req.getHeader(ToHeader.NAME)).getTag() != null
                        ? Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST : Response.NOT_FOUND, null, 0);
            }
            return;
        }
        ClusterSessions.Peer peer = null;
        if (ours == 0) {
            peer = clusterPeer(req);
            if (peer == null) {
                // a dialog openrm did not record-route: not openrm's to relay
                if (!ack) {
                    c.replyStateless(req, Response.NOT_FOUND, "Not Routed Through This Proxy", 0);
                }
                return;
            }
            if (!peer.alive()) {
                // a dialog a departed member record-routed: this node takes it over and routes it as its own
                takeOver(req, peer);
                if (req.getHeader(RouteHeader.NAME) == null && c.isOwnUri(req.getRequestURI())) {
                    if (!ack) {
                        c.replyStateless(req, Response.NOT_FOUND, null, 0);
                    }
                    return;
                }
                peer = null;
            }
            // a member that is alive owns the dialog: the request goes on to it by its Route
        }
        String hop = Sip.nextHopHost(req);
        if (hop == null || !(Sip.isIpLiteral(hop) || peer != null || isKnownHost(c, hop))) {
            // no name lookups for a destination a peer wrote: openrm relays only to addresses and its own peers
            LOG.debug("{} {}: next hop {} is neither an address nor a configured peer", method, Sip.callId(req), hop);
            if (!ack) {
                c.replyStateless(req, Response.NOT_FOUND, "Unknown Next Hop", 0);
            }
            return;
        }
        String transport = Sip.nextHopTransport(req);
        if (ack || Request.BYE.equals(method)) {
            // Forwarded statelessly: no transactions, no copy of the message. A BYE retransmitted by the caller
            // gets the same branch, so the media server sees a retransmission; its 200 comes back matching no
            // transaction and is relayed by Via.
            try {
                c.decrementMaxForwards(req);
                req.addFirst(c.via(transport, Sip.statelessBranch(req)));
                c.provider.sendRequest(req);
            } finally {
                if (!ack) {
                    // after the BYE is on the wire: a call admitted on the port this frees reaches the media server
                    // after the BYE that freed it (before, a worker descheduled between the two let a new INVITE
                    // overtake the BYE, and the media server held one call more than the limit for a moment)
                    endOnBye(req);
                }
            }
            return;
        }
        ServerTransaction st = c.serverTransaction(ev, req);
        if (st == null) {
            return;
        }
        Request out = (Request) req.clone();
        c.decrementMaxForwards(out);
        out.addFirst(c.via(transport, Sip.newBranch()));
        try {
            ClientTransaction ct = c.provider.getNewClientTransaction(out);
            ct.setApplicationData(new Relay(st));
            ct.sendRequest();
        } catch (SipException e) {
            LOG.info("Call {}: cannot forward {}: {}", Sip.callId(req), method, e.toString());
            c.reply(st, Response.SERVICE_UNAVAILABLE, "Next Hop Unreachable", 0);
        }
    }

    /** The cluster member the top Route names, or null (alone, no Route, or not a member's address). */
    private ClusterSessions.Peer clusterPeer(Request req) {
        ClusterSessions cs = s.cluster();
        RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
        if (r == null || !(r.getAddress().getURI() instanceof SipURI u)) {
            return null;
        }
        int port = u.getPort() <= 0 ? 5060 : u.getPort();
        ClusterSessions.Peer p = cs == null ? null : cs.peerAt(u.getHost(), port);
        if (p == null && (cs == null || cs.memberAddresses().isEmpty())) {
            // the cluster bundle is away (an update) or back and has not heard from a member yet: the members it knew
            // are still alive as far as this node knows
            return s.lastMembers.contains(u.getHost() + ":" + port) ? new ClusterSessions.Peer(u.getHost(), true) : null;
        }
        return p;
    }

    /**
     * Takes the departed member's session for this request (if any replica names it) and removes that member's
     * Route entries from the top, as if they were this node's own.
     */
    private void takeOver(Request req, ClusterSessions.Peer peer) {
        ClusterSessions cs = s.cluster();
        Session taken = cs == null ? null : cs.takeOver(Sip.callId(req));
        for (int i = 0; i < 4; i++) {
            ClusterSessions.Peer top = clusterPeer(req);
            if (top == null || !top.node().equals(peer.node())) {
                break;
            }
            req.removeFirst(RouteHeader.NAME);
        }
        if (taken != null) {
            LOG.debug("Call {}: session {} of departed member {} taken over", taken.callId(), taken.id(), peer.node());
        } else {
            LOG.debug("{} {}: dialog of departed member {} with no replica here: relayed by its route set",
                    req.getMethod(), Sip.callId(req), peer.node());
        }
    }

    private void endOnBye(Request req) {
        s.endOnBye(Sip.callId(req), ((FromHeader) req.getHeader(FromHeader.NAME)).getTag());
    }

    /**
     * A BYE ends its session (caller or media server, told apart by the From tag): for the stack's BYEs and for
     * those relayed from their bytes. False if {@code store} has no session with this Call-ID.
     */
    static boolean endOnBye(org.openrm.api.SessionStore store, String callId, String fromTag) {
        Session session = store.byCallId(callId);
        if (session == null) {
            return false;
        }
        boolean caller = fromTag != null && fromTag.equals(session.callerTag());
        store.end(session, caller ? EndReason.CALLER_BYE : EndReason.MEDIA_SERVER_BYE, 0);
        return true;
    }

    /** The SIP Server's host or a media server's host as configured (possibly a name the operator chose). */
    private boolean isKnownHost(StackContext c, String host) {
        CallRouter r = s.router();
        return (r != null && r.isMediaServerHost(host)) || c.isSipServerHost(host);
    }
}
