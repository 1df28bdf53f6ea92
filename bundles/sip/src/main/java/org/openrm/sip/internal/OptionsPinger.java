package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.CallIdHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.RetryAfterHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.openrm.api.SipPinger.Cause;
import org.openrm.api.SipPinger.Result;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * OPTIONS health pings from openrm's own SIP address, for the health bundle. Each ping completes exactly once:
 * with the response, a timeout, a send failure, or {@link Cause#STACK_DOWN} when the stack stops under it. A ping
 * that openrm itself cannot send (no stack, its own bound reached) says so by its cause, so health never blames
 * the media server for it.
 */
final class OptionsPinger {
    private static final Logger LOG = LoggerFactory.getLogger(OptionsPinger.class);

    private final Services s;
    /** Pings in flight by Via branch. */
    private final Map<String, Ping> pings = new ConcurrentHashMap<>();

    OptionsPinger(Services s) {
        this.s = s;
    }

    /** One OPTIONS in flight. */
    private static final class Ping {
        final String branch;
        final long sentNanos = System.nanoTime();
        final Consumer<Result> done;
        final AtomicBoolean completed = new AtomicBoolean();
        volatile ScheduledFuture<?> timeout;
        volatile ScheduledFuture<?> retransmit;

        Ping(String branch, Consumer<Result> done) {
            this.branch = branch;
            this.done = done;
        }
    }

    void ping(String uri, long timeoutMs, Consumer<Result> done) {
        StackContext c = s.ctx();
        if (c == null) {
            done.accept(Result.failed(Cause.STACK_DOWN, "SIP stack not running"));
            return;
        }
        if (pings.size() >= c.config.max_pings()) {
            done.accept(Result.failed(Cause.OWN_LIMIT, "max.pings " + c.config.max_pings() + " in flight"));
            return;
        }
        String branch = Sip.newBranch();
        Ping p = new Ping(branch, done);
        try {
            URI target = c.af.createURI(uri);
            String transport = target instanceof SipURI su ? Sip.transportOf(su) : "udp";
            SipURI fromUri = c.af.createSipURI("openrm", c.viaHost);
            fromUri.setPort(c.viaPort);
            FromHeader from = c.hf.createFromHeader(c.af.createAddress(fromUri),
                    Long.toHexString(ThreadLocalRandom.current().nextLong()));
            ToHeader to = c.hf.createToHeader(c.af.createAddress(target), null);
            CallIdHeader cid = c.hf.createCallIdHeader("ping-" + branch.substring(12) + "@" + c.viaHost);
            Request options = c.mf.createRequest(target, Request.OPTIONS, cid, c.hf.createCSeqHeader(1L, Request.OPTIONS),
                    from, to, List.of(c.via(transport, branch)), c.hf.createMaxForwardsHeader(70));
            options.addHeader(c.hf.createHeader("Accept", "application/sdp"));
            pings.put(branch, p);
            p.timeout = s.timer.schedule(() -> complete(p, Result.failed(Cause.TIMEOUT, "timeout")), timeoutMs,
                    TimeUnit.MILLISECONDS);
            c.provider.sendRequest(options);
            if ("udp".equals(transport)) {
                // RFC 3261 timer E: retransmit at 500 ms, then 1 s, ... while the ping waits
                scheduleRetransmit(p, options, 500);
            }
        } catch (Exception e) {
            complete(p, Result.failed(Cause.TRANSPORT, "transport error: " + e.getMessage()));
        }
    }

    private void scheduleRetransmit(Ping p, Request options, long afterMs) {
        p.retransmit = s.timer.schedule(() -> {
            if (p.completed.get()) {
                return;
            }
            try {
                StackContext c = s.ctx();
                if (c != null) {
                    c.provider.sendRequest(options);
                }
            } catch (Exception e) {
                LOG.debug("OPTIONS retransmission failed", e);
            }
            scheduleRetransmit(p, options, Math.min(afterMs * 2, 4000));
        }, afterMs, TimeUnit.MILLISECONDS);
    }

    private void complete(Ping p, Result r) {
        if (!p.completed.compareAndSet(false, true)) {
            return;
        }
        pings.remove(p.branch, p);
        ScheduledFuture<?> f = p.timeout;
        if (f != null) {
            f.cancel(false);
        }
        f = p.retransmit;
        if (f != null) {
            f.cancel(false);
        }
        try {
            p.done.accept(r);
        } catch (RuntimeException e) {
            LOG.warn("Health ping callback failed", e);
        }
    }

    /** True if {@code resp} answers one of openrm's own pings (then it is consumed here). */
    boolean pong(Response resp) {
        if (pings.isEmpty()) {
            return false;
        }
        ViaHeader top = (ViaHeader) resp.getHeader(ViaHeader.NAME);
        Ping p = top == null || top.getBranch() == null ? null : pings.get(top.getBranch());
        if (p == null) {
            return false;
        }
        if (resp.getStatusCode() >= 200) {
            RetryAfterHeader ra = (RetryAfterHeader) resp.getHeader(RetryAfterHeader.NAME);
            complete(p, Result.answered(resp.getStatusCode(), ra == null ? 0 : ra.getRetryAfter(),
                    (System.nanoTime() - p.sentNanos) / 1_000_000));
        }
        return true;
    }

    /** The stack is going away: every ping in flight completes as {@link Cause#STACK_DOWN}. */
    void stopAll() {
        for (Ping p : pings.values()) {
            complete(p, Result.failed(Cause.STACK_DOWN, "SIP stack stopped"));
        }
    }

    int inFlight() {
        return pings.size();
    }
}
