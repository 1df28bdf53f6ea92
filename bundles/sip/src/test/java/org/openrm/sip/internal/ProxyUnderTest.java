package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.openrm.api.internal.InMemorySessionStore;
import org.openrm.routing.internal.RoutingEngine;

/** openrm's call path wired by hand, as SCR wires it in Karaf: ledger and store, routing, SIP proxy. */
public final class ProxyUnderTest implements AutoCloseable {
    public final InMemoryResourceLedger ledger = new InMemoryResourceLedger();
    public final InMemoryPolicyLedger policy = new InMemoryPolicyLedger();
    public final InMemorySessionStore store = new InMemorySessionStore(ledger, policy);
    public final org.openrm.api.internal.InMemoryRegistrations registrations = new org.openrm.api.internal.InMemoryRegistrations();
    public final org.openrm.api.internal.InMemoryResourceStates states = new org.openrm.api.internal.InMemoryResourceStates();
    public final org.openrm.api.internal.InMemoryNodeState node = new org.openrm.api.internal.InMemoryNodeState();
    public final RoutingEngine routing;
    /** The stack bundle's component: sockets and edge, kept across swaps of the logic. */
    public final SipStack stack;
    /** The proxy logic now attached (replaced by {@link #swapLogic}). */
    public volatile SipProxy proxy;
    public final int port;
    /** Sessions started per first-choice resource, and ended per reason. */
    public final Map<String, AtomicInteger> started = new ConcurrentHashMap<>();
    public final Map<EndReason, AtomicInteger> ended = new ConcurrentHashMap<>();
    public final Map<String, Long> lastStart = new ConcurrentHashMap<>();

    /** The warm-up's sessions as the scratch copy of the listener above heard them: ended per reason and IVR profile. */
    public final Map<String, AtomicInteger> scratchEnded = new ConcurrentHashMap<>();
    /** Scratch copies made and closed. */
    public final AtomicInteger scratchCopies = new AtomicInteger(), scratchClosed = new AtomicInteger();

    private final class ScratchCopy implements SessionListener, AutoCloseable {
        ScratchCopy() {
            scratchCopies.incrementAndGet();
        }

        @Override
        public void ended(Session s, EndReason reason, int code, long at) {
            String key = reason + "/" + (s.selection() == null ? "-" : s.selection().profile()) + "/" + s.resource();
            scratchEnded.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
        }

        @Override
        public void close() {
            scratchClosed.incrementAndGet();
        }
    }

    public ProxyUnderTest(int port, Map<String, Map<String, Object>> configs, Map<String, Object> sip) throws Exception {
        this(port, configs, sip, Map.of());
    }

    public ProxyUnderTest(int port, Map<String, Map<String, Object>> configs, Map<String, Object> sip,
                   Map<String, Object> routingConfig) throws Exception {
        this.port = port;
        store.addListener(new SessionListener() {
            @Override
            public void started(Session s) {
                started.computeIfAbsent(s.resource(), r -> new AtomicInteger()).incrementAndGet();
                lastStart.put(s.resource(), System.currentTimeMillis());
            }

            @Override
            public void ended(Session s, EndReason reason, int code, long at) {
                ended.computeIfAbsent(reason, r -> new AtomicInteger()).incrementAndGet();
            }

            @Override
            public SessionListener scratch() {
                return new ScratchCopy();
            }
        });
        routing = new RoutingEngine(ledger, policy, states, registrations, TestConfigs.configAdmin(configs),
                TestConfigs.of(RoutingEngine.Config.class, routingConfig));
        routing.sessions = store;
        Map<String, Object> s = new java.util.HashMap<>(sip);
        s.put("listen.port", port);
        // tests that measure a cold or warm start ask for the warm-up; the others start warm at once
        s.putIfAbsent("warmup.calls", 0);
        s.putIfAbsent("warmup.messages", 0);
        stack = new SipStack(TestConfigs.of(SipConfig.class, s));
        proxy = newLogic();
    }

    /** A proxy logic on the stack, wired as SCR wires it (it attaches itself: every new request goes to it). */
    private SipProxy newLogic() {
        SipProxy p = new SipProxy(stack, store, ledger, policy);
        p.router = routing;
        p.node = node;
        p.registrations = registrations;
        return p;
    }

    /**
     * Replaces the proxy logic as a bundle:update of org.openrm.sip does: the old one is deactivated (it finishes
     * what it started), the stack keeps its sockets and holds new requests for {@code gapMs}, then a new one attaches.
     */
    public synchronized SipProxy swapLogic(long gapMs) throws InterruptedException {
        proxy.deactivate();
        Thread.sleep(gapMs);
        proxy = newLogic();
        return proxy;
    }

    public int started(String resource) {
        AtomicInteger n = started.get(resource);
        return n == null ? 0 : n.get();
    }

    /** True when no session is live and every port count is zero. */
    public boolean idle() {
        int opened = started.values().stream().mapToInt(AtomicInteger::get).sum();
        // a call routing rejected is reported as ended without ever having started
        int closed = ended.entrySet().stream().filter(e -> e.getKey() != EndReason.REJECTED)
                .mapToInt(e -> e.getValue().get()).sum();
        // listeners hear of an end just after the port is released: idle means they have heard too
        return store.size() == 0 && ledger.snapshot().values().stream().allMatch(v -> v == 0)
                && policy.snapshot().isEmpty() && opened == closed;
    }

    /** Waits (at most 10 s) until {@link #idle()}; fails naming what is left. */
    public void awaitIdle() throws InterruptedException {
        long end = System.currentTimeMillis() + 10_000;
        while (!idle() && System.currentTimeMillis() < end) {
            Thread.sleep(20);
        }
        if (!idle()) {
            throw new AssertionError("not idle: sessions " + store.size() + ", ports " + ledger.snapshot()
                    + ", policy " + policy.snapshot() + ", started " + started + ", ended " + ended);
        }
    }

    @Override
    public void close() {
        proxy.deactivate();
        stack.close();
        routing.deactivate();
    }
}
