package org.openrm.health.internal;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

import org.openrm.api.HealthFeedback;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStateEvent;
import org.openrm.api.ResourceStateListener;
import org.openrm.api.ResourceStates;
import org.openrm.api.ResourceStatus;
import org.openrm.api.SipPinger;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches every media server routing knows: OPTIONS pings spread over each group's interval, call failures
 * reported by the SIP proxy, and the {@link StateMachine}. States live in the api bundle's
 * {@link ResourceStates}, so an update of this bundle forgets nothing; routing reads them from there.
 *
 * <p>Own-overload guard: a timeout is not held against a media server when openrm itself was saturated while
 * the probe or call was in flight ({@link SipPinger#lastSaturatedAt()}: deep receive queue, calls being shed,
 * or openrm's timer running late because the CPU is starved). Such a timeout says nothing about the media
 * server; counting it is how overloaded proxies end up marking every destination down at once.
 */
@Component(service = {HealthFeedback.class, HealthMonitor.class}, configurationPid = "org.openrm.health")
@Designate(ocd = HealthMonitor.Config.class)
public class HealthMonitor implements HealthFeedback {
    private static final Logger LOG = LoggerFactory.getLogger(HealthMonitor.class);

    @ObjectClassDefinition(name = "openrm health", description = "Media server monitoring")
    public @interface Config {
        @AttributeDefinition(description = "A timeout is not counted against a media server when openrm was saturated "
                + "this many ms before the probe was sent or any time after")
        int guard_window_ms() default 1000;

        @AttributeDefinition(description = "How often (ms) the resource list is compared with routing's")
        int sync_interval_ms() default 1000;

        @AttributeDefinition(description = "State-change events waiting for listeners; beyond it events are dropped and counted")
        int events_queue_max() default 10000;
    }

    /** Counters for metrics and tests. */
    public static final class Stats {
        public final AtomicLong probes = new AtomicLong();
        public final AtomicLong probeFailures = new AtomicLong();
        public final AtomicLong probesSkippedInFlight = new AtomicLong();
        /** Probes that ended for a reason of openrm's own (SIP stack restarting, ping bound reached): not counted. */
        public final AtomicLong probesNotCounted = new AtomicLong();
        public final AtomicLong guardHeld = new AtomicLong();
        public final AtomicLong callFailures = new AtomicLong();
        public final AtomicLong transitions = new AtomicLong();
        public final AtomicLong eventsDropped = new AtomicLong();
    }

    /** One monitored resource and its schedule. */
    private static final class Probe {
        final ResourceCatalog.Entry entry;
        final AtomicBoolean inFlight = new AtomicBoolean();
        volatile ScheduledFuture<?> schedule;

        Probe(ResourceCatalog.Entry entry) {
            this.entry = entry;
        }
    }

    private final ResourceStates states;
    private volatile Config config;
    public final Stats stats = new Stats();

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile ResourceCatalog catalog;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile SipPinger pinger;

    private final List<ResourceStateListener> listeners = new CopyOnWriteArrayList<>();
    private final ScheduledThreadPoolExecutor scheduler;
    private final ThreadPoolExecutor events;
    /** Monitored resources by name; replaced whole by {@link #sync()} (only on the scheduler thread). */
    private volatile Map<String, Probe> probes = Map.of();
    private long syncedVersion = -1;
    private volatile long guardLoggedAt;

    @Activate
    public HealthMonitor(@Reference ResourceStates states, Config config) {
        this.states = states;
        this.config = config;
        scheduler = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-health");
            t.setDaemon(true);
            return t;
        });
        scheduler.setRemoveOnCancelPolicy(true);
        events = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(config.events_queue_max()), r -> {
            Thread t = new Thread(r, "openrm-health-events");
            t.setDaemon(true);
            return t;
        }, (r, ex) -> stats.eventsDropped.incrementAndGet());
        scheduler.scheduleWithFixedDelay(this::syncSafely, 0, config.sync_interval_ms(), TimeUnit.MILLISECONDS);
    }

    @Modified
    void modified(Config c) {
        this.config = c;
    }

    @Deactivate
    public void deactivate() {
        scheduler.shutdownNow();
        events.shutdown();
        try {
            events.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    public void addListener(ResourceStateListener l) {
        listeners.add(l);
    }

    public void removeListener(ResourceStateListener l) {
        listeners.remove(l);
    }

    // ------------------------------------------------------------------------------------ schedule

    private void syncSafely() {
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.warn("Health monitor could not read the resource list", e);
        }
    }

    /** Brings the probe schedule in line with routing's resource list; new probes are spread over their interval. */
    void sync() {
        long now = System.currentTimeMillis();
        for (Probe p : probes.values()) { // quarantines end when their time has passed, probed or not
            apply(p.entry, s -> StateMachine.tick(s, p.entry.monitor(), now), now);
        }
        ResourceCatalog c = catalog;
        if (c == null || c.version() == syncedVersion) {
            return;
        }
        long version = c.version();
        List<ResourceCatalog.Entry> entries = c.resources();
        Map<String, Probe> old = probes;
        Map<String, Probe> next = new HashMap<>();
        List<Probe> added = new java.util.ArrayList<>();
        for (ResourceCatalog.Entry e : entries) {
            Probe p = old.get(e.name());
            if (p != null && p.entry.equals(e)) {
                next.put(e.name(), p);
            } else {
                if (p != null && p.schedule != null) {
                    p.schedule.cancel(false);
                }
                Probe n = new Probe(e);
                next.put(e.name(), n);
                if (e.monitor().options()) {
                    added.add(n);
                }
            }
        }
        for (Map.Entry<String, Probe> o : old.entrySet()) {
            if (!next.containsKey(o.getKey()) && o.getValue().schedule != null) {
                o.getValue().schedule.cancel(false);
            }
        }
        // spread: the i-th of n new probes starts at i/n of its interval, so 1,000 servers are not pinged at once
        for (int i = 0; i < added.size(); i++) {
            Probe p = added.get(i);
            long interval = p.entry.monitor().intervalMs();
            long delay = interval * i / added.size();
            p.schedule = scheduler.scheduleAtFixedRate(() -> probe(p), delay, interval, TimeUnit.MILLISECONDS);
        }
        probes = next;
        syncedVersion = version;
        states.retain(new HashSet<>(next.keySet()));
        if (!added.isEmpty() || old.size() != next.size()) {
            LOG.info("Health monitor watching {} media servers ({} pinged with OPTIONS)", next.size(),
                    next.values().stream().filter(p -> p.entry.monitor().options()).count());
        }
    }

    // ------------------------------------------------------------------------------------ probes

    private void probe(Probe p) {
        SipPinger sip = pinger;
        if (sip == null || probes.get(p.entry.name()) != p) {
            return;
        }
        if (!p.inFlight.compareAndSet(false, true)) {
            stats.probesSkippedInFlight.incrementAndGet();
            return;
        }
        stats.probes.incrementAndGet();
        long sentAt = System.currentTimeMillis();
        try {
            sip.ping(p.entry.uri(), p.entry.monitor().timeoutMs(), r -> {
                p.inFlight.set(false);
                onProbeResult(p, sip, r, sentAt);
            });
        } catch (RuntimeException e) {
            p.inFlight.set(false);
            LOG.warn("OPTIONS to {} not sent", p.entry.uri(), e);
        }
    }

    private void onProbeResult(Probe p, SipPinger sip, SipPinger.Result r, long sentAt) {
        ResourceCatalog.Entry e = p.entry;
        ResourceCatalog.Monitor m = e.monitor();
        long now = System.currentTimeMillis();
        if (r.cause() == SipPinger.Cause.STACK_DOWN || r.cause() == SipPinger.Cause.OWN_LIMIT) {
            // openrm's own fault (its SIP stack restarting, its ping bound reached): says nothing about the media server
            stats.probesNotCounted.incrementAndGet();
            LOG.debug("Probe of {} not counted: {}", e.name(), r.error());
            return;
        }
        if (r.code() == 503 && r.retryAfterS() > 0) {
            apply(e, s -> StateMachine.quarantined(s, now, now + r.retryAfterS() * 1000L,
                    "OPTIONS answered 503, Retry-After " + r.retryAfterS() + " s", true), now);
        } else if (r.code() > 0 && m.alive(r.code())) {
            apply(e, s -> StateMachine.answered(s, m, now, r.code(), r.latencyMs()), now);
        } else if (r.cause() == SipPinger.Cause.TIMEOUT) {
            // judged a moment later: openrm's own saturation is sampled every 50 ms and may show just after
            scheduler.schedule(() -> judgeTimeout(p, sip, sentAt, now), JUDGE_DELAY_MS, TimeUnit.MILLISECONDS);
        } else {
            stats.probeFailures.incrementAndGet();
            String why = r.code() > 0 ? "OPTIONS answered " + r.code() : "OPTIONS " + r.error();
            apply(e, s -> StateMachine.failed(s, m, now, why, true), now);
        }
    }

    /** How long a probe timeout waits before it is judged (the saturation sampling period, and then some). */
    static final long JUDGE_DELAY_MS = 300;

    private void judgeTimeout(Probe p, SipPinger sip, long sentAt, long at) {
        ResourceCatalog.Entry e = p.entry;
        if (guarded(sip, sentAt)) {
            guardHeld("probe of " + e.name());
            states.update(e.name(), s -> s.lastProbeAt() > at ? s : s.withProbe("timeout (openrm saturated: not counted)", at, -1));
            return;
        }
        stats.probeFailures.incrementAndGet();
        // a newer answer (the server came back while this timeout waited to be judged) wins
        apply(e, s -> s.lastProbeAt() > at ? s : StateMachine.failed(s, e.monitor(), at, "OPTIONS timeout", true), at);
    }

    /** True when openrm itself was saturated while something sent at {@code sentAt} was waiting. */
    private boolean guarded(SipPinger sip, long sentAt) {
        return sip != null && sip.lastSaturatedAt() >= sentAt - config.guard_window_ms();
    }

    private void guardHeld(String what) {
        stats.guardHeld.incrementAndGet();
        long now = System.currentTimeMillis();
        if (now - guardLoggedAt > 10_000) {
            guardLoggedAt = now;
            LOG.warn("Overload guard held: a timeout ({}) came while openrm itself was saturated and was not counted "
                    + "against the media server ({} held so far; logged once per 10 s)", what, stats.guardHeld.get());
        }
    }

    // ------------------------------------------------------------------------------------ call outcomes

    @Override
    public void callFailed(String resource, Failure failure, long millis, String detail) {
        stats.callFailures.incrementAndGet();
        Probe p = probes.get(resource);
        long now = System.currentTimeMillis();
        if (p == null) {
            return; // not (yet) known to routing: nothing to judge
        }
        ResourceCatalog.Entry e = p.entry;
        ResourceCatalog.Monitor m = e.monitor();
        if (failure == Failure.RETRY_AFTER) {
            apply(e, s -> StateMachine.quarantined(s, now, now + millis, "call answered " + detail, false), now);
            return;
        }
        if (failure == Failure.TIMEOUT && guarded(pinger, now - 5000)) {
            guardHeld("call to " + resource);
            return;
        }
        if (!m.options()) {
            // nothing will probe it back into service: a failed call keeps it out for failure.quarantine.ms
            if (millis > 0) {
                apply(e, s -> StateMachine.quarantined(s, now, now + millis, "call failed: " + detail, false), now);
            }
            return;
        }
        ResourceStates.Change c = apply(e, s -> StateMachine.failed(s, m, now, "call failed: " + detail, false), now);
        if (c.before() == null || c.before().health() == ResourceState.IN_SERVICE) {
            // first sign of trouble: probe now instead of waiting for the next interval
            scheduler.execute(() -> probe(p));
        }
    }

    // ------------------------------------------------------------------------------------ admin

    /** rm:resource-disable / -enable: drain (no new calls, calls in progress continue) or take back. */
    public boolean setDisabled(String resource, boolean disabled, String who) {
        Probe p = probes.get(resource);
        if (p == null) {
            return false;
        }
        long now = System.currentTimeMillis();
        apply(p.entry, s -> s.withDisabled(disabled, now, (disabled ? "disabled by " : "enabled by ") + who), now);
        return true;
    }

    /** Names of the monitored resources. */
    public Set<String> names() {
        return probes.keySet();
    }

    // ------------------------------------------------------------------------------------ transitions

    private ResourceStates.Change apply(ResourceCatalog.Entry e, UnaryOperator<ResourceStatus> f, long now) {
        ResourceStates.Change c = states.update(e.name(), f);
        if (c.transition()) {
            ResourceState from = c.before() == null ? ResourceState.IN_SERVICE : c.before().state();
            ResourceStatus to = c.after();
            stats.transitions.incrementAndGet();
            LOG.info("Media server {} ({}, group {}): {} -> {}: {}", e.name(), e.uri(), e.group(), from.label(),
                    to.state().label(), to.reason());
            ResourceStateEvent ev = new ResourceStateEvent(e.name(), e.group(), e.uri(), from, to.state(), to.reason(), now);
            if (!listeners.isEmpty()) {
                events.execute(() -> publish(ev));
            }
        }
        return c;
    }

    private void publish(ResourceStateEvent ev) {
        for (ResourceStateListener l : listeners) {
            try {
                l.stateChanged(ev);
            } catch (RuntimeException x) {
                LOG.warn("Resource state listener {} failed", l, x);
            }
        }
    }
}
