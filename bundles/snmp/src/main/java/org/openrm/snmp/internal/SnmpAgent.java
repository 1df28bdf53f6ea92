package org.openrm.snmp.internal;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.openrm.api.Alarm;
import org.openrm.api.AlarmListener;
import org.openrm.api.EndReason;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStateEvent;
import org.openrm.api.ResourceStateListener;
import org.openrm.api.ResourceStates;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.openrm.api.SipStatus;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.snmp4j.smi.Gauge32;
import org.snmp4j.smi.Integer32;
import org.snmp4j.smi.OID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connection 5: openrm's MIB through the SNMP master agent, as an AgentX sub-agent, and its notifications
 * (resource down and up, a group with no server in service and back, a tenant crossing the minor and major
 * thresholds of its limit, CDR delivery stalled and recovered, overload entered and left). Read-only; the
 * call path never waits for it (events are queued, the session runs on its own thread).
 */
@Component(service = {SessionListener.class, ResourceStateListener.class, AlarmListener.class, SnmpAgent.class},
        configurationPid = "org.openrm.snmp", configurationPolicy = ConfigurationPolicy.OPTIONAL, immediate = true)
@Designate(ocd = SnmpAgent.Config.class)
public class SnmpAgent implements SessionListener, ResourceStateListener, AlarmListener {
    private static final Logger LOG = LoggerFactory.getLogger(SnmpAgent.class);

    /** 1.3.6.1.4.1.32473: the enterprise number IANA reserves for documentation (RFC 5612); see the README. */
    static final String DEFAULT_ROOT = "1.3.6.1.4.1.32473.1";

    @ObjectClassDefinition(name = "openrm SNMP", description = "AgentX sub-agent serving OPENRM-MIB through the master agent")
    public @interface Config {
        @AttributeDefinition(description = "The master agent's AgentX socket: tcp:<host>:<port>")
        String master() default "tcp:127.0.0.1:1705";

        @AttributeDefinition(description = "OID of OPENRM-MIB's root (openrmMIB); change it only with a MIB edited to match")
        String root() default DEFAULT_ROOT;

        @AttributeDefinition(description = "Shortest pause before reconnecting to the master (ms)")
        long reconnect_min_ms() default 500;

        @AttributeDefinition(description = "Longest pause between reconnection attempts (ms)")
        long reconnect_max_ms() default 10_000;

        @AttributeDefinition(description = "AgentX timeout: the master's answers and ours (s)")
        int timeout_s() default 5;

        @AttributeDefinition(description = "Ping the master this often while idle (ms); 3 unanswered pings drop the session")
        long ping_interval_ms() default 5000;

        @AttributeDefinition(description = "Objects read from the stores are reused this long (ms), so a walk reads them once")
        long cache_ms() default 1000;

        @AttributeDefinition(description = "Most repetitions answered per GetBulk")
        int max_bulk() default 100;

        @AttributeDefinition(description = "A tenant at this percent of its hard limit raises a minor alarm")
        int tenant_minor_percent() default 80;

        @AttributeDefinition(description = "A tenant at this percent of its hard limit raises a major alarm")
        int tenant_major_percent() default 95;

        @AttributeDefinition(description = "Overload is left when no call was shed for this long (ms)")
        long overload_clear_ms() default 5000;

        @AttributeDefinition(description = "This node's id (openrmNodeId)")
        String node_id() default "1";
    }

    private final SessionStore sessions;
    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final ResourceStates states;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile ResourceCatalog catalog;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile SipStatus sip;

    private final Config config;
    final MibView mib;
    final SubAgent agent;
    private final Thread thread;
    private final ScheduledExecutorService timer;
    /** Groups last seen with no server in service. */
    private final Map<String, Boolean> groupDown = new HashMap<>();
    private long lastOverloadCount = -1;
    private long lastShedAt;
    private boolean overloaded;

    @Activate
    public SnmpAgent(@Reference SessionStore sessions, @Reference ResourceLedger ledger, @Reference PolicyLedger policy,
                     @Reference ResourceStates states, Config config, BundleContext context) {
        this(sessions, ledger, policy, states, config, context == null ? "0.1.0" : context.getBundle().getVersion().toString());
    }

