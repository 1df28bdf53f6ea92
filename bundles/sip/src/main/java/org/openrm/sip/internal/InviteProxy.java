package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.Collection;
import java.util.HashMap;
import java.util.ListIterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import javax.sip.ClientTransaction;
import javax.sip.RequestEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.CallIdHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.Header;
import javax.sip.header.RetryAfterHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import gov.nist.javax.sip.message.SIPMessage;
import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.EndReason;
import org.openrm.api.HealthFeedback;
import org.openrm.api.RouteResult;
import org.openrm.api.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * New calls: admission (the overload guard), routing, the session, and the INVITE's branches towards media servers
 * with failover, CANCEL and the no-answer timer. The state of each call's branches lives in its
 * {@link InviteBranch}; this class sends what the branch's transitions say.
 */
final class InviteProxy {
    private static final Logger LOG = LoggerFactory.getLogger(InviteProxy.class);
    private static final Set<Integer> FAILOVER_CODES = Set.of(408, 480, 486, 500, 503);
    private static final int MAX_URI_CACHE = 10_000;

    private final Services s;
    private final McpRelay mcp;
    private final StrayResponses strays;
    private final Saturation saturation;
    /** INVITE branches waiting for a final response, by the caller's top Via branch (CANCEL matches it). */
    private final Map<String, InviteBranch> pending = new ConcurrentHashMap<>();
    private final Map<String, SipURI> uriCache = new ConcurrentHashMap<>();

    private final OverloadGuard guard;

    InviteProxy(Services s, McpRelay mcp, StrayResponses strays, Saturation saturation, OverloadGuard guard) {
        this.guard = guard;
        this.s = s;
        this.mcp = mcp;
        this.strays = strays;
        this.saturation = saturation;
    }

    int pending() {
        return pending.size();
    }

    /** True while nothing this proxy started waits: no INVITE branch, no INVITE parked for routing. */
    boolean idle() {
        return pending.isEmpty() && parked.isEmpty();
    }

    /** True if {@code b} is one of this proxy's pending branches (a replaced logic keeps its own). */
    boolean owns(InviteBranch b) {
        return pending.get(b.key) == b;
    }

    /** True if this CANCEL is for a call this proxy is setting up. */
    boolean ownsCancel(Request cancel) {
        String key = Sip.topBranch(cancel);
        return key != null && pending.containsKey(key);
    }

    /** Calls whose INVITE still waits for a final response (the orphan sweep leaves their sessions alone). */
    Collection<InviteBranch> pendingCalls() {
        return pending.values();
    }

    /** The stack stops: INVITEs still parked get 503 (their transactions would die with the stack anyway). */
    void clear(StackContext c) {
        Parked p;
        while ((p = parked.poll()) != null) {
            if (c != null) {
                c.reply(p.st(), Response.SERVICE_UNAVAILABLE, "Routing Unavailable", c.config.overload_retry_after_s());
            }
        }
        pending.clear();
    }

    /** A new INVITE waiting for the routing service to come back (an update of routing). */
    private record Parked(ServerTransaction st, Request req, CallRequest call, long since) { }

    /** Bounded: at most overload.max.pending INVITEs wait; more get 503 at once. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Parked> parked = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicInteger parkedCount = new java.util.concurrent.atomic.AtomicInteger();

    int parked() {
        return parkedCount.get();
    }

    /**
     * Every 10 ms on the SIP timer: parked INVITEs go on once routing is back; those that waited routing.wait.ms get
     * 503 Routing Unavailable.
     */
    void resumeParked(StackContext c) {
        if (parked.isEmpty() || c == null) {
            return;
        }
        CallRouter r = s.router();
        long now = System.currentTimeMillis();
        for (Parked p; (p = parked.peek()) != null; ) {
            if (r == null && now - p.since() < c.config.routing_wait_ms()) {
                return; // the oldest still may wait: so may all behind it
            }
            if (!parked.remove(p)) {
                continue;
            }
            parkedCount.decrementAndGet();
            try {
                if (r == null) {
                    s.stats.routingUnavailable.incrementAndGet();
                    c.reply(p.st(), Response.SERVICE_UNAVAILABLE, "Routing Unavailable", c.config.overload_retry_after_s());
                } else {
                    s.stats.routingWaited.incrementAndGet();
                    admit(c, p.st(), p.req(), p.call(), r);
                }
            } catch (Exception e) {
                LOG.warn("Call {}: parked INVITE failed: {}", p.call().callId(), e.toString());
                c.reply(p.st(), Response.SERVER_INTERNAL_ERROR, null, 0);
            }
        }
    }

