package org.openrm.routing.internal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The routing model: resource groups and their resources, built whole from configuration and replaced
 * whole. Immutable except for each group's round-robin cursor.
 */
final class Model {
    static final String RESOURCE_PID = "org.openrm.resource";
    static final String GROUP_PID = "org.openrm.lrg";

    enum Scheme {
        ROUND_ROBIN, LEAST_PERCENT, LEAST_USED;

        static Scheme parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "round-robin" -> ROUND_ROBIN;
                case "least-percent" -> LEAST_PERCENT;
                case "least-used" -> LEAST_USED;
                default -> throw new IllegalArgumentException("unknown scheme '" + s
                        + "' (round-robin, least-percent, least-used)");
            };
        }
    }

    record Resource(String name, String group, String uri, int capacity, boolean enabled) { }

    static final class Group {
        final String name;
        final Scheme scheme;
        final int maxAttempts;
        final List<Resource> resources;
        final AtomicInteger cursor = new AtomicInteger();

        Group(String name, Scheme scheme, int maxAttempts, List<Resource> resources) {
            this.name = name;
            this.scheme = scheme;
            this.maxAttempts = maxAttempts;
            this.resources = List.copyOf(resources);
        }
    }

    /** Raised for a configuration that cannot work; names the PID and key. */
    static final class ConfigException extends Exception {
        ConfigException(String pid, String key, String why) {
            super(pid + ": " + key + ": " + why);
        }
    }

    private static final Pattern SIP_URI = Pattern.compile("sips?:([^@;?\\s]+@)?[A-Za-z0-9.\\-\\[\\]:]+(;[^\\s]*)?");

    final List<Group> groups;
    final Map<String, Resource> resources;

    private Model(List<Group> groups, Map<String, Resource> resources) {
        this.groups = groups;
        this.resources = resources;
    }

    static Model empty() {
        return new Model(List.of(), Map.of());
    }

    /**
     * Builds a model from factory configurations.
     *
     * @param configs PID (e.g. {@code org.openrm.resource~mcp1}) to its properties; only entries whose
     *                factory PID is {@link #RESOURCE_PID} or {@link #GROUP_PID} are passed
     */
    static Model build(Map<String, ConfigEntry> configs) throws ConfigException {
        Map<String, ConfigEntry> groupCfg = new TreeMap<>();
        Map<String, ConfigEntry> resCfg = new TreeMap<>();
        for (ConfigEntry e : configs.values()) {
            if (GROUP_PID.equals(e.factoryPid())) {
                if (groupCfg.putIfAbsent(e.name(), e) != null) {
                    throw new ConfigException(e.pid(), "name", "two resource groups are named '" + e.name() + "'");
                }
            } else if (RESOURCE_PID.equals(e.factoryPid())) {
                if (resCfg.putIfAbsent(e.name(), e) != null) {
                    throw new ConfigException(e.pid(), "name", "two resources are named '" + e.name() + "'");
                }
            }
        }
        Map<String, List<Resource>> members = new LinkedHashMap<>();
        Map<String, Resource> resources = new LinkedHashMap<>();
        for (ConfigEntry e : resCfg.values()) {
            String group = e.string("lrg", "default");
            if (!groupCfg.containsKey(group)) {
                throw new ConfigException(e.pid(), "lrg", "names resource group '" + group + "' that is not configured");
            }
            String uri = e.string("uri", null);
            if (uri == null || !SIP_URI.matcher(uri).matches()) {
                throw new ConfigException(e.pid(), "uri", "'" + uri + "' is not a SIP URI like sip:10.0.0.5:5070");
            }
            int capacity = e.integer("capacity", 100);
            if (capacity < 0) {
                throw new ConfigException(e.pid(), "capacity", "must not be negative, is " + capacity);
            }
            Resource r = new Resource(e.name(), group, uri, capacity, e.bool("enabled", true));
            resources.put(r.name(), r);
            members.computeIfAbsent(group, g -> new ArrayList<>()).add(r);
        }
        List<Group> groups = new ArrayList<>();
        for (ConfigEntry e : groupCfg.values()) {
            Scheme scheme;
            try {
                scheme = Scheme.parse(e.string("scheme", "round-robin"));
            } catch (IllegalArgumentException x) {
                throw new ConfigException(e.pid(), "scheme", x.getMessage());
            }
            int maxAttempts = e.integer("max.attempts", 3);
            if (maxAttempts < 1) {
                throw new ConfigException(e.pid(), "max.attempts", "must be at least 1, is " + maxAttempts);
            }
            List<Resource> rs = members.getOrDefault(e.name(), List.of());
            rs.sort(Comparator.comparing(Resource::name));
            groups.add(new Group(e.name(), scheme, maxAttempts, rs));
        }
        return new Model(Collections.unmodifiableList(groups), Collections.unmodifiableMap(resources));
    }

    /** One configuration, with typed access that names the PID and key on a bad value. */
    record ConfigEntry(String pid, String factoryPid, String name, Map<String, Object> props) {
        String string(String key, String dflt) {
            Object v = props.get(key);
            return v == null ? dflt : v.toString().trim();
        }

        int integer(String key, int dflt) throws ConfigException {
            Object v = props.get(key);
            if (v == null) {
                return dflt;
            }
            if (v instanceof Number n) {
                return n.intValue();
            }
            try {
                return Integer.parseInt(v.toString().trim());
            } catch (NumberFormatException e) {
                throw new ConfigException(pid, key, "'" + v + "' is not a whole number");
            }
        }

        boolean bool(String key, boolean dflt) throws ConfigException {
            Object v = props.get(key);
            if (v == null) {
                return dflt;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            String s = v.toString().trim();
            if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) {
                return Boolean.parseBoolean(s);
            }
            throw new ConfigException(pid, key, "'" + v + "' is not true or false");
        }

        /**
         * The instance name of a factory configuration: the {@code name} key if set, else what follows
         * {@code ~} in a named factory PID, else the file name ({@code org.openrm.resource-mcp1.cfg}).
         */
        static String nameOf(String pid, String factoryPid, Map<String, Object> props) {
            Object n = props.get("name");
            if (n != null && !n.toString().isBlank()) {
                return n.toString().trim();
            }
            int tilde = pid.indexOf('~');
            if (tilde >= 0) {
                return pid.substring(tilde + 1);
            }
            Object file = props.get("felix.fileinstall.filename");
            if (file != null) {
                String f = file.toString();
                f = f.substring(f.lastIndexOf('/') + 1);
                String prefix = factoryPid + "-";
                if (f.startsWith(prefix) && f.endsWith(".cfg")) {
                    return f.substring(prefix.length(), f.length() - 4);
                }
            }
            return pid;
        }
    }
}