    SnmpAgent(SessionStore sessions, ResourceLedger ledger, PolicyLedger policy, ResourceStates states, Config config,
              String version) {
        this.sessions = sessions;
        this.ledger = ledger;
        this.policy = policy;
        this.states = states;
        this.config = config;
        String master = config.master().trim();
        String hp = master.startsWith("tcp:") ? master.substring(4) : master;
        int colon = hp.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("PID org.openrm.snmp key master: '" + master + "' is not tcp:<host>:<port>");
        }
        OID root;
        try {
            root = new OID(config.root().trim());
            if (root.size() < 2 || !root.isValid()) {
                throw new IllegalArgumentException("too short");
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("PID org.openrm.snmp key root: '" + config.root() + "' is not an OID", e);
        }
        mib = new MibView(root, sessions, ledger, policy, states, () -> catalog, () -> sip, version, config::node_id,
                Instant.now().toString(), config.cache_ms());
        agent = new SubAgent(new SubAgent.Settings(hp.substring(0, colon), Integer.parseInt(hp.substring(colon + 1)),
                config.timeout_s(), config.reconnect_min_ms(), config.reconnect_max_ms(), config.ping_interval_ms(),
                config.max_bulk(), "openrm " + version + " node " + config.node_id()), mib);
        thread = new Thread(agent, "openrm-snmp-agentx");
        thread.setDaemon(true);
        thread.start();
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-snmp-watch");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::watch, 1, 1, TimeUnit.SECONDS);
        LOG.info("SNMP sub-agent for {} started: master {}, notifications on, tenant alarms at {} % / {} %", root,
                master, config.tenant_minor_percent(), config.tenant_major_percent());
    }