    void onInitialInvite(StackContext c, RequestEvent ev, Request req) throws Exception {
        // one of the warm-up's synthetic calls (before the node reports ready): the same path, on scratch books
        String warm = s.stack.warmupTarget(req, ((SIPMessage) req).getRemoteAddress(), Sip.transport(req));
        if (warm == null) {
            s.stats.invites.incrementAndGet();
        }
        SipConfig cfg = c.config;
        // over UDP the guard decided on the raw datagram already (a shed INVITE never gets here, an admitted one is
        // remembered by its Call-ID and passes again); over TCP it decides here
        if (warm == null && guard.shedNew(OverloadGuard.hash(((CallIdHeader) req.getHeader(CallIdHeader.NAME)).getCallId()))) {
            saturation.mark();
            c.replyStateless(req, Response.SERVICE_UNAVAILABLE, "Overloaded", cfg.overload_retry_after_s());
            return;
        }
        ServerTransaction st = c.serverTransaction(ev, req);
        if (st == null) {
            return; // a retransmission: the existing transaction answers it
        }
        st.sendResponse(c.mf.createResponse(Response.TRYING, req));
        CallRequest cr = callRequest(req);
        if (warm != null) {
            warmCall(c, st, req, cr, warm);
            return;
        }
        CallRouter r = s.router();
        if (r == null) {
            // routing is being replaced (bundle:update): the call waits for it instead of failing
            if (cfg.routing_wait_ms() > 0 && parkedCount.get() < cfg.overload_max_pending()) {
                parkedCount.incrementAndGet();
                parked.add(new Parked(st, req, cr, System.currentTimeMillis()));
                return;
            }
            s.stats.routingUnavailable.incrementAndGet();
            c.reply(st, Response.SERVICE_UNAVAILABLE, "Routing Unavailable", cfg.overload_retry_after_s());
            return;
        }
        admit(c, st, req, cr, r);
    }

    /** Admission once routing is there: media-server-originated relay, drain, routing, the session, the first branch. */
    private void admit(StackContext c, ServerTransaction st, Request req, CallRequest cr, CallRouter r) throws Exception {
        if (mcp.isMediaServerOriginated(req, cr, r)) {
            mcp.forwardToSipServer(c, st, req, cr);
            return;
        }
        int drainRetry = s.drainingRetryAfter();
        if (drainRetry > 0) {
            // a draining node takes no new call; legs of calls in progress (above) still go through
            s.stats.drainRejects.incrementAndGet();
            c.reply(st, Response.SERVICE_UNAVAILABLE, "Draining", drainRetry);
            return;
        }
        route(c, st, req, cr, r, s.own);
    }

    /** Routing, the session in {@code books}, the first branch. */
    private void route(StackContext c, ServerTransaction st, Request req, CallRequest cr, CallRouter r, Books books) {
        long receivedAt = System.currentTimeMillis();
        RouteResult rr = r.route(cr);
        String callerTag = ((FromHeader) req.getHeader(FromHeader.NAME)).getTag();
        if (rr instanceof RouteResult.Rejection rej) {
            c.reply(st, rej.code(), rej.reason(), rej.retryAfterS());
            // reported (CDR with end reason rejected), never a live session
            Session rs = new Session(Sip.newSessionId(), cr.callId(), callerTag, cr.from(), cr.to(), cr.dialled(), receivedAt);
            if (rej.selection() != null) {
                rs.selection(rej.selection()); // tenant and profile for the CDR; it holds no policy counts
            }
            rs.rejectCause(rej.cause());
            books.store.rejected(rs, rej.code());
            return;
        }
        open(c, st, req, cr, (RouteResult.Target) rr, books, receivedAt);
    }

    /** The session of a routed call opens in {@code books} (it holds the port and counts of {@code t}); its first branch. */
    private void open(StackContext c, ServerTransaction st, Request req, CallRequest cr, RouteResult.Target t, Books books,
                      long receivedAt) {
        String callerTag = ((FromHeader) req.getHeader(FromHeader.NAME)).getTag();
        Session session = new Session(Sip.newSessionId(), cr.callId(), callerTag, cr.from(), cr.to(), cr.dialled(), receivedAt);
        session.selection(t.selection());
        if (!books.store.open(session, t.resource(), t.group())) {
            books.ledger.release(t.resource());
            if (t.selection() != null) {
                books.policy.release(t.selection().policyKeys());
            }
            c.reply(st, Response.LOOP_DETECTED, "Call-ID In Use", 0);
            return;
        }
        InviteBranch b = new InviteBranch(st, req, cr, session, Sip.topBranch(req), t.maxAttempts(), books);
        pending.put(b.key, b);
        forward(c, b, t);
    }

