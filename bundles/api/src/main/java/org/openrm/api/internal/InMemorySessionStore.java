package org.openrm.api.internal;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

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
@Component(service = SessionStore.class)
public class InMemorySessionStore implements SessionStore {
    private static final Logger LOG = LoggerFactory.getLogger(InMemorySessionStore.class);

    private final Map<String, Session> byCallId = new ConcurrentHashMap<>();
    private final Map<String, Session> byId = new ConcurrentHashMap<>();
    private final List<SessionListener> listeners = new CopyOnWriteArrayList<>();
    private final ResourceLedger ledger;
    private final PolicyLedger policy;

    @Activate
    public InMemorySessionStore(@Reference ResourceLedger ledger, @Reference PolicyLedger policy) {
        this.ledger = ledger;
        this.policy = policy;
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    public void addListener(SessionListener l) { listeners.add(l); }

    public void removeListener(SessionListener l) { listeners.remove(l); }

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
            try {
                l.started(s);
            } catch (RuntimeException e) {
                LOG.warn("Session listener {} failed on start of {}", l, s.id(), e);
            }
        }
        return true;
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
        long now = System.currentTimeMillis();
        for (SessionListener l : listeners) {
            try {
                l.ended(s, reason, s.finalCode(), now);
            } catch (RuntimeException e) {
                LOG.warn("Session listener {} failed on end of {}", l, s.id(), e);
            }
        }
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
