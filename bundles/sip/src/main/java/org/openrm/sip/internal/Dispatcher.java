package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import javax.sip.ClientTransaction;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.SipListener;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stack's listener: every request and response the edge let through is handed to the room that owns it.
 * Strangers and malformed requests were answered at the edge ({@link EdgeGuard}) already. Nothing here throws
 * into the stack: a handler's failure is counted, logged and answered 500.
 */
final class Dispatcher implements SipListener {
    private static final Logger LOG = LoggerFactory.getLogger(Dispatcher.class);

    private final Services s;
    private final InviteProxy invites;
    private final DialogRouter dialogs;
    private final Registrar registrar;
    private final McpRelay mcp;
    private final StrayResponses strays;
    private final OptionsPinger pinger;
    /** What each SIP worker is doing: since when it has been inside a handler (0: idle). */
    private final ThreadLocal<Slot> slot = ThreadLocal.withInitial(this::newSlot);
    private final java.util.List<Slot> slots = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Messages handed to the proxy, by transport and method ("response" for responses). */
    private final WireCounts received;
    /** Tests only: runs before a request is dispatched (to block a worker on purpose). */
    volatile java.util.function.Consumer<Request> testHook;

    /** One SIP worker thread's handler clock. */
    private static final class Slot {
        volatile long sinceNanos;
        int generation;
    }

    /** Bumped when the slot list is cleared; a slot of an older generation registers again. */
    private volatile int generation;

    private Slot newSlot() {
        Slot s = new Slot();
        s.generation = generation;
        if (slots.size() >= MAX_SLOTS) {
            // threads of stopped stacks: their slots are idle; live workers register again at their next message
            slots.clear();
            generation++;
            s.generation = generation;
        }
        slots.add(s);
        return s;
    }

    private static final int MAX_SLOTS = 4096;

    /** The longest time one worker has been inside a handler right now, in ms (0: none busy). */
    long longestHandlerMs() {
        long now = System.nanoTime();
        long worst = 0;
        for (Slot s : slots) {
            long since = s.sinceNanos;
            if (since != 0) {
                worst = Math.max(worst, now - since);
            }
        }
        return worst / 1_000_000;
    }

    private static int transportOf(javax.sip.message.Message m) {
        javax.sip.header.ViaHeader v = (javax.sip.header.ViaHeader) m.getHeader(javax.sip.header.ViaHeader.NAME);
        return WireCounts.transportOf(v == null ? null : v.getTransport());
    }

    Dispatcher(Services s, InviteProxy invites, DialogRouter dialogs, Registrar registrar, McpRelay mcp,
               StrayResponses strays, OptionsPinger pinger, WireCounts received) {
        this.s = s;
        this.received = received;
        this.invites = invites;
        this.dialogs = dialogs;
        this.registrar = registrar;
        this.mcp = mcp;
        this.strays = strays;
        this.pinger = pinger;
    }

    @Override
    public void processRequest(RequestEvent ev) {
        Request req = ev.getRequest();
        StackContext c = s.ctx();
        if (c == null) {
            return; // the stack is stopping: the peer retransmits to the next one
        }
        if (LOG.isDebugEnabled()) {
            LOG.debug("{} {} call-id {} (server transaction {})", req.getMethod(), req.getRequestURI(), Sip.callId(req),
                    ev.getServerTransaction());
        }
        if (!s.stack.isWarmup(((gov.nist.javax.sip.message.SIPMessage) req).getRemoteAddress())) {
            received.count(transportOf(req), WireCounts.kindOf(req.getMethod())); // the warm-up's calls are not traffic
        }
        Slot busy = slot.get();
        if (busy.generation != generation) {
            busy.generation = generation;
            slots.add(busy); // its registration was cleared with the stopped stacks' threads
        }
        busy.sinceNanos = System.nanoTime();
        try {
            java.util.function.Consumer<Request> hook = testHook;
            if (hook != null) {
                hook.accept(req);
            }
            dispatch(c, ev, req);
        } catch (Exception e) {
            if (Sip.isTransportFailure(e)) {
                // the peer is gone (its connection closed before the answer): nothing to answer to
                s.stats.undeliverable.incrementAndGet();
                LOG.debug("Answer to {} {} not delivered: {}", req.getMethod(), Sip.callId(req), e.toString());
                return;
            }
            s.stats.requestErrors.incrementAndGet();
            LOG.warn("Request {} {} failed: {}", req.getMethod(), Sip.callId(req), e.toString(), e);
            if (!Request.ACK.equals(req.getMethod())) {
                c.replyStateless(req, Response.SERVER_INTERNAL_ERROR, null, 0);
            }
        } finally {
            busy.sinceNanos = 0;
        }
    }