    /**
     * A warm-up call, by the same code as every call on the warm-up's scratch books: the MCP check, routing by the
     * scratch router (service selection, tenant admission, scheme, Request-URI), the session in the scratch store, its
     * CDR in billing's scratch spool. Before routing is bound, the call goes to the warm-up's media server unrouted.
     */
    private void warmCall(StackContext c, ServerTransaction st, Request req, CallRequest cr, String target) {
        Books books = s.warmBooks(target);
        if (books == null) {
            c.reply(st, Response.SERVICE_UNAVAILABLE, "Warm-Up Unavailable", 0);
            return;
        }
        CallRouter r = books.router();
        if (r == null) {
            books.ledger.acquireAnyway("warm-up");
            open(c, st, req, cr, new RouteResult.Target("warm-up", "warm-up", target, 1, target, null), books,
                    System.currentTimeMillis());
            return;
        }
        if (mcp.isMediaServerOriginated(req, cr, r)) {
            c.reply(st, Response.SERVICE_UNAVAILABLE, "Warm-Up Misrouted", 0); // cannot be: its caller is no media server
            return;
        }
        route(c, st, req, cr, r, books);
    }

    /**
     * A media server failed a call ({@link Services#mediaServerFailed}); the warm-up's private media server is none
     * of the node's and is never reported.
     */
    private void blame(InviteBranch b, String resource, HealthFeedback.Failure failure, String why, SipConfig c) {
        if (b.books.own && c != null) {
            s.mediaServerFailed(resource, failure, why, c);
        }
    }

    /** Sends the INVITE to {@code t}, whose port the session already holds. */
    private void forward(StackContext c, InviteBranch b, RouteResult.Target t) {
        b.begin(t);
        ClientTransaction ct;
        try {
            Request out = (Request) b.request.clone();
            SipURI target = t.requestUri() != null ? (SipURI) c.af.createURI(t.requestUri())
                    : targetUri(c, t.uri(), b.call.dialled());
            out.setRequestURI(target);
            c.decrementMaxForwards(out);
            // the media server openrm chose is the destination: a route set the caller preloaded beyond openrm
            // is not followed (it would send the call elsewhere)
            out.removeHeader(RouteHeader.NAME);
            out.addFirst(c.recordRoute(Sip.transport(b.request)));
            out.addFirst(c.via(Sip.transportOf(target), Sip.newBranch()));
            out.setHeader(c.hf.createHeader(Sip.GVP_HEADER, b.session.id() + ";gvp.rm.datanodes=node-id=" + c.config.node_id()));
            ct = c.provider.getNewClientTransaction(out);
            ct.setApplicationData(b);
            if (!b.sent(ct)) {
                return; // CANCEL ended the call while this branch was being built: nothing goes out
            }
            ct.sendRequest();
            final ClientTransaction sent = ct;
            int timeoutMs = c.config.invite_timeout_ms();
            b.noAnswerTimer(sent, s.timer.schedule(() -> onNoAnswer(b, sent, timeoutMs), timeoutMs, TimeUnit.MILLISECONDS));
        } catch (Exception e) {
            LOG.info("Call {}: cannot send INVITE to {} ({}): {}", b.call.callId(), t.resource(), t.uri(), e.toString());
            blame(b, t.resource(), HealthFeedback.Failure.TRANSPORT_ERROR, "transport error " + e.getMessage(), c.config);
            // the branch that failed: this one if it was registered, else none
            branchFailed(c, b, b.current(), Response.SERVICE_UNAVAILABLE, null, "transport error");
        }
    }

