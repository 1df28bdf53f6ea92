package org.openrm.api;

import java.util.Map;

/**
 * The one schema of the routing model, and the model in force, (resource groups, resources, tenants, IVR profiles and the routing PID),
 * published by the routing bundle. Config sync checks a model read from the config server with it before writing a
 * single configuration, so a model from etcd and one from etc/ files pass the same code.
 */
public interface ModelValidator {

    /** Factory PIDs of the model, and the singleton routing PID. */
    String TENANT = "org.openrm.tenant";
    String PROFILE = "org.openrm.profile";
    String GROUP = "org.openrm.lrg";
    String RESOURCE = "org.openrm.resource";
    String ROUTING = "org.openrm.routing";

    /**
     * Configuration PID that config sync writes around a model change: {@code state} is {@code applying} while it
     * writes the configurations of one change and {@code applied} (with {@code revision}) once all are written.
     * While it exists, the routing model is built only from configurations whose {@code openrm.source} is
     * {@code etcd}, and never in the middle of a change.
     */
    String SYNC_MARKER_PID = "org.openrm.configsync.model";
    /** Property that marks a configuration written by config sync. */
    String SOURCE_KEY = "openrm.source";

    /**
     * Checks a whole model.
     *
     * @param configs keyed {@code <factory PID>~<name>} (or {@link #ROUTING}) to the configuration's properties
     * @return null when the model is valid, else one line naming the configuration, the key and the reason
     */
    String problem(Map<String, Map<String, Object>> configs);

    /**
     * The model routing built its last model from (sync's configurations while it owns the model, else etc/'s),
     * keyed {@code <factory PID>~<name>}, without the routing PID; for {@code rm:config-export}.
     */
    Map<String, Map<String, Object>> running();
}
