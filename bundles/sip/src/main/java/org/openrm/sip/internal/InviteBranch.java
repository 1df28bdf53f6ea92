package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;

import javax.sip.ClientTransaction;
import javax.sip.ServerTransaction;
import javax.sip.message.Request;

import org.openrm.api.CallRequest;
import org.openrm.api.RouteResult;
import org.openrm.api.Session;

/**
 * One caller INVITE and its branches towards media servers, one at a time. Every change of its state happens
 * here, under its own monitor, in the methods below; {@link InviteProxy} decides what to send from what they
 * return. A branch is the client transaction in {@link #ct}: any event that names another one is stale.
 *
 * <pre>
 *   begin(target) -> sent(ct) -> response(ct) ... -> answered() | failed(ct) -> begin(next) ... | finish()
 *                               \-> failed(ct) on no answer, timeout, transport error, a failover code
 *   cancel() at any point: sends CANCEL on a branch that has answered, ends at once between branches,
 *            else waits for the branch's first provisional (or its no-answer timer)
 * </pre>
 */
final class InviteBranch {
    final ServerTransaction st;
    final Request request;
    final CallRequest call;
    final Session session;
    /** The caller's transaction as CANCEL matches it ({@link Sip#topBranch}). */
    final String key;
    final int maxAttempts;
    /**
     * Where this call's session, port and counts are kept: the node's own books, or for one of the warm-up's synthetic
     * calls ({@code CallWarmup}) its scratch books (a private store, ledgers and router: no port, count or CDR of the
     * node, no health feedback).
     */
    final Books books;
    /** Resources tried so far (failover skips them). */
    final Set<String> tried = ConcurrentHashMap.newKeySet();

    // guarded by this
    private RouteResult.Target target;
    private ClientTransaction ct;
    private ScheduledFuture<?> noAnswer;
    private int noAnswerExtensions;
    private int attempts;
    private boolean responded;
    private boolean cancelled;
    private boolean cancelSent;
    private boolean done;

    InviteBranch(ServerTransaction st, Request request, CallRequest call, Session session, String key, int maxAttempts,
                 Books books) {
        this.books = books;
        this.st = st;
        this.request = request;
        this.call = call;
        this.session = session;
        this.key = key;
        this.maxAttempts = maxAttempts;
    }

    /** A new branch towards {@code t} starts (the attempt counts whether or not the INVITE gets out). */
    synchronized void begin(RouteResult.Target t) {
        attempts++;
        tried.add(t.resource());
        target = t;
        ct = null;
        responded = false;
        session.attempts(attempts);
    }

    synchronized RouteResult.Target target() {
        return target;
    }

    /** The INVITE of the branch is about to go out on {@code sent}; false if the call ended meanwhile (CANCEL). */
    synchronized boolean sent(ClientTransaction sent) {
        if (done) {
            return false;
        }
        ct = sent;
        return true;
    }

    /** The current branch's transaction; null between branches or before the INVITE went out. */
    synchronized ClientTransaction current() {
        return ct;
    }

    /** The no-answer timer of {@code sent}; cancelled at once if the branch has moved on or answered. */
    synchronized void noAnswerTimer(ClientTransaction sent, ScheduledFuture<?> f) {
        if (ct == sent && !responded && !done) {
            noAnswer = f;
        } else {
            f.cancel(false);
        }
    }

    /** What the no-answer timer of {@code sent} finds. */
    enum NoAnswer { STALE, EXTEND, FAIL }

    /**
     * The no-answer timer of {@code sent} fired. While openrm itself is saturated ({@code saturated}) the media
     * server is given a few more periods: its answer may wait in openrm's own receive queue.
     */
    synchronized NoAnswer noAnswerDue(ClientTransaction sent, boolean saturated) {
        if (ct != sent || responded || done) {
            return NoAnswer.STALE;
        }
        if (saturated && noAnswerExtensions < 4) {
            noAnswerExtensions++;
            return NoAnswer.EXTEND;
        }
        return NoAnswer.FAIL;
    }

    /** The extended no-answer timer. */
    synchronized void extended(ClientTransaction sent, ScheduledFuture<?> f) {
        noAnswerTimer(sent, f);
    }

    /** What a response on a branch asks for. */
    record Seen(boolean current, boolean sendCancel) { }

    /** A response {@code code} arrived on {@code from}. */
    synchronized Seen response(ClientTransaction from, int code) {
        if (ct != from) {
            return new Seen(false, false);
        }
        responded = true;
        cancelNoAnswer();
        boolean cancelNow = code < 200 && cancelled && !cancelSent;
        if (cancelNow) {
            cancelSent = true;
        }
        return new Seen(true, cancelNow);
    }

    /** The branch failed; null if {@code failed} is not the current branch or the call ended. */
    record Failed(String resource, int attempts, boolean cancelled) { }

    synchronized Failed failed(ClientTransaction failed) {
        if (done || ct != failed) {
            return null;
        }
        ct = null;
        cancelNoAnswer();
        return new Failed(target.resource(), attempts, cancelled);
    }

    /** True while the call may go on to another media server (not ended, not cancelled). */
    synchronized boolean goesOn() {
        return !done && !cancelled;
    }

    /** The current branch ended with a final response that does not fail over. */
    synchronized void closed(ClientTransaction from) {
        if (ct == from) {
            ct = null;
        }
    }

    synchronized boolean cancelled() {
        return cancelled;
    }

    /** Ends the call; true exactly once. */
    synchronized boolean end() {
        if (done) {
            return false;
        }
        done = true;
        cancelNoAnswer();
        return true;
    }

    /** What a CANCEL from the caller asks for. */
    sealed interface Cancel permits Cancel.Nothing, Cancel.Send, Cancel.EndNow, Cancel.Wait {
        /** The call had ended. */
        record Nothing() implements Cancel { }
        /** CANCEL the branch {@code ct}, which has answered provisionally. */
        record Send(ClientTransaction ct) implements Cancel { }
        /** Between two branches: end the call now with 487. */
        record EndNow() implements Cancel { }
        /** No response on the branch yet: CANCEL goes out with its first provisional, or its timer ends the call. */
        record Wait() implements Cancel { }
    }

    synchronized Cancel cancel() {
        if (done) {
            return new Cancel.Nothing();
        }
        cancelled = true;
        if (ct != null && responded && !cancelSent) {
            cancelSent = true;
            return new Cancel.Send(ct);
        }
        return ct == null ? new Cancel.EndNow() : new Cancel.Wait();
    }

    private void cancelNoAnswer() {
        if (noAnswer != null) {
            noAnswer.cancel(false);
            noAnswer = null;
        }
    }

    @Override
    public synchronized String toString() {
        return "InviteBranch[" + call.callId() + " attempt " + attempts + " on "
                + (target == null ? "-" : target.resource()) + (done ? " done" : "") + (cancelled ? " cancelled" : "") + "]";
    }
}
