package org.openrm.health.internal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Supplier;

import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStateEvent;
import org.openrm.api.RouteResult;
import org.openrm.api.Selection;
import org.openrm.api.SipPinger;
import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.TestConfigs;

/**
 * openrm's call path with health monitoring, wired by hand as SCR wires it in Karaf; records every state event,
 * every media server routing hands a call to, and every ping sent.
 */
final class HealthUnderTest implements AutoCloseable {
    final ProxyUnderTest rm;
    final HealthMonitor health;
    final List<ResourceStateEvent> events = new CopyOnWriteArrayList<>();
    /** Last time (epoch ms) routing handed a call (first try or failover) to each resource. */
    final Map<String, Long> lastRouted = new ConcurrentHashMap<>();
    /** Epoch ms of each ping sent (bounded by the caller's test length). */
    final List<Long> pingTimes = Collections.synchronizedList(new ArrayList<>());

    HealthUnderTest(int port, Map<String, Map<String, Object>> configs, Map<String, Object> sip) throws Exception {
        rm = new ProxyUnderTest(port, configs, sip);
        CallRouter real = rm.routing;
        rm.proxy.router = new CallRouter() {
            @Override
            public RouteResult route(CallRequest request) {
                return seen(real.route(request));
            }

            @Override
            public RouteResult failover(CallRequest request, Selection selection, String failed, Set<String> tried, int attempt) {
                return seen(real.failover(request, selection, failed, tried, attempt));
            }

            @Override
            public void quarantine(String resource, long millis, String why) {
                real.quarantine(resource, millis, why);
            }

            @Override
            public boolean isMediaServer(String host, int port) {
                return real.isMediaServer(host, port);
            }

            @Override
            public String register(String contactUri, String group, int capacity, int expiresS) {
                return real.register(contactUri, group, capacity, expiresS);
            }

            private RouteResult seen(RouteResult r) {
                if (r instanceof RouteResult.Target t) {
                    lastRouted.put(t.resource(), System.currentTimeMillis());
                }
                return r;
            }
        };
        health = new HealthMonitor(rm.states, TestConfigs.of(HealthMonitor.Config.class,
                Map.of("sync.interval.ms", 100,
                        // -Dopenrm.health.guard.window.ms=-100000000 switches the overload guard off, to see its effect
                        "guard.window.ms", Integer.getInteger("openrm.health.guard.window.ms", 1000))));
        health.addListener(events::add);
        health.catalog = rm.routing;
        SipPinger sipPinger = rm.proxy;
        health.pinger = new SipPinger() {
            @Override
            public void ping(String uri, long timeoutMs, Consumer<Result> done) {
                if (pingTimes.size() < 1_000_000) {
                    pingTimes.add(System.currentTimeMillis());
                }
                sipPinger.ping(uri, timeoutMs, done);
            }

            @Override
            public long lastSaturatedAt() {
                return sipPinger.lastSaturatedAt();
            }
        };
        rm.proxy.health = health;
    }

    ResourceState state(String resource) {
        return rm.states.state(resource);
    }

    /** Waits (bounded) until {@code resource} is in {@code state}; returns the ms waited. */
    long await(String resource, ResourceState state, long maxMs) throws InterruptedException {
        return await(() -> state(resource) == state, maxMs, () -> resource + " is " + state(resource) + ", not " + state
                + " (" + rm.states.get(resource) + ")");
    }

    static long await(Supplier<Boolean> condition, long maxMs, Supplier<String> failure) throws InterruptedException {
        long start = System.currentTimeMillis();
        while (!condition.get()) {
            if (System.currentTimeMillis() - start > maxMs) {
                throw new AssertionError(failure.get() + " after " + maxMs + " ms");
            }
            Thread.sleep(10);
        }
        return System.currentTimeMillis() - start;
    }

    /** Waits (at most 2 s: events reach listeners on their own thread) until {@code resource} went through {@code states}. */
    void awaitPath(String resource, List<ResourceState> states) throws InterruptedException {
        await(() -> path(resource).equals(states), 2000, () -> resource + " went through " + path(resource) + ", not " + states);
    }

    /** The states {@code resource} went through, in order. */
    List<ResourceState> path(String resource) {
        List<ResourceState> out = new ArrayList<>();
        for (ResourceStateEvent e : events) {
            if (e.resource().equals(resource)) {
                out.add(e.to());
            }
        }
        return out;
    }

    @Override
    public void close() {
        health.deactivate();
        rm.close();
    }
}
