package org.openrm.api.internal;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.openrm.api.DurableSessionListener;
import org.openrm.api.EndReason;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live sessions by Call-ID. The map is bounded by admission: the SIP bundle opens a session only for a call
 * that got a port, and the port capacity of all resources bounds the number of sessions.
 */
@Component(service = SessionStore.class, immediate = true) // active before its listeners: no activation cycle with them
public class InMemorySessionStore implements SessionStore {
    private static final Logger LOG = LoggerFactory.getLogger(InMemorySessionStore.class);

    private final Map<String, Session> byCallId = new ConcurrentHashMap<>();
    private final Map<String, Session> byId = new ConcurrentHashMap<>();
    private final List<SessionListener> listeners = new CopyOnWriteArrayList<>();
    /** Maximum endings held while no durable listener (billing) is registered. */
    static final int MAX_HELD = 200_000;
    /** Endings waiting for a durable listener; guarded by {@link #durableLock}. */
    private final java.util.ArrayDeque<Object[]> held = new java.util.ArrayDeque<>();
    private final java.util.concurrent.atomic.AtomicLong heldDropped = new java.util.concurrent.atomic.AtomicLong();
    private final Object durableLock = new Object();
    /** Durable listeners registered; guarded by {@link #durableLock}. */
    private final List<DurableSessionListener> durable = new CopyOnWriteArrayList<>();
    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    /** False for a scratch store: its endings are never held for a durable listener. */
    private final boolean hold;

    @Activate
    public InMemorySessionStore(@Reference ResourceLedger ledger, @Reference PolicyLedger policy) {
        this(ledger, policy, true);
    }

    private InMemorySessionStore(ResourceLedger ledger, PolicyLedger policy, boolean hold) {
        this.ledger = ledger;
        this.policy = policy;
        this.hold = hold;
    }

    /**
     * A store of this class with fresh ledgers and the scratch copies of this one's listeners (billing's writes a
     * scratch spool), including those of listeners that register while it is open; the warm-up's calls run through it
     * by the same code as every call.
     */
    @Override
    public Scratch scratch() {
        InMemorySessionStore s = new InMemorySessionStore(new InMemoryResourceLedger(), new InMemoryPolicyLedger(), false);
        List<SessionListener> all = new java.util.ArrayList<>(listeners);
        all.addAll(durable);
        scratches.add(s);
        for (SessionListener x : all) {
            s.addCopyOf(x);
        }
        return new Scratch(s, s.ledger, s.policy, () -> {
            scratches.remove(s);
            s.closeCopies();
        });
    }

    /** Open scratch stores (at most a few: one per running warm-up). */
    private final List<InMemorySessionStore> scratches = new CopyOnWriteArrayList<>();
    /** Of a scratch store: the listener copies it closes, by the listener they copy. */
    private final Map<SessionListener, SessionListener> copies = new ConcurrentHashMap<>();

    private void addCopyOf(SessionListener x) {
        try {
            SessionListener c = x.scratch();
            if (c != null && copies.putIfAbsent(x, c) == null) {
                addListener(c);
            }
        } catch (RuntimeException e) {
            LOG.warn("Session listener {} gave no scratch copy for the warm-up: {}", x, e.toString());
        }
    }

    private void dropCopyOf(SessionListener x) {
        SessionListener c = copies.remove(x);
        if (c != null) {
            removeListener(c);
            close(c);
        }
    }

    private static void close(SessionListener c) {
        if (c instanceof AutoCloseable ac) {
            try {
                ac.close();
            } catch (Exception e) {
                LOG.warn("Scratch copy {} of a session listener not closed: {}", c, e.toString());
            }
        }
    }

