package org.openrm.api;

/** Where a media server stands for routing. Routing picks {@link #IN_SERVICE}, and {@link #SUSPECT} only when nothing else is left. */
public enum ResourceState {
    /** Answering: takes new calls. */
    IN_SERVICE("in-service"),
    /** Failed at least one probe or call, not yet {@code monitor.down.after} in a row: a last resort. */
    SUSPECT("suspect"),
    /** Failed {@code monitor.down.after} probes or calls in a row: no new calls until it answers again. */
    DOWN("down"),
    /** Answered 503 with Retry-After: no new calls until that time has passed. */
    QUARANTINED("quarantined"),
    /** Taken out by the operator ({@code rm:resource-disable}): no new calls, calls in progress continue. */
    OUT_OF_SERVICE("out-of-service");

    private final String label;

    ResourceState(String label) {
        this.label = label;
    }

    /** The name operators see in the console, logs and metrics. */
    public String label() {
        return label;
    }
}
