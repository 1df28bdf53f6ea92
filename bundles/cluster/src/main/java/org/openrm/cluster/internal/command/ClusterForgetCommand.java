package org.openrm.cluster.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.cluster.internal.ClusterNode;

/**
 * {@code rm:cluster-forget <node>}: the operator confirms that a departed member is dead (its host is gone, or it was
 * fenced): its share, held for it until it comes back, returns to the cluster as its calls end.
 */
@Service
@Command(scope = "rm", name = "cluster-forget", description = "Confirm a departed cluster member dead: its share "
        + "returns to the cluster as its calls end (wrong for a member alive behind a partition)")
public class ClusterForgetCommand implements Action {
    @Reference
    ClusterNode node;

    @Argument(index = 0, name = "node", description = "node.id of the departed member", required = true)
    String member;

    @Override
    public Object execute() {
        System.out.println(node.forget(member));
        return null;
    }
}
