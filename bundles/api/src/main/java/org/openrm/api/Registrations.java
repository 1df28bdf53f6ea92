package org.openrm.api;

import java.util.Map;

/**
 * Media servers that REGISTERed themselves, by resource name. Lives in the api bundle so that an update of
 * the routing bundle keeps them; bounded by the registrar's own limit.
 */
public interface Registrations {

    /**
     * A registered media server.
     *
     * @param uri       its SIP URI
     * @param group     the resource group it joined
     * @param capacity  its ports
     * @param expiresAt epoch ms at which the binding lapses
     */
    record Binding(String uri, String group, int capacity, long expiresAt) { }

    /** Adds or refreshes a binding; returns the previous one, or null. */
    Binding put(String name, Binding binding);

    /** Removes a binding; returns it, or null. */
    Binding remove(String name);

    /** Removes every binding that lapsed before {@code now}; returns them by name. */
    Map<String, Binding> expire(long now);

    /** All bindings, a snapshot. */
    Map<String, Binding> all();
}