    private void dispatch(StackContext c, RequestEvent ev, Request req) throws Exception {
        String method = req.getMethod();
        MaxForwardsHeader mfh = (MaxForwardsHeader) req.getHeader(MaxForwardsHeader.NAME);
        boolean toUs = c.isOwnUri(req.getRequestURI()) && req.getHeader(RouteHeader.NAME) == null;
        boolean outOfDialog = ((ToHeader) req.getHeader(ToHeader.NAME)).getTag() == null;
        // openrm is the destination of the SIP Server's requests, not an open relay: it answers OPTIONS
        // itself (a keep-alive), except one that may not travel further and is not for openrm (483)
        if (Request.OPTIONS.equals(method) && outOfDialog && (toUs || mfh == null || mfh.getMaxForwards() > 0)) {
            int drainRetry = s.drainingRetryAfter();
            if (drainRetry > 0) {
                // a SIP Server's keep-alive sees the node out of service while it drains
                c.replyStateless(req, Response.SERVICE_UNAVAILABLE, "Draining", drainRetry);
                return;
            }
            if (!s.stack.warm()) {
                // started or swapped moments ago: the SIP Server waits for the warm-up (bounded) before sending calls
                c.replyStateless(req, Response.SERVICE_UNAVAILABLE, "Warming Up", 1);
                return;
            }
            Response ok = c.mf.createResponse(Response.OK, req);
            ok.addHeader(c.hf.createAllowHeader(Sip.ALLOW));
            c.tagTo(ok);
            c.provider.sendResponse(ok);
            return;
        }
        if (mfh != null && mfh.getMaxForwards() <= 0) {
            if (!Request.ACK.equals(method)) {
                c.replyStateless(req, Response.TOO_MANY_HOPS, null, 0);
            }
            return;
        }
        if (Request.CANCEL.equals(method)) {
            invites.onCancel(c, ev, req);
        } else if (Request.INVITE.equals(method) && outOfDialog) {
            invites.onInitialInvite(c, ev, req);
        } else if (Request.REGISTER.equals(method) && outOfDialog) {
            registrar.onRegister(c, req);
        } else if (outOfDialog && !Request.ACK.equals(method)) {
            // a new dialog or a standalone request openrm does not serve: answered as a UAS
            if (EdgeGuard.KNOWN.contains(method)) {
                Response r = c.mf.createResponse(Response.METHOD_NOT_ALLOWED, req);
                r.addHeader(c.hf.createAllowHeader(Sip.ALLOW));
                c.tagTo(r);
                c.provider.sendResponse(r);
            } else {
                c.replyStateless(req, Response.NOT_IMPLEMENTED, null, 0);
            }
        } else {
            dialogs.onRouted(c, ev, req);
        }
    }

    @Override
    public void processResponse(ResponseEvent ev) {
        Response resp = ev.getResponse();
        StackContext c = s.ctx();
        if (c == null) {
            return;
        }
        if (!s.stack.isWarmup(((gov.nist.javax.sip.message.SIPMessage) resp).getRemoteAddress())) {
            received.count(transportOf(resp), WireCounts.RESPONSE);
        }
        try {
            ClientTransaction ct = ev.getClientTransaction();
            Object ad = ct == null ? null : ct.getApplicationData();
            if (ad instanceof InviteBranch b) {
                invites.onResponse(c, b, ct, resp);
            } else if (ad instanceof Relay relay) {
                mcp.response(ct, relay, resp);
            } else if (ct == null && !pinger.pong(resp)) {
                strays.relay(c, resp);
            } else if (ad != null) {
                // a transaction of a replaced proxy logic that could not finish it: relayed by Via like a stray
                strays.relay(c, resp);
            }
            // else: response to our own CANCEL or BYE, nothing to do
        } catch (Exception e) {
            LOG.debug("Response {} {} not relayed: {}", resp.getStatusCode(), Sip.callId(resp), e.toString());
        }
    }

    @Override
    public void processTimeout(TimeoutEvent ev) {
        if (ev.isServerTransaction()) {
            return;
        }
        ClientTransaction ct = ev.getClientTransaction();
        Object ad = ct == null ? null : ct.getApplicationData();
        if (ad instanceof InviteBranch b) {
            invites.onTimeout(s.ctx(), b, ct);
        } else if (ad instanceof Relay relay) {
            mcp.timeout(s.ctx(), ct, relay);
        }
    }

    @Override
    public void processIOException(IOExceptionEvent ev) {
        LOG.debug("SIP transport error towards {}:{}/{}", ev.getHost(), ev.getPort(), ev.getTransport());
    }

    @Override
    public void processTransactionTerminated(TransactionTerminatedEvent ev) { }

    @Override
    public void processDialogTerminated(DialogTerminatedEvent ev) { }
}
