package org.openrm.cluster.internal;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.openrm.api.Alarm;
import org.openrm.api.AlarmListener;
import org.openrm.api.ClusterMembership;
import org.openrm.api.ClusterSessions;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ReadinessCondition;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.openrm.api.Shares;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
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
 * Connection 6: this node in a cluster of resource managers (JGroups over TCP, default port 9801). With peers,
 * every port limit of a media server and every tenant and profile limit is a limit of the whole cluster: the node
 * admits locally within its share, and {@link Bank} moves shares between nodes. With no peers the node runs alone
 * exactly as before: its shares are unlimited and nothing runs here.
 *
 * <p>The shares live in the api bundle's ledgers, so an update of this bundle keeps them: the node leaves, keeps
 * admitting within what it holds, rejoins and reports it.
 */
@Component(service = {ClusterNode.class, ReadinessCondition.class, ClusterMembership.class}, configurationPid = "org.openrm.cluster",
        immediate = true)
@Designate(ocd = ClusterNode.Config.class)
public class ClusterNode implements ReadinessCondition, ClusterMembership {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);

    @ObjectClassDefinition(name = "openrm cluster", description = "Several resource managers, one view of capacity")
    public @interface Config {
        @AttributeDefinition(required = false, description = "JGroups cluster name: nodes join only a cluster of the same name")
        String cluster_name() default "openrm";

        @AttributeDefinition(required = false, description = "This node's id in the cluster (default: the host name); unique")
        String node_id() default "";

        @AttributeDefinition(required = false, description = "Address the cluster transport binds to")
        String bind_address() default "127.0.0.1";

        @AttributeDefinition(required = false, description = "TCP port of the cluster transport")
        int bind_port() default 9801;

        @AttributeDefinition(required = false, description = "Static members, host[:port] comma-separated, this node "
                + "included or not; empty (and discovery static): the node runs alone")
        String peers() default "";

        @AttributeDefinition(required = false, description = "static (the peers list) or dns (A records of dns.query)")
        String discovery() default "static";

        @AttributeDefinition(required = false, description = "DNS name listing the members (discovery=dns)")
        String dns_query() default "";

        @AttributeDefinition(required = false, description = "DNS server asked for dns.query (host or host:port); "
                + "empty: the system's resolver")
        String dns_address() default "";

        @AttributeDefinition(required = false, description = "Members the cluster is planned with (0: the peers "
                + "list, this node included); capacity is created only by a view holding a majority of them")
        int expected_members() default 0;

        @AttributeDefinition(required = false, description = "Milliseconds between two rounds of share moves")
        long rebalance_ms() default 100;

        @AttributeDefinition(required = false, description = "Milliseconds of silence after which a member is suspected")
        long failure_ms() default 3000;

        @AttributeDefinition(required = false, description = "Session records go to the peers as they happen; a snapshot owed "
                + "(a member joined) waits at most this many milliseconds")
        int replicas_flush_ms() default 20;

        @AttributeDefinition(required = false, description = "Session records go out at most once per this many ms (idle: "
                + "at once); a crash loses at most the records of the last window")
        int replicas_batch_ms() default 5;

        @AttributeDefinition(required = false, description = "Session replicas held for the other members, at most (over all of them)")
        int replicas_max() default 200000;

        @AttributeDefinition(required = false, description = "Seconds after its INVITE after which an unanswered session of a "
                + "departed member is taken over and ended by the coordinator")
        int takeover_setup_s() default 64;

        @AttributeDefinition(required = false, description = "Seconds after its INVITE after which an answered session of a "
                + "departed member that no request claimed is taken over and ended by the coordinator")
        int takeover_max_age_s() default 14400;
    }

    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final SessionStore sessions;
    private final org.osgi.framework.BundleContext context;
    private volatile Replicas replicas;
    private final List<org.osgi.framework.ServiceRegistration<?>> registrations = new CopyOnWriteArrayList<>();
    private volatile ResourceCatalog catalog;
    private volatile Bank bank;
    private volatile String alone;
    private volatile String nodeId;
    /** The table's copy on disk, in the bundle's data area (kept across restarts and updates). */
    private final java.nio.file.Path store;
    private final List<AlarmListener> alarmListeners = new CopyOnWriteArrayList<>();

    @Activate
    public ClusterNode(@Reference ResourceLedger ledger, @Reference PolicyLedger policy, @Reference SessionStore sessions,
                       Config config, org.osgi.framework.BundleContext context) {
        this.ledger = ledger;
        this.policy = policy;
        this.sessions = sessions;
        this.context = context;
        java.io.File f = context == null ? null : context.getDataFile("cluster-table.bin");
        this.store = f == null ? null : f.toPath();
        start(config);
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindCatalog(ResourceCatalog c) {
        catalog = c;
    }

    void unbindCatalog(ResourceCatalog c) {
        if (catalog == c) {
            catalog = null;
        }
    }

    /** Membership changes go to alarm listeners (SNMP notifications): raised when a member left, cleared when one joined. */
    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addAlarmListener(AlarmListener l) {
        alarmListeners.add(l);
    }

    void removeAlarmListener(AlarmListener l) {
        alarmListeners.remove(l);
    }

    /** Called on the cluster's protocol thread. */
    private void membership(String member, boolean left, String text) {
        Alarm a = new Alarm("cluster", "member", left, text, System.currentTimeMillis());
        for (AlarmListener l : alarmListeners) {
            try {
                l.alarm(a);
            } catch (RuntimeException e) {
                LOG.warn("Alarm listener {} failed on {}", l, text, e);
            }
        }
    }

    private void start(Config c) {
        Shares rs = ledger.shares();
        Shares ps = policy.shares();
        nodeId = c.node_id().isBlank() ? hostName() : c.node_id().trim();
        boolean dns = "dns".equalsIgnoreCase(c.discovery().trim());
        if (!dns && !"static".equalsIgnoreCase(c.discovery().trim())) {
            LOG.error("org.openrm.cluster discovery={}: must be static or dns; the node runs alone", c.discovery());
            alone(rs, ps, "discovery " + c.discovery() + " unknown");
            return;
        }
        List<String> peers;
        try {
            peers = Stack.peers(c.peers(), c.bind_port());
        } catch (IllegalArgumentException e) {
            LOG.error("org.openrm.cluster peers={}: {}; the node runs alone", c.peers(), e.getMessage());
            alone(rs, ps, "peers invalid");
            return;
        }
        if (dns && (c.dns_query().isBlank() || c.expected_members() <= 0)) {
            // with a static list the planned size is the list; a DNS name says nothing of it, and a node that took
            // itself for the whole cluster would create every limit's capacity alone
            LOG.error("org.openrm.cluster discovery=dns needs dns.query and expected.members (the planned cluster size); "
                    + "the node runs alone");
            alone(rs, ps, "discovery dns without dns.query or expected.members");
            return;
        }
        if (!dns && peers.isEmpty()) {
            alone(rs, ps, null);
            LOG.info("Cluster off (org.openrm.cluster peers empty): node {} runs alone, its limits are its own", nodeId);
            return;
        }
        if (rs == null || ps == null) {
            LOG.error("The api bundle's ledgers have no shares (api older than 0.4): node {} runs alone", nodeId);
            alone = "api without shares";
            return;
        }
        String self = c.bind_address() + ":" + c.bind_port();
        int planned = c.expected_members() > 0 ? c.expected_members()
                : peers.size() + (peers.contains(self) || peers.contains("localhost:" + c.bind_port()) ? 0 : 1);
        int quorum = planned / 2 + 1;
        // before the first call of the cluster's life is admitted: every share starts at what this node holds
        if (!rs.managed()) {
            rs.manage(true);
        }
        if (!ps.managed()) {
            ps.manage(true);
        }
        alone = null;
        String xml = Stack.xml(c.bind_address(), c.bind_port(), peers, dns ? c.dns_query() : null,
                dns ? c.dns_address() : null, c.failure_ms());
        Bank b = new Bank(nodeId, rs, ps, this::limits, quorum, c.rebalance_ms(), this::membership, store);
        bank = b;
        Replicas r = new Replicas(nodeId, sessions, ledger, policy, b::channel, new Replicas.Settings(Math.max(1, c.replicas_flush_ms()),
                Math.max(0, c.replicas_batch_ms()), 100_000, Math.max(0, c.replicas_max()), c.takeover_setup_s(), c.takeover_max_age_s()));
        replicas = r;
        b.replicas = r;
        b.start(() -> Stack.channel(xml), c.cluster_name());
        if (context != null) {
            // published only while clustered: alone, the call path has no listener more than before
            registrations.add(context.registerService(SessionListener.class, r, null));
            registrations.add(context.registerService(ClusterSessions.class, r, null));
        }
        LOG.info("Cluster {}: node {} on {}, {} discovery {}, capacity created by a view of at least {} of {} members",
                c.cluster_name(), nodeId, self, dns ? "dns" : "static", dns ? c.dns_query() : peers, quorum, planned);
    }

    private void alone(Shares rs, Shares ps, String why) {
        if (rs != null && rs.managed()) {
            rs.manage(false);
        }
        if (ps != null && ps.managed()) {
            ps.manage(false);
        }
        alone = why == null ? "" : why;
    }

    /** The limits of the cluster: each resource's capacity and each tenant and profile limit of the model. */
    Map<String, Integer> limits() {
        ResourceCatalog c = catalog;
        Map<String, Integer> out = new HashMap<>();
        if (c == null) {
            return out;
        }
        for (ResourceCatalog.Entry e : c.resources()) {
            out.put(Bank.RESOURCE + e.name(), Math.max(0, e.capacity()));
        }
        for (ResourceCatalog.Limit l : c.limits()) {
            if (l.hardLimit() >= 0) {
                out.put(l.key(), l.hardLimit());
            }
        }
        return out;
    }

    @Deactivate
    void stop() {
        for (org.osgi.framework.ServiceRegistration<?> reg : registrations) {
            try {
                reg.unregister();
            } catch (IllegalStateException gone) {
                // already unregistered with the bundle
            }
        }
        registrations.clear();
        Replicas r = replicas;
        replicas = null;
        if (r != null) {
            r.close();
        }
        Bank b = bank;
        bank = null;
        if (b != null) {
            // the shares stay in the ledgers: admission goes on within them while this bundle is away
            b.close();
            LOG.info("Cluster: node {} left (its shares stay with it)", nodeId);
        }
    }

    /** The status shown by {@code rm:cluster}, or null when the node runs alone. */
    public Bank.Status status() {
        Bank b = bank;
        return b == null ? null : b.status();
    }

    /** Departed members forgotten by the operator ({@code rm:cluster-forget}), empty when the node runs alone. */
    public List<String> forgotten() {
        Bank b = bank;
        return b == null ? List.of() : b.forgotten();
    }

    /** {@code rm:cluster-forget}: see {@link Bank#forget}. */
    public String forget(String member) {
        Bank b = bank;
        return b == null ? "node " + nodeId + " runs alone" : b.forget(member);
    }

    /** Live sessions in this node's store (admitted here or taken over). */
    public int ownedSessions() {
        return sessions.size();
    }

    /** The session replicas, or null when the node runs alone. */
    public Replicas replicas() {
        return replicas;
    }

    public String nodeId() {
        return nodeId;
    }

    /** Why the node runs alone ("" when by configuration), or null when it is clustered. */
    public String alone() {
        return alone;
    }

    @Override
    public String name() {
        return "cluster";
    }

    @Override
    public boolean clustered() {
        return bank != null;
    }

    @Override
    public boolean coordinator() {
        Bank b = bank;
        return b != null && nodeId.equals(b.status().coordinator());
    }

    @Override
    public List<String> members() {
        Bank b = bank;
        return b == null ? List.of() : b.status().members();
    }

    @Override
    public List<String> departed() {
        Bank b = bank;
        return b == null ? List.of() : b.status().departed();
    }

    @Override
    public long viewChanges() {
        Bank b = bank;
        return b == null ? 0 : b.status().viewChanges();
    }

    @Override
    public Map<String, int[]> shares() {
        Bank b = bank;
        if (b == null) {
            return Map.of();
        }
        Bank.Status s = b.status();
        Map<String, int[]> out = new TreeMap<>();
        s.created().forEach((k, v) -> {
            int[] own = s.own().get(k);
            out.put(k, new int[] {v, own == null ? 0 : own[1]});
        });
        return out;
    }

    @Override
    public long sessionsTakenOver() {
        Replicas r = replicas;
        return r == null ? 0 : r.counters()[0];
    }

    @Override
    public long sessionReplicas() {
        Replicas r = replicas;
        return r == null ? 0 : r.total();
    }

    @Override
    public String failing() {
        Bank b = bank;
        if (b == null) {
            return null;
        }
        Bank.Status s = b.status();
        return "member".equals(s.state()) ? null : "cluster " + s.state();
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "node-" + ProcessHandle.current().pid();
        }
    }
}
