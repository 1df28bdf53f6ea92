package org.openrm.ops.internal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.openrm.api.BillingStatus;
import org.openrm.api.NodeState;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ReadinessCondition;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStates;
import org.openrm.api.ResourceStatus;
import org.openrm.api.SessionStore;
import org.openrm.api.SipStatus;

/**
 * The node's state as probes, the status page, metrics and the console read it: one place, read from the api
 * stores at the moment of the question, in O(resources + tenants + profiles), never O(sessions).
 */
final class NodeView {
    /** A resource as operators see it. */
    record Resource(String name, String group, String uri, String state, int inUse, int capacity, long latencyMs,
                    String lastProbe) { }

    /** A tenant's or profile's usage against its limit. */
    record Usage(String kind, String name, int usage, int limit, int hardLimit, int burstLevel) { }

    final SessionStore sessions;
    final ResourceLedger ledger;
    final PolicyLedger policy;
    final ResourceStates states;
    private final NodeState node;
    private final Supplier<ResourceCatalog> catalog;
    private final Supplier<SipStatus> sip;
    private final Supplier<BillingStatus> billing;
    private final Supplier<List<ReadinessCondition>> conditions;
    private final long stallMs;

    NodeView(SessionStore sessions, ResourceLedger ledger, PolicyLedger policy, ResourceStates states, NodeState node,
             Supplier<ResourceCatalog> catalog, Supplier<SipStatus> sip, Supplier<BillingStatus> billing,
             Supplier<List<ReadinessCondition>> conditions, long stallMs) {
        this.billing = billing;
        this.node = node;
        this.sessions = sessions;
        this.ledger = ledger;
        this.policy = policy;
        this.states = states;
        this.catalog = catalog;
        this.sip = sip;
        this.conditions = conditions;
        this.stallMs = stallMs;
    }

    SipStatus sip() {
        return sip.get();
    }

    /** The CDR path, or null without the billing bundle. */
    BillingStatus billing() {
        return billing.get();
    }

    /** Every configured or registered media server with its state, usage and last probe. */
    List<Resource> resources() {
        ResourceCatalog c = catalog.get();
        if (c == null) {
            return List.of();
        }
        List<ResourceCatalog.Entry> entries = c.resources();
        Map<String, Integer> inUse = ledger.snapshot();
        List<Resource> out = new ArrayList<>(entries.size());
        for (ResourceCatalog.Entry e : entries) {
            ResourceStatus s = states.get(e.name());
            out.add(new Resource(e.name(), e.group(), e.uri(), states.state(e).label(), inUse.getOrDefault(e.name(), 0), e.capacity(),
                    s == null ? -1 : s.lastLatencyMs(), s == null ? null : s.lastProbe()));
        }
        return out;
    }

    /** Tenants and profiles: usage now against their limits. */
    List<Usage> usage() {
        ResourceCatalog c = catalog.get();
        if (c == null) {
            return List.of();
        }
        List<ResourceCatalog.Limit> limits = c.limits();
        List<Usage> out = new ArrayList<>(limits.size());
        for (ResourceCatalog.Limit l : limits) {
            int n = policy.count(l.key());
            out.add(new Usage(l.kind(), l.name(), n, l.limit(), l.hardLimit(), l.burstLevel(n)));
        }
        return out;
    }

    /** Liveness: null when alive, else why not. */
    String notAlive() {
        SipStatus s = sip.get();
        if (s == null) {
            return "sip: the SIP bundle is not active";
        }
        if (!s.listening()) {
            return "sip: the SIP stack is not running";
        }
        long stalled = s.stalledMs();
        if (stalled > stallMs) {
            return "sip: no progress for " + stalled + " ms (a stuck SIP worker or timer)";
        }
        return null;
    }

    /** Readiness: every failing condition by name (empty: ready), in a stable order. */
    Map<String, String> notReady() {
        return notReady(resources());
    }

    /** The same, from resources already read (a scrape reads them once). */
    Map<String, String> notReady(List<Resource> resources) {
        Map<String, String> failing = new LinkedHashMap<>();
        ResourceCatalog c = catalog.get();
        if (c == null) {
            failing.put("configuration", "routing is not active: no model loaded");
        }
        SipStatus s = sip.get();
        if (s == null || !s.listening()) {
            failing.put("sip", "SIP is not listening");
        } else if (!s.warm()) {
            failing.put("warm", "the SIP path is warming up");
        }
        if (c != null) {
            boolean any = false;
            for (Resource r : resources) {
                if (ResourceState.IN_SERVICE.label().equals(r.state())) {
                    any = true;
                    break;
                }
            }
            if (!any) {
                failing.put("media-servers", "no media server is in service");
            }
        }
        if (node != null && node.draining()) {
            failing.put("draining", "the node drains: " + node.drainReason());
        }
        for (ReadinessCondition rc : conditions.get()) {
            String why;
            try {
                why = rc.failing();
            } catch (RuntimeException e) {
                why = "check failed: " + e;
            }
            if (why != null) {
                failing.put(rc.name(), why);
            }
        }
        return Collections.unmodifiableMap(failing);
    }
}