    @Deactivate
    void deactivate() {
        timer.shutdownNow();
        agent.stop();
        thread.interrupt();
        try {
            thread.join(2000);
            timer.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("SNMP sub-agent stopped");
    }

    boolean registered() {
        return agent.registered();
    }

    // --------------------------------------------------------------------------------- events

    @Override
    public void started(Session s) {
        if (!UNINSTRUMENTED) {
            mib.admitted.incrementAndGet();
        }
    }

    /** Benchmarks only: the per-call counters are not kept, to measure what they cost (bench/README.md). */
    private static final boolean UNINSTRUMENTED = Boolean.getBoolean("openrm.bench.uninstrumented");

    @Override
    public void ended(Session s, EndReason reason, int finalCode, long endedAt) {
        if (reason != EndReason.REJECTED || UNINSTRUMENTED) {
            return;
        }
        mib.rejected.incrementAndGet();
        if (s.selection() != null && s.selection().tenants() != null) {
            for (String t : s.selection().tenants()) {
                AtomicLong n = mib.tenantRejections.get(t);
                if (n == null && mib.tenantRejections.size() < 100_000) {
                    n = mib.tenantRejections.computeIfAbsent(t, k -> new AtomicLong());
                }
                if (n != null) {
                    n.incrementAndGet();
                }
            }
        }
    }

    @Override
    public void stateChanged(ResourceStateEvent e) {
        boolean down = e.to() == ResourceState.DOWN;
        boolean up = e.to() == ResourceState.IN_SERVICE && e.from() == ResourceState.DOWN;
        if (!down && !up) {
            return;
        }
        int i = mib.resourceIndex(e.resource());
        List<Agentx.VarBind> v = new ArrayList<>();
        v.add(Agentx.VarBind.of(mib.column(MibView.RESOURCES, 2, i), SubAgent.text(e.resource())));
        v.add(Agentx.VarBind.of(mib.column(MibView.RESOURCES, 3, i), SubAgent.text(e.group())));
        v.add(Agentx.VarBind.of(mib.column(MibView.RESOURCES, 4, i), SubAgent.text(e.uri())));
        v.add(Agentx.VarBind.of(mib.column(MibView.RESOURCES, 5, i), new Integer32(MibView.stateNumber(e.to().label()))));
        v.add(Agentx.VarBind.of(mib.notifyObject(1), SubAgent.text(e.reason())));
        agent.notify(mib.notification(down ? 1 : 2), v);
        LOG.info("SNMP notification {}: {} ({})", down ? "openrmResourceDown" : "openrmResourceUp", e.resource(), e.reason());
    }

    @Override
    public void alarm(Alarm a) {
        if ("cluster".equals(a.source()) && "member".equals(a.name())) {
            agent.notify(mib.notification(a.raised() ? 11 : 10), List.of(Agentx.VarBind.of(mib.notifyObject(1), SubAgent.text(a.text()))));
            LOG.info("SNMP notification {}: {}", a.raised() ? "openrmClusterMemberLeft" : "openrmClusterMemberJoined", a.text());
            return;
        }
        if (!"billing".equals(a.source()) || !"delivery-stalled".equals(a.name())) {
            return;
        }
        agent.notify(mib.notification(a.raised() ? 6 : 7), List.of(Agentx.VarBind.of(mib.notifyObject(1), SubAgent.text(a.text()))));
        LOG.info("SNMP notification {}: {}", a.raised() ? "openrmCdrDeliveryStalled" : "openrmCdrDeliveryRecovered", a.text());
    }

    /** Every second: groups without service, tenant thresholds, overload. */
    void watch() {
        try {
            watchGroups();
            watchTenants();
            watchOverload();
        } catch (RuntimeException e) {
            LOG.warn("SNMP watch failed", e);
        }
    }

    private void watchGroups() {
        ResourceCatalog cat = catalog;
        if (cat == null) {
            return;
        }
        Map<String, int[]> groups = new HashMap<>(); // resources, in service
        for (ResourceCatalog.Entry e : cat.resources()) {
            int[] g = groups.computeIfAbsent(e.group(), k -> new int[2]);
            g[0]++;
            if (states.state(e) == ResourceState.IN_SERVICE) {
                g[1]++;
            }
        }
        for (Map.Entry<String, int[]> g : groups.entrySet()) {
            boolean none = g.getValue()[1] == 0;
            Boolean was = groupDown.put(g.getKey(), none);
            if (was == null ? none : was != none) {
                int i = mib.groupIndex(g.getKey());
                agent.notify(mib.notification(none ? 3 : 4), List.of(
                        Agentx.VarBind.of(mib.column(MibView.GROUPS, 2, i), SubAgent.text(g.getKey())),
                        Agentx.VarBind.of(mib.column(MibView.GROUPS, 4, i), new Gauge32(g.getValue()[1]))));
                LOG.info("SNMP notification {}: group {}", none ? "openrmGroupNoService" : "openrmGroupInService", g.getKey());
            }
        }
        groupDown.keySet().retainAll(groups.keySet());
    }

    private void watchTenants() {
        ResourceCatalog cat = catalog;
        if (cat == null) {
            return;
        }
        for (ResourceCatalog.Limit l : MibView.tenants(cat)) {
            int hard = l.hardLimit();
            if (hard <= 0) {
                continue;
            }
            int usage = policy.count(l.key());
            int pct = (int) (usage * 100L / hard);
            int before = mib.tenantAlarm.getOrDefault(l.name(), 1);
            // X.731 style: cleared (1), major (4), minor (5); a level is left 5 points below where it was entered
            int now;
            if (pct >= config.tenant_major_percent() || (before == 4 && pct >= config.tenant_major_percent() - 5)) {
                now = 4;
            } else if (pct >= config.tenant_minor_percent() || (before != 1 && pct >= config.tenant_minor_percent() - 5)) {
                now = 5;
            } else {
                now = 1;
            }
            if (now != before) {
                mib.tenantAlarm.put(l.name(), now);
                int i = mib.tenantIndex(l.name());
                agent.notify(mib.notification(5), List.of(
                        Agentx.VarBind.of(mib.column(MibView.TENANTS, 2, i), SubAgent.text(l.name())),
                        Agentx.VarBind.of(mib.column(MibView.TENANTS, 3, i), new Gauge32(usage)),
                        Agentx.VarBind.of(mib.column(MibView.TENANTS, 4, i), new Integer32(hard)),
                        Agentx.VarBind.of(mib.column(MibView.TENANTS, 7, i), new Integer32(now))));
                LOG.info("SNMP notification openrmTenantAlarm: tenant {} at {} of {} ({} %): {}", l.name(), usage, hard, pct,
                        now == 1 ? "cleared" : now == 4 ? "major" : "minor");
            }
        }
    }

    private void watchOverload() {
        SipStatus s = sip;
        if (s == null) {
            return;
        }
        long n = s.counters().getOrDefault("overload.rejected", 0L);
        long now = System.currentTimeMillis();
        if (lastOverloadCount >= 0 && n > lastOverloadCount) {
            lastShedAt = now;
            if (!overloaded) {
                overloaded = true;
                agent.notify(mib.notification(8), List.of(Agentx.VarBind.of(mib.notifyObject(1),
                        SubAgent.text((n - lastOverloadCount) + " new calls shed in the last second"))));
                LOG.info("SNMP notification openrmOverloadEntered");
            }
        } else if (overloaded && now - lastShedAt >= config.overload_clear_ms()) {
            overloaded = false;
            agent.notify(mib.notification(9), List.of(Agentx.VarBind.of(mib.notifyObject(1),
                    SubAgent.text("no call shed for " + config.overload_clear_ms() + " ms"))));
            LOG.info("SNMP notification openrmOverloadLeft");
        }
        lastOverloadCount = n;
    }
}
