package org.openrm.snmp.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceStates;
import org.openrm.api.ResourceStatus;
import org.openrm.api.SessionStore;
import org.openrm.api.SipStatus;
import org.snmp4j.smi.Counter64;
import org.snmp4j.smi.Gauge32;
import org.snmp4j.smi.Integer32;
import org.snmp4j.smi.OID;
import org.snmp4j.smi.OctetString;
import org.snmp4j.smi.Variable;

/**
 * OPENRM-MIB's objects (see {@code etc/snmp/OPENRM-MIB}) as a sorted map from instance OID to value, read from
 * the api stores and cached for {@code cache.ms}, so that a walk of N objects costs one read of the stores,
 * not N. Table rows are indexed by a number given to each name the first time it is seen and kept for the
 * life of the bundle (a resource that comes back keeps its row).
 */
final class MibView {
    // columns and scalars under root.1 (openrmObjects)
    static final int SCALARS = 1, RESOURCES = 2, GROUPS = 3, TENANTS = 4, NOTIFY_OBJECTS = 5;

    /** Resource states as the MIB numbers them (OpenrmResourceState). */
    static int stateNumber(String label) {
        return switch (label) {
            case "in-service" -> 1;
            case "suspect" -> 2;
            case "down" -> 3;
            case "quarantined" -> 4;
            default -> 5; // out-of-service
        };
    }

    private final OID root;
    private final SessionStore sessions;
    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final ResourceStates states;
    private final Supplier<ResourceCatalog> catalog;
    private final Supplier<SipStatus> sip;
    private final String version;
    private final Supplier<String> nodeId;
    private final String startTime;
    final AtomicLong admitted = new AtomicLong();
    final AtomicLong rejected = new AtomicLong();
    /** Rejections per tenant name (bounded by the model's tenants: only configured names are counted). */
    final Map<String, AtomicLong> tenantRejections = new ConcurrentHashMap<>();
    /** The X.731-style alarm state of each tenant (1 cleared, 4 major, 5 minor), kept by {@link SnmpAgent}. */
    final Map<String, Integer> tenantAlarm = new ConcurrentHashMap<>();
    private final Map<String, Integer> resourceIndex = new ConcurrentHashMap<>();
    private final Map<String, Integer> groupIndex = new ConcurrentHashMap<>();
    private final Map<String, Integer> tenantIndex = new ConcurrentHashMap<>();
    private final AtomicInteger nextResource = new AtomicInteger(1), nextGroup = new AtomicInteger(1), nextTenant = new AtomicInteger(1);
    private final long cacheMs;
    private volatile NavigableMap<OID, Variable> cached;
    private volatile long cachedAt;

    MibView(OID root, SessionStore sessions, ResourceLedger ledger, PolicyLedger policy, ResourceStates states,
            Supplier<ResourceCatalog> catalog, Supplier<SipStatus> sip, String version, Supplier<String> nodeId,
            String startTime, long cacheMs) {
        this.root = root;
        this.sessions = sessions;
        this.ledger = ledger;
        this.policy = policy;
        this.states = states;
        this.catalog = catalog;
        this.sip = sip;
        this.version = version;
        this.nodeId = nodeId;
        this.startTime = startTime;
        this.cacheMs = cacheMs;
    }

    OID root() {
        return root;
    }

    /** {@code root.1.<table>.1.<column>.<index>} (or {@code root.1.1.<n>.0} for a scalar). */
    OID column(int table, int column, int index) {
        OID o = new OID(root);
        o.append(1).append(table).append(1).append(column).append(index);
        return o;
    }

    OID scalar(int n) {
        OID o = new OID(root);
        o.append(1).append(SCALARS).append(n).append(0);
        return o;
    }

    /** A notification's OID: {@code root.0.<n>}. */
    OID notification(int n) {
        OID o = new OID(root);
        o.append(0).append(n);
        return o;
    }

    /** accessible-for-notify objects: {@code root.1.5.<n>.0}. */
    OID notifyObject(int n) {
        OID o = new OID(root);
        o.append(1).append(NOTIFY_OBJECTS).append(n).append(0);
        return o;
    }

    int resourceIndex(String name) {
        return resourceIndex.computeIfAbsent(name, n -> nextResource.getAndIncrement());
    }

    int groupIndex(String name) {
        return groupIndex.computeIfAbsent(name, n -> nextGroup.getAndIncrement());
    }

    int tenantIndex(String name) {
        return tenantIndex.computeIfAbsent(name, n -> nextTenant.getAndIncrement());
    }