    private void onNoAnswer(InviteBranch b, ClientTransaction ct, int timeoutMs) {
        StackContext c = s.ctx();
        SipConfig cfg = c == null ? null : c.config;
        // The answer may be sitting in openrm's own receive queue: while openrm is saturated, a silent media
        // server is not blamed (a few times at most; the transaction's own Timer B still ends it).
        boolean saturated = saturation.now();
        switch (b.noAnswerDue(ct, saturated)) {
            case STALE:
                return;
            case EXTEND:
                saturation.mark();
                b.extended(ct, s.timer.schedule(() -> onNoAnswer(b, ct, timeoutMs), timeoutMs, TimeUnit.MILLISECONDS));
                return;
            default:
                break;
        }
        RouteResult.Target t = b.target();
        LOG.info("Call {}: no answer from {} within {} ms", b.call.callId(), t.resource(), timeoutMs);
        strays.abandon(ct.getBranchId());
        blame(b, t.resource(), HealthFeedback.Failure.TIMEOUT, "no answer to INVITE", cfg);
        try {
            ct.terminate();
        } catch (Exception e) {
            LOG.debug("terminate", e);
        }
        branchFailed(c, b, ct, Response.REQUEST_TIMEOUT, null, "no answer");
    }

    /**
     * The current branch of {@code b} failed: its port is released, then the next media server is tried or the
     * caller gets the final response. {@code ct} is the failed branch; a stale branch is ignored.
     */
    private void branchFailed(StackContext c, InviteBranch b, ClientTransaction ct, int code, Response resp, String why) {
        InviteBranch.Failed f = b.failed(ct);
        if (f == null) {
            return;
        }
        b.books.store.detach(b.session);
        if (f.cancelled()) {
            finish(c, b, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
            return;
        }
        CallRouter r = b.books.router();
        if (f.attempts() < b.maxAttempts && r != null && c != null) {
            RouteResult rr = r.failover(b.call, b.session.selection(), f.resource(), b.tried, f.attempts());
            if (rr instanceof RouteResult.Target next) {
                s.stats.failovers.incrementAndGet();
                LOG.debug("Call {}: {} from {} ({}), failing over to {}", b.call.callId(), code, f.resource(), why,
                        next.resource());
                b.books.store.attach(b.session, next.resource(), next.group());
                if (!b.goesOn()) {
                    b.books.store.detach(b.session);
                    finish(c, b, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
                    return;
                }
                forward(c, b, next);
                return;
            }
        }
        finish(c, b, resp, code, EndReason.FAILED);
    }

    /** Sends the caller a final response (relayed {@code resp}, or our own {@code code}) and ends the session. */
    private void finish(StackContext c, InviteBranch b, Response resp, int code, EndReason reason) {
        if (!b.end()) {
            return;
        }
        pending.remove(b.key, b);
        int sent = code;
        try {
            if (resp != null) {
                sent = resp.getStatusCode();
                resp.removeFirst(ViaHeader.NAME);
                if (resp.getHeader(ViaHeader.NAME) != null) {
                    b.st.sendResponse(resp);
                } else if (c != null) {
                    c.reply(b.st, sent, resp.getReasonPhrase(), 0); // a peer that dropped the caller's Vias
                }
            } else if (c != null) {
                c.reply(b.st, code, null, 0);
            }
        } catch (Exception e) {
            LOG.debug("Call {}: final response not sent: {}", b.call.callId(), e.toString());
        }
        b.books.store.end(b.session, reason, sent);
    }

    void onCancel(StackContext c, RequestEvent ev, Request req) throws Exception {
        ServerTransaction cst = c.serverTransaction(ev, req);
        if (cst == null) {
            return;
        }
        String key = Sip.topBranch(req);
        InviteBranch b = pending.get(key);
        LOG.debug("CANCEL {} matches {}", Sip.callId(req), b);
        if (b == null) {
            if (!mcp.cancel(c, cst, req, key)) {
                c.reply(cst, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, null, 0);
            }
            return;
        }
        cst.sendResponse(c.mf.createResponse(Response.OK, req));
        InviteBranch.Cancel what = b.cancel();
        if (what instanceof InviteBranch.Cancel.Send send) {
            sendCancel(c, b, send.ct());
        } else if (what instanceof InviteBranch.Cancel.EndNow) {
            b.books.store.detach(b.session);
            finish(c, b, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
        }
    }

    private void sendCancel(StackContext c, InviteBranch b, ClientTransaction ct) {
        try {
            c.provider.getNewClientTransaction(ct.createCancel()).sendRequest();
        } catch (Exception e) {
            LOG.info("Call {}: CANCEL not sent: {}", b.call.callId(), e.toString());
        }
    }

    void onResponse(StackContext c, InviteBranch b, ClientTransaction ct, Response resp) throws Exception {
        int code = resp.getStatusCode();
        InviteBranch.Seen seen = b.response(ct, code);
        if (!seen.current()) {
            if (code >= 200 && code < 300) {
                LOG.info("Call {}: late 2xx from {} on an abandoned branch: acknowledged and hung up",
                        b.call.callId(), ct.getRequest().getRequestURI());
                strays.hangUp(c, resp, Sip.transport(ct.getRequest()), ct.getRequest().getRequestURI());
            }
            return;
        }
        if (seen.sendCancel()) {
            sendCancel(c, b, ct);
        }
        if (code < 200) {
            if (code > 100) {
                resp.removeFirst(ViaHeader.NAME);
                try {
                    b.st.sendResponse(resp);
                } catch (SipException e) {
                    LOG.debug("provisional not relayed", e);
                }
            }
            return;
        }
        if (code < 300) {
            b.books.store.answered(b.session, System.currentTimeMillis());
            if (!b.end()) {
                return;
            }
            pending.remove(b.key, b);
            b.session.finalCode(code);
            resp.removeFirst(ViaHeader.NAME);
            b.st.sendResponse(resp);
            return;
        }
        if (FAILOVER_CODES.contains(code)) {
            if (code == Response.SERVICE_UNAVAILABLE && b.books.own) {
                honourRetryAfter(b, resp);
            }
            branchFailed(c, b, ct, code, resp, "final response " + code);
            return;
        }
        b.closed(ct);
        finish(c, b, resp, code, b.cancelled() && code == Response.REQUEST_TERMINATED ? EndReason.CANCEL : EndReason.FAILED);
    }

    /** A 503 with Retry-After takes the media server out for that long. */
    private void honourRetryAfter(InviteBranch b, Response resp) {
        RetryAfterHeader ra = (RetryAfterHeader) resp.getHeader(RetryAfterHeader.NAME);
        if (ra == null || ra.getRetryAfter() <= 0) {
            return;
        }
        String resource = b.target().resource();
        HealthFeedback h = s.health();
        CallRouter r = s.router();
        if (h != null) {
            h.callFailed(resource, HealthFeedback.Failure.RETRY_AFTER, ra.getRetryAfter() * 1000L,
                    "503 with Retry-After " + ra.getRetryAfter() + " s");
        } else if (r != null) {
            r.quarantine(resource, ra.getRetryAfter() * 1000L, "503 with Retry-After");
        }
    }

    /** Timer B of a branch: the media server never answered finally. */
    void onTimeout(StackContext c, InviteBranch b, ClientTransaction ct) {
        strays.abandon(ct.getBranchId());
        blame(b, b.target().resource(), HealthFeedback.Failure.TIMEOUT, "INVITE transaction timeout", c == null ? null : c.config);
        branchFailed(c, b, ct, Response.REQUEST_TIMEOUT, null, "timeout");
    }

    private CallRequest callRequest(Request req) {
        URI ruri = req.getRequestURI();
        ToHeader to = (ToHeader) req.getHeader(ToHeader.NAME);
        FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
        String dialled = ruri instanceof SipURI su && su.getUser() != null ? su.getUser()
                : to.getAddress().getURI() instanceof SipURI tu && tu.getUser() != null ? tu.getUser() : "";
        Map<String, String> headers = new HashMap<>();
        for (ListIterator<String> it = req.getHeaderNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.regionMatches(true, 0, "X-Genesys-", 0, 10)) {
                Header h = req.getHeader(name);
                String v = h.toString();
                int colon = v.indexOf(':');
                headers.put(name.toLowerCase(Locale.ROOT), v.substring(colon + 1).trim());
            }
        }
        SIPMessage m = (SIPMessage) req;
        String source = m.getRemoteAddress() == null ? "" : m.getRemoteAddress().getHostAddress() + ":" + m.getRemotePort();
        return new CallRequest(Sip.callId(req), ruri.toString(), dialled, from.getAddress().getURI().toString(),
                to.getAddress().getURI().toString(), headers, source);
    }

    private SipURI targetUri(StackContext c, String resourceUri, String user) throws Exception {
        SipURI base = uriCache.get(resourceUri);
        if (base == null) {
            if (uriCache.size() > MAX_URI_CACHE) {
                uriCache.clear();
            }
            base = (SipURI) c.af.createURI(resourceUri);
            uriCache.put(resourceUri, base);
        }
        SipURI u = (SipURI) base.clone();
        if (user != null && !user.isEmpty() && u.getUser() == null) {
            u.setUser(user);
        }
        return u;
    }
}