    private void closeCopies() {
        for (SessionListener x : List.copyOf(copies.keySet())) {
            dropCopyOf(x);
        }
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    public void addListener(SessionListener l) {
        for (InMemorySessionStore sc : scratches) {
            sc.addCopyOf(l); // a warm-up running now hears of it too (billing activated after the SIP logic)
        }
        if (l instanceof DurableSessionListener d) {
            synchronized (durableLock) {
                // endings held while no durable listener was there go first, in order
                int n = held.size();
                for (Object[] e; (e = held.poll()) != null; ) {
                    notifyEnded(d, (Session) e[0], (EndReason) e[1], (Integer) e[2], (Long) e[3]);
                }
                if (n > 0) {
                    LOG.info("Handed {} session endings held in the api bundle to {}", n, d);
                }
                durable.add(d);
            }
            return;
        }
        listeners.add(l);
    }

    public void removeListener(SessionListener l) {
        for (InMemorySessionStore sc : scratches) {
            sc.dropCopyOf(l);
        }
        if (l instanceof DurableSessionListener d) {
            synchronized (durableLock) {
                durable.remove(d);
            }
            return;
        }
        listeners.remove(l);
    }

    @Override
    public long[] heldForDurableListener() {
        synchronized (durableLock) {
            return new long[] {held.size(), heldDropped.get()};
        }
    }

    private void publishEnded(Session s, EndReason reason, int code, long at) {
        for (SessionListener l : listeners) {
            notifyEnded(l, s, reason, code, at);
        }
        synchronized (durableLock) {
            if (!durable.isEmpty()) {
                for (DurableSessionListener d : durable) {
                    notifyEnded(d, s, reason, code, at);
                }
            } else if (!hold) {
                return; // a scratch store: nobody waits for these
            } else if (held.size() < MAX_HELD) {
                held.add(new Object[] {s, reason, code, at});
            } else if (heldDropped.getAndIncrement() % 10_000 == 0) {
                LOG.error("No billing listener and {} session endings already held: ending of {} dropped ({} so far)",
                        MAX_HELD, s.id(), heldDropped.get());
            }
        }
    }

    private static void notifyStarted(SessionListener l, Session s) {
        try {
            l.started(s);
        } catch (RuntimeException e) {
            LOG.warn("Session listener {} failed on start of {}", l, s.id(), e);
        }
    }

    private static void notifyEnded(SessionListener l, Session s, EndReason reason, int code, long at) {
        try {
            l.ended(s, reason, code, at);
        } catch (RuntimeException e) {
            LOG.warn("Session listener {} failed on end of {}", l, s.id(), e);
        }
    }

    @Override
    public void rejected(Session s, int code) {
        if (code != 0 && s.finalCode() == 0) {
            s.finalCode(code);
        }
        publishEnded(s, EndReason.REJECTED, s.finalCode(), System.currentTimeMillis());
    }

    @Override
    public boolean open(Session s, String resource, String group) {
        synchronized (s) {
            s.resourceSet(resource, group);
        }
        if (byCallId.putIfAbsent(s.callId(), s) != null) {
            return false;
        }
        byId.put(s.id(), s);
        for (SessionListener l : listeners) {
            notifyStarted(l, s);
        }
        for (SessionListener l : durable) {
            notifyStarted(l, s);
        }
        return true;
    }

    @Override
    public void answered(Session s, long at) {
        if (s.answered()) {
            return;
        }
        s.markAnswered(at);
        for (SessionListener l : listeners) {
            try {
                l.answered(s);
            } catch (RuntimeException e) {
                LOG.warn("Session listener {} failed on answer of {}", l, s.id(), e);
            }
        }
    }

    @Override
    public Session byCallId(String callId) {
        return byCallId.get(callId);
    }

    @Override
    public Session bySessionId(String sessionId) {
        return byId.get(sessionId);
    }

    @Override
    public void detach(Session s) {
        String old;
        synchronized (s) {
            old = s.resource();
            s.resourceSet(null, s.group());
        }
        if (old != null) {
            ledger.release(old);
        }
    }

    @Override
    public void attach(Session s, String resource, String group) {
        String old;
        synchronized (s) {
            old = s.resource();
            s.resourceSet(resource, group);
        }
        if (old != null) {
            ledger.release(old);
        }
        if (byCallId.get(s.callId()) != s) {
            // ended meanwhile (CANCEL raced a failover): the new port must not leak
            detach(s);
        }
    }

    @Override
    public boolean end(Session s, EndReason reason, int finalCode) {
        if (!byCallId.remove(s.callId(), s)) {
            return false;
        }
        byId.remove(s.id(), s);
        if (finalCode != 0 && s.finalCode() == 0) {
            s.finalCode(finalCode);
        }
        detach(s);
        if (s.selection() != null) {
            policy.release(s.selection().policyKeys());
        }
        publishEnded(s, reason, s.finalCode(), System.currentTimeMillis());
        return true;
    }

    @Override
    public Collection<Session> sessions() {
        return Collections.unmodifiableCollection(byCallId.values());
    }

    @Override
    public int size() {
        return byCallId.size();
    }
}