    /** The objects now (at most {@code cache.ms} old). */
    NavigableMap<OID, Variable> snapshot() {
        long now = System.currentTimeMillis();
        NavigableMap<OID, Variable> c = cached;
        if (c != null && now - cachedAt < cacheMs) {
            return c;
        }
        c = build();
        cached = c;
        cachedAt = now;
        return c;
    }

    private NavigableMap<OID, Variable> build() {
        TreeMap<OID, Variable> m = new TreeMap<>();
        SipStatus s = sip.get();
        Map<String, Long> counters = s == null ? Map.of() : s.counters();
        m.put(scalar(1), new OctetString(version));
        m.put(scalar(2), new OctetString(nodeId.get()));
        m.put(scalar(3), new OctetString(startTime));
        m.put(scalar(4), new Counter64(admitted.get()));
        m.put(scalar(5), new Gauge32(sessions.size()));
        m.put(scalar(6), new Counter64(rejected.get()));
        m.put(scalar(7), new Counter64(counters.getOrDefault("invites", 0L)));
        m.put(scalar(8), new Counter64(counters.getOrDefault("overload.rejected", 0L)));
        m.put(scalar(9), new Gauge32(s == null ? 0 : s.pendingInvites()));
        ResourceCatalog cat = catalog.get();
        if (cat != null) {
            List<ResourceCatalog.Entry> entries = cat.resources();
            Map<String, Integer> inUse = ledger.snapshot();
            Map<String, long[]> groups = new TreeMap<>(); // resources, in service, in use, capacity
            for (ResourceCatalog.Entry e : entries) {
                int i = resourceIndex(e.name());
                ResourceStatus rs = states.get(e.name());
                String state = states.state(e).label();
                int used = inUse.getOrDefault(e.name(), 0);
                m.put(column(RESOURCES, 1, i), new Gauge32(i));
                m.put(column(RESOURCES, 2, i), new OctetString(e.name()));
                m.put(column(RESOURCES, 3, i), new OctetString(e.group()));
                m.put(column(RESOURCES, 4, i), new OctetString(e.uri()));
                m.put(column(RESOURCES, 5, i), new Integer32(stateNumber(state)));
                m.put(column(RESOURCES, 6, i), new Gauge32(used));
                m.put(column(RESOURCES, 7, i), new Gauge32(Math.max(0, e.capacity())));
                m.put(column(RESOURCES, 8, i), new Integer32((int) (rs == null ? -1 : Math.min(rs.lastLatencyMs(), Integer.MAX_VALUE))));
                long[] g = groups.computeIfAbsent(e.group(), k -> new long[4]);
                g[0]++;
                if ("in-service".equals(state)) {
                    g[1]++;
                }
                g[2] += used;
                g[3] += Math.max(0, e.capacity());
            }
            for (Map.Entry<String, long[]> g : groups.entrySet()) {
                int i = groupIndex(g.getKey());
                long[] v = g.getValue();
                m.put(column(GROUPS, 1, i), new Gauge32(i));
                m.put(column(GROUPS, 2, i), new OctetString(g.getKey()));
                m.put(column(GROUPS, 3, i), new Gauge32(v[0]));
                m.put(column(GROUPS, 4, i), new Gauge32(v[1]));
                m.put(column(GROUPS, 5, i), new Gauge32(v[2]));
                m.put(column(GROUPS, 6, i), new Gauge32(v[3]));
            }
            for (ResourceCatalog.Limit l : tenants(cat)) {
                int i = tenantIndex(l.name());
                int usage = policy.count(l.key());
                AtomicLong rej = tenantRejections.get(l.name());
                m.put(column(TENANTS, 1, i), new Gauge32(i));
                m.put(column(TENANTS, 2, i), new OctetString(l.name()));
                m.put(column(TENANTS, 3, i), new Gauge32(usage));
                m.put(column(TENANTS, 4, i), new Integer32(l.hardLimit()));
                m.put(column(TENANTS, 5, i), new Integer32(l.burstLevel(usage)));
                m.put(column(TENANTS, 6, i), new Counter64(rej == null ? 0 : rej.get()));
                m.put(column(TENANTS, 7, i), new Integer32(tenantAlarm.getOrDefault(l.name(), 1)));
            }
        }
        return m;
    }

    static List<ResourceCatalog.Limit> tenants(ResourceCatalog cat) {
        List<ResourceCatalog.Limit> out = new ArrayList<>();
        for (ResourceCatalog.Limit l : cat.limits()) {
            if ("tenant".equals(l.kind())) {
                out.add(l);
            }
        }
        return out;
    }
}
