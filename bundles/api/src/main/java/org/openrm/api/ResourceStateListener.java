package org.openrm.api;

/**
 * Whiteboard listener for media server state transitions (metrics, SNMP notifications). Called on the health
 * bundle's own event thread, never on a SIP thread; a listener must not block for long.
 */
public interface ResourceStateListener {
    void stateChanged(ResourceStateEvent event);
}
