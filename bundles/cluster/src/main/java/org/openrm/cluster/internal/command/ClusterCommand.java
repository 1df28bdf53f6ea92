package org.openrm.cluster.internal.command;

import java.util.Map;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.cluster.internal.Bank;
import org.openrm.cluster.internal.ClusterNode;
import org.openrm.cluster.internal.Replicas;

/** {@code rm:cluster}: members, view, coordinator, and the shares of every limit per node. */
@Service
@Command(scope = "rm", name = "cluster", description = "Cluster members, view, coordinator, shares per limit and node, sessions owned and replicated")
public class ClusterCommand implements Action {
    /** Limits listed without --all. */
    static final int SHOWN = 40;

    @Reference
    ClusterNode node;

    @Option(name = "--all", aliases = "-a", description = "List every limit, not only the first " + SHOWN)
    boolean all;

    @Override
    public Object execute() {
        Bank.Status s = node.status();
        if (s == null) {
            String why = node.alone();
            System.out.println("node " + node.nodeId() + ": alone (org.openrm.cluster peers empty)"
                    + (why == null || why.isEmpty() ? "" : ": " + why) + "; every limit is this node's own");
            return null;
        }
        System.out.printf("node         %s (%s)%n", node.nodeId(), s.state());
        System.out.printf("view         %d, coordinator %s%n", s.viewId(), s.coordinator());
        System.out.printf("members      %s%n", s.members());
        System.out.printf("departed     %s%s%n", s.departed(), s.departed().isEmpty() ? "" : " (their shares held for them)");
        if (!node.forgotten().isEmpty()) {
            System.out.printf("forgotten    %s (confirmed dead: shares follow their live calls)%n", node.forgotten());
        }
        if (s.droppedReports() > 0) {
            System.out.printf("dropped      %d reports (protocol thread behind)%n", s.droppedReports());
        }
        Replicas r = node.replicas();
        if (r != null) {
            long[] c = r.counters();
            System.out.printf("sessions     %d owned here, %d taken over since start, replicas held %s%s%n",
                    node.ownedSessions(), c[0], r.held(), c[1] > 0 ? ", " + c[1] + " not replicated (bounds)" : "");
            System.out.printf("replication  %d messages, %d KB sent to the members since start%n", c[2], c[3] / 1024);
        }
        System.out.printf("%-32s %8s %8s %8s  %s%n", "LIMIT", "CREATED", "IN USE", "SHARE", "SHARES BY NODE");
        int n = 0;
        for (Map.Entry<String, Integer> e : s.created().entrySet()) {
            if (!all && n++ >= SHOWN) {
                System.out.printf("... %d more (rm:cluster --all)%n", s.created().size() - SHOWN);
                break;
            }
            String k = e.getKey();
            int[] own = s.own().get(k);
            StringBuilder by = new StringBuilder();
            s.table().forEach((m, row) -> {
                Integer v = row.get(k);
                if (v != null && v > 0) {
                    by.append(m).append('=').append(v).append(' ');
                }
            });
            System.out.printf("%-32s %8d %8d %8d  %s%n", k, e.getValue(), own == null ? 0 : own[0], own == null ? 0 : own[1],
                    by.toString().trim());
        }
        return null;
    }
}
