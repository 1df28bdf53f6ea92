package org.openrm.sip.stack;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import javax.sip.ClientTransaction;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipListener;
import javax.sip.TimeoutEvent;
import javax.sip.Transaction;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stack's one listener: it hands each message to the proxy logic that owns it. While the logic bundle is
 * replaced there is, for a moment, none: a worker then waits for the new one (up to {@code proxy.wait.ms}) instead
 * of refusing, and the stack's queues hold what arrives meanwhile. A logic that was replaced retires: it keeps the
 * responses, timeouts and CANCELs of what it started (a call in setup fails over or is cancelled by the code that
 * began it), until it is idle or {@code proxy.retire.ms} has passed; everything new goes to the current one.
 */
public final class Switchboard implements SipListener {
    private static final Logger LOG = LoggerFactory.getLogger(Switchboard.class);
    /** Retiring logics kept at once (each update adds one; more than this means updates faster than calls set up). */
    static final int MAX_RETIRING = 8;

    private record Retiree(ProxyLogic logic, long untilNanos) { }

    private volatile ProxyLogic current;
    /** The logic replaced last, kept through a swap: the edge still asks it who is a known peer. */
    private volatile ProxyLogic last;
    private final List<Retiree> retiring = new CopyOnWriteArrayList<>();
    private volatile int waitMs;
    private final OncePerMinute unavailable = new OncePerMinute(LOG);
    /** Requests that waited for a logic to be attached and were then handed to it. */
    public final AtomicLong waited = new AtomicLong();
    /** Requests that found no logic within proxy.wait.ms (INVITE and OPTIONS answered 503, the rest dropped). */
    public final AtomicLong unserved = new AtomicLong();
    /** Events handed to a retiring logic (what it had started). */
    public final AtomicLong toRetiring = new AtomicLong();
    private final java.util.function.Supplier<StackContext> ctx;

    Switchboard(java.util.function.Supplier<StackContext> ctx, int waitMs) {
        this.ctx = ctx;
        this.waitMs = waitMs;
    }

    void waitMs(int ms) {
        this.waitMs = Math.max(0, ms);
    }

    /** The logic every new request goes to from now on. */
    void attach(ProxyLogic l) {
        retiring.removeIf(r -> r.logic == l);
        current = l;
    }

