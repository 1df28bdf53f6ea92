package org.openrm.routing.internal;

import java.lang.reflect.Method;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.AttributeType;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * The keys of the model's factory PIDs as typed metatype (so {@code config:edit} and the console describe every key),
 * and the set of keys each accepts: {@link Model#build} refuses any other, whether the configuration came from an
 * etc/ file or from the config server. Defaults and ranges are checked by {@link Model}.
 */
final class Schema {
    private Schema() { }

    @ObjectClassDefinition(name = "openrm tenant", factoryPid = Model.TENANT_PID,
            description = "A tenant: a node of the tenant tree with its port limit and burst levels")
    @interface Tenant {
        @AttributeDefinition(required = false, description = "Parent tenant; empty for a root")
        String parent();

        @AttributeDefinition(required = false, description = "Calls at burst level 1 (no limit when empty)")
        int limit();

        @AttributeDefinition(required = false, description = "Calls up to which burst level 2 admits (not below limit)")
        int burst_2();

        @AttributeDefinition(required = false, description = "Calls up to which burst level 3 admits (not below burst.2)")
        int burst_3();

        @AttributeDefinition(required = false, description = "SIP code above the hard limit (400-699)")
        int reject_code() default 503;

        @AttributeDefinition(required = false, description = "Reason phrase above the hard limit")
        String reject_reason() default "Tenant Limit Reached";

        @AttributeDefinition(required = false, description = "Instance name (default: from the PID or the file name)")
        String name();
    }

    @ObjectClassDefinition(name = "openrm IVR profile", factoryPid = Model.PROFILE_PID,
            description = "An IVR profile: the application a call runs; param.<name> keys are passed to the media server")
    @interface Profile {
        @AttributeDefinition(required = false, description = "Tenant the profile belongs to")
        String tenant();

        @AttributeDefinition(required = false, description = "voicexml, announcement, conference, msml or ccxml")
        String service() default "voicexml";

        @AttributeDefinition(required = false, description = "URL of the application or prompt")
        String url();

        @AttributeDefinition(required = false, description = "DIDs (comma-separated) that select this profile")
        String dids();

        @AttributeDefinition(required = false, description = "DID prefixes (comma-separated) that select this profile")
        String did_prefixes();

        @AttributeDefinition(required = false, description = "Calls of this profile at once (no limit when empty)")
        int limit();

        @AttributeDefinition(required = false, description = "Instance name (default: from the PID or the file name)")
        String name();
    }

    @ObjectClassDefinition(name = "openrm resource group", factoryPid = Model.GROUP_PID,
            description = "A logical resource group of media servers and how calls are spread over them")
    @interface Group {
        @AttributeDefinition(required = false, description = "Services offered (comma-separated; empty: all)")
        String services();

        @AttributeDefinition(required = false, description = "round-robin, least-percent or least-used")
        String scheme() default "round-robin";

        @AttributeDefinition(required = false, description = "Location label of the group's media servers")
        String geo();

        @AttributeDefinition(required = false, description = "Capabilities offered (matched against gvp.rm.resource-req)")
        String capabilities();

        @AttributeDefinition(required = false, description = "Media servers tried per call (at least 1)")
        int max_attempts() default 3;

        @AttributeDefinition(required = false, description = "options or none")
        String monitor() default "options";

        @AttributeDefinition(required = false, description = "OPTIONS interval in ms (at least 100)")
        int monitor_interval_ms() default 5000;

        @AttributeDefinition(required = false, description = "OPTIONS timeout in ms (50 to the interval)")
        int monitor_timeout_ms() default 2000;

        @AttributeDefinition(required = false, description = "Failed probes before a media server is down")
        int monitor_down_after() default 2;

        @AttributeDefinition(required = false, description = "Good probes before it is up again")
        int monitor_up_after() default 1;

        @AttributeDefinition(required = false, description = "Response codes (comma-separated) that count as alive besides 2xx")
        String monitor_codes();

        @AttributeDefinition(required = false, description = "Instance name (default: from the PID or the file name)")
        String name();
    }

    @ObjectClassDefinition(name = "openrm resource", factoryPid = Model.RESOURCE_PID,
            description = "A media server (MCP)")
    @interface Resource {
        @AttributeDefinition(required = false, description = "Resource group")
        String lrg() default "default";

        @AttributeDefinition(description = "SIP URI, like sip:10.0.0.5:5070")
        String uri();

        @AttributeDefinition(required = false, description = "Ports (concurrent calls)")
        int capacity() default 100;

        @AttributeDefinition(required = false, type = AttributeType.BOOLEAN, description = "Takes new calls")
        boolean enabled() default true;

        @AttributeDefinition(required = false, description = "Location label (default: the group's)")
        String geo();

        @AttributeDefinition(required = false, description = "Instance name (default: from the PID or the file name)")
        String name();
    }

    /** Keys any configuration may carry: Configuration Admin's, file install's, openrm's own markers. */
    private static final String[] META_PREFIXES = {"service.", "felix.", "component.", "openrm."};

    private static final Map<String, Set<String>> KEYS = Map.of(
            Model.TENANT_PID, keys(Tenant.class),
            Model.PROFILE_PID, keys(Profile.class),
            Model.GROUP_PID, keys(Group.class),
            Model.RESOURCE_PID, keys(Resource.class),
            org.openrm.api.ModelValidator.ROUTING, keys(RoutingEngine.Config.class));

    /** The property name of an annotation element, by the rules of OSGi component property types. */
    private static String key(Method m) {
        return m.getName().replace("__", "\u0000").replace('_', '.').replace('\u0000', '_');
    }

    /** Property names of an annotation's elements. */
    static Set<String> keys(Class<?> type) {
        Set<String> out = new TreeSet<>();
        for (Method m : type.getDeclaredMethods()) {
            out.add(key(m));
        }
        return Set.copyOf(out);
    }

    /** The first key of {@code props} that {@code factoryPid} does not know, or null. */
    static String unknownKey(String factoryPid, Map<String, Object> props) {
        Set<String> known = KEYS.get(factoryPid);
        if (known == null) {
            return null;
        }
        for (String k : new TreeSet<>(props.keySet())) {
            if (known.contains(k) || (Model.PROFILE_PID.equals(factoryPid) && k.startsWith("param.") && k.length() > 6)) {
                continue;
            }
            boolean meta = false;
            for (String p : META_PREFIXES) {
                meta |= k.startsWith(p);
            }
            if (!meta) {
                return k;
            }
        }
        return null;
    }

    /**
     * Checks a singleton PID against its annotation type: no unknown key, and each int or boolean element's value of
     * that type (ranges are the component's own business).
     */
    static void checkTypes(String pid, Class<?> type, Model.ConfigEntry e) throws Model.ConfigException {
        String unknown = unknownKey(pid, e.props());
        if (unknown != null) {
            throw new Model.ConfigException(pid, unknown, "is not a key of " + pid + " (known: " + known(pid) + ")");
        }
        for (Method m : type.getDeclaredMethods()) {
            String key = key(m);
            if (m.getReturnType() == int.class) {
                e.integer(key, 0);
            } else if (m.getReturnType() == boolean.class) {
                e.bool(key, false);
            }
        }
    }

    static Set<String> known(String factoryPid) {
        return KEYS.getOrDefault(factoryPid, Set.of());
    }
}
