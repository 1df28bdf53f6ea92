package org.openrm.api;

/**
 * One condition of the node's readiness (whiteboard: every bundle that has one publishes it). The node is ready
 * (OPTIONS 200, {@code /health/ready} 200) only when no published condition fails.
 */
public interface ReadinessCondition {

    /** A short stable name, for the JSON body of {@code /health/ready} and the console: {@code draining}, ... */
    String name();

    /** Why the condition fails now, or null when it holds. Cheap and non-blocking. */
    String failing();
}
