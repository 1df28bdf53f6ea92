package org.openrm.api.internal;

import java.util.Map;

/**
 * What the ledgers read of the cluster's configuration (PID {@code org.openrm.cluster}): whether this node is
 * planned as a member. A member's ledgers are under cluster management from their first moment, before the cluster
 * bundle is active: a node that boots (or restarts after a crash) admits nothing beyond the shares the cluster
 * grants it, instead of its whole local limits while the cluster bundle is still starting.
 */
final class ClusterConfig {
    static final String PID = "org.openrm.cluster";

    private ClusterConfig() {
    }

    /** True when the configuration names peers, or DNS discovery: the node runs in a cluster. */
    static boolean clustered(Map<String, ?> props) {
        if (props == null) {
            return false;
        }
        Object peers = props.get("peers");
        Object discovery = props.get("discovery");
        return (peers != null && !String.valueOf(peers).isBlank())
                || (discovery != null && "dns".equalsIgnoreCase(String.valueOf(discovery).trim()));
    }

    /**
     * At the ledger's activation: under management when the node is a planned member. Only ever turns management
     * on; the cluster bundle turns it off when it decides the node runs alone (peers empty or invalid).
     */
    static void manageIfClustered(ShareTable table, Map<String, ?> props, String what, org.slf4j.Logger log) {
        if (clustered(props) && !table.managed()) {
            table.manage(true);
            log.info("{}: this node is a cluster member (org.openrm.cluster names its peers): it admits only within the "
                    + "shares the cluster grants it, none until the cluster bundle has joined", what);
        }
    }
}
