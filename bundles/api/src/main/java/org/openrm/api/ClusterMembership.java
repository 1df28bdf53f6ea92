package org.openrm.api;

import java.util.List;
import java.util.Map;

/**
 * The cluster as this node sees it, for metrics and the status page (published by the cluster bundle). Cheap and
 * non-blocking: a snapshot the cluster's own thread keeps current.
 */
public interface ClusterMembership {

    /** False when the node runs alone (no peers): then every other answer is empty. */
    boolean clustered();

    String nodeId();

    /** True while this node coordinates the view (moves the shares). */
    boolean coordinator();

    /** Members of the current view, this node included. */
    List<String> members();

    /** Members gone from the view whose shares are still held for them. */
    List<String> departed();

    /** Views installed since the cluster bundle started (each join, leave, merge). */
    long viewChanges();

    /**
     * Per limit ({@code resource:<name>}, {@code tenant:<name>}, {@code profile:<name>}): {capacity created in the
     * cluster, this node's share}. O(limits).
     */
    Map<String, int[]> shares();

    /** Sessions of departed members this node took over since the cluster bundle started. */
    default long sessionsTakenOver() {
        return 0;
    }

    /** Replicas of other members' live sessions held here now. */
    default long sessionReplicas() {
        return 0;
    }
}