    /** {@code l} gets no new request; it keeps what it started for at most {@code ms}. */
    void retire(ProxyLogic l, long ms) {
        if (current == l) {
            current = null;
        }
        last = l;
        if (retiring.size() >= MAX_RETIRING) {
            Retiree oldest = retiring.get(0);
            retiring.remove(oldest);
            finish(oldest.logic, "too many retiring proxy logics");
        }
        retiring.add(new Retiree(l, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms)));
    }

    /** Lets retiring logics that are idle or out of time go (the stack's timer, every few hundred ms). */
    void reap() {
        long now = System.nanoTime();
        for (Retiree r : retiring) {
            boolean idle;
            try {
                idle = r.logic.idle();
            } catch (LinkageError | RuntimeException e) {
                idle = true;
            }
            if (idle || now - r.untilNanos > 0) {
                retiring.remove(r);
                finish(r.logic, idle ? "idle" : "proxy.retire.ms reached");
            }
        }
    }

    /** Every retiring logic goes at once (the stack stops). */
    void reapAll() {
        for (Retiree r : retiring) {
            retiring.remove(r);
            finish(r.logic, "the SIP stack stops");
        }
    }

    private static void finish(ProxyLogic l, String why) {
        try {
            l.retired();
            LOG.info("Replaced proxy logic retired ({})", why);
        } catch (LinkageError | RuntimeException e) {
            LOG.warn("Replaced proxy logic failed to retire", e);
        }
    }

    ProxyLogic current() {
        return current;
    }

    /** The current logic, else the one replaced last (through a swap); null before any. */
    ProxyLogic lastOrCurrent() {
        ProxyLogic c = current;
        return c != null ? c : last;
    }

    /** The logic replaced last, or null. */
    ProxyLogic previous() {
        return last;
    }

    int retiringCount() {
        return retiring.size();
    }

    /** INVITEs pending in every logic, current and retiring. */
    int pendingInvites() {
        int n = 0;
        ProxyLogic c = current;
        if (c != null) {
            n += c.pendingInvites();
        }
        for (Retiree r : retiring) {
            try {
                n += r.logic.pendingInvites();
            } catch (LinkageError | RuntimeException e) {
                // a broken retiree counts nothing
            }
        }
        return n;
    }

    /** The current logic; while there is none, waits for one up to proxy.wait.ms. */
    private ProxyLogic awaitCurrent() {
        ProxyLogic c = current;
        if (c != null) {
            return c;
        }
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
        while (System.nanoTime() - until < 0) {
            LockSupport.parkNanos(1_000_000);
            c = current;
            if (c != null) {
                waited.incrementAndGet();
                return c;
            }
        }
        return null;
    }

    private ProxyLogic ownerOf(Transaction tx) {
        Object ad = tx == null ? null : tx.getApplicationData();
        if (ad == null || retiring.isEmpty()) {
            return null;
        }
        for (Retiree r : retiring) {
            try {
                if (r.logic.owns(ad)) {
                    return r.logic;
                }
            } catch (LinkageError | RuntimeException e) {
                broken(r.logic, e);
            }
        }
        return null;
    }

    /**
     * A retiring logic failed on an event (a class its replaced revision can no longer load): it retires at once,
     * and what it still owned is handled by the current logic as matching nothing of its own (relayed by Via).
     */
    private void broken(ProxyLogic l, Throwable e) {
        for (Retiree r : retiring) {
            if (r.logic == l && retiring.remove(r)) {
                LOG.warn("Replaced proxy logic failed while finishing its calls ({}): the current one takes what is left", e.toString());
                try {
                    l.retired();
                } catch (LinkageError | RuntimeException ignored) {
                    // it is gone either way
                }
            }
        }
    }

    /** Hands {@code ev} to a retiring {@code owner}; false if it failed (the caller gives it to the current logic). */
    private boolean toRetiring(ProxyLogic owner, java.util.function.Consumer<ProxyLogic> ev) {
        try {
            ev.accept(owner);
            toRetiring.incrementAndGet();
            return true;
        } catch (LinkageError e) {
            broken(owner, e);
            return false;
        }
    }

    @Override
    public void processRequest(RequestEvent ev) {
        Request req = ev.getRequest();
        if (!retiring.isEmpty()) {
            ProxyLogic owner = ownerOf(ev.getServerTransaction());
            if (owner == null && Request.CANCEL.equals(req.getMethod())) {
                for (Retiree r : retiring) {
                    try {
                        if (r.logic.ownsCancel(req)) {
                            owner = r.logic;
                            break;
                        }
                    } catch (LinkageError | RuntimeException e) {
                        broken(r.logic, e);
                    }
                }
            }
            if (owner != null && toRetiring(owner, o -> o.processRequest(ev))) {
                return;
            }
        }
        ProxyLogic l = awaitCurrent();
        if (l != null) {
            l.processRequest(ev);
            return;
        }
        unserved.incrementAndGet();
        String m = req.getMethod();
        unavailable.warn("none", "No proxy logic attached for {} ms (bundle org.openrm.sip not running?): {} refused "
                + "(INVITE, OPTIONS: 503) or dropped", waitMs, m);
        StackContext c = ctx.get();
        if (c != null && (Request.INVITE.equals(m) || Request.OPTIONS.equals(m))) {
            c.replyStateless(req, Response.SERVICE_UNAVAILABLE, "Proxy Logic Unavailable", 1);
        }
    }

    @Override
    public void processResponse(ResponseEvent ev) {
        ClientTransaction ct = ev.getClientTransaction();
        ProxyLogic owner = ownerOf(ct);
        if (owner != null && toRetiring(owner, o -> o.processResponse(ev))) {
            return;
        }
        ProxyLogic l = awaitCurrent();
        if (l != null) {
            l.processResponse(ev);
        }
    }

    @Override
    public void processTimeout(TimeoutEvent ev) {
        Transaction tx = ev.isServerTransaction() ? ev.getServerTransaction() : ev.getClientTransaction();
        ProxyLogic owner = ownerOf(tx);
        if (owner != null && toRetiring(owner, o -> o.processTimeout(ev))) {
            return;
        }
        ProxyLogic l = current;
        if (l != null) {
            l.processTimeout(ev);
        }
    }

    @Override
    public void processIOException(IOExceptionEvent ev) {
        ProxyLogic l = current;
        if (l != null) {
            l.processIOException(ev);
        }
    }

    @Override
    public void processTransactionTerminated(TransactionTerminatedEvent ev) {
        Transaction tx = ev.isServerTransaction() ? ev.getServerTransaction() : ev.getClientTransaction();
        ProxyLogic owner = ownerOf(tx);
        if (owner != null && toRetiring(owner, o -> o.processTransactionTerminated(ev))) {
            return;
        }
        ProxyLogic l = current;
        if (l != null) {
            l.processTransactionTerminated(ev);
        }
    }

    @Override
    public void processDialogTerminated(DialogTerminatedEvent ev) {
        ProxyLogic l = current;
        if (l != null) {
            l.processDialogTerminated(ev);
        }
    }
}
