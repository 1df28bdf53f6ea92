package org.openrm.routing.internal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * The routing model: resource groups and their resources, built whole from configuration and replaced
 * whole. Immutable except for each group's round-robin cursor.
 */
public final class Model {
    static final String RESOURCE_PID = "org.openrm.resource";
    static final String GROUP_PID = "org.openrm.lrg";
    static final String TENANT_PID = "org.openrm.tenant";
    static final String PROFILE_PID = "org.openrm.profile";
    static final Set<String> SERVICES = Set.of("voicexml", "announcement", "conference", "msml", "ccxml");

    /**
     * A tenant. Calls up to {@code limit} are burst level 1, up to {@code burst2} level 2, up to
     * {@code burst3} level 3; above the highest configured of the three no call is admitted. -1: not set.
     */
    public record Tenant(String name, String parent, int limit, int burst2, int burst3, int rejectCode, String rejectReason) {
        public int hardLimit() {
            return burst3 >= 0 ? burst3 : burst2 >= 0 ? burst2 : limit;
        }

        public int burstLevel(int usage) {
            if (limit < 0 || usage <= limit) {
                return 1;
            }
            return burst2 < 0 || usage <= burst2 ? 2 : 3;
        }
    }

    /** An IVR profile: the application a call runs, and how many calls of it may run at once (-1: no limit). */
    public record Profile(String name, String tenant, String service, String url, Set<String> dids, List<String> prefixes,
                   int limit, Map<String, String> params) { }

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

    /** A media server; {@code geo} is its own label or its group's, null when neither has one. */
    public record Resource(String name, String group, String uri, int capacity, boolean enabled, String geo) { }

    public static final class Group {
        public final String name;
        final Scheme scheme;
        final int maxAttempts;
        public final List<Resource> resources;
        /** Services offered; empty means every service. */
        final Set<String> services;
        /** Capabilities offered (matched against gvp.rm.resource-req). */
        final Set<String> capabilities;
        final AtomicInteger cursor = new AtomicInteger();
        /** How the group's media servers are watched (monitor* keys). */
        public final org.openrm.api.ResourceCatalog.Monitor monitor;

        Group(String name, Scheme scheme, int maxAttempts, List<Resource> resources, Set<String> services,
              Set<String> capabilities, org.openrm.api.ResourceCatalog.Monitor monitor) {
            this.monitor = monitor;
            this.name = name;
            this.scheme = scheme;
            this.maxAttempts = maxAttempts;
            this.resources = List.copyOf(resources);
            this.services = Set.copyOf(services);
            this.capabilities = Set.copyOf(capabilities);
        }

        boolean offers(String service) {
            return service == null || services.isEmpty() || services.contains(service);
        }
    }

    /** Raised for a configuration that cannot work; names the PID and key. */
    static final class ConfigException extends Exception {
        ConfigException(String pid, String key, String why) {
            super(pid + ": " + key + ": " + why);
        }
    }

    private static final Pattern SIP_URI = Pattern.compile("sips?:([^@;?\\s]+@)?[A-Za-z0-9.\\-\\[\\]:]+(;[^\\s]*)?");

    public final List<Group> groups;
    public final Map<String, Resource> resources;
    public final Map<String, Tenant> tenants;
    public final Map<String, Profile> profiles;
    /** Exact DIDs to profile. */
    final Map<String, Profile> dids;
    /** DID prefixes to profile, longest first. */
    final List<Map.Entry<String, Profile>> prefixes;
    /** host:port of every resource, to recognise requests that media servers originate. */
    final Set<String> resourceAddresses;
    /** host of every resource, to accept its requests at the SIP edge. */
    final Set<String> resourceHosts;

    private Model(List<Group> groups, Map<String, Resource> resources, Map<String, Tenant> tenants,
                  Map<String, Profile> profiles) {
        this.groups = groups;
        this.resources = resources;
        this.tenants = tenants;
        this.profiles = profiles;
        Map<String, Profile> d = new java.util.HashMap<>();
        List<Map.Entry<String, Profile>> px = new ArrayList<>();
        for (Profile p : profiles.values()) {
            p.dids().forEach(x -> d.put(x, p));
            p.prefixes().forEach(x -> px.add(Map.entry(x, p)));
        }
        px.sort((a, b) -> b.getKey().length() - a.getKey().length());
        this.dids = Map.copyOf(d);
        this.prefixes = List.copyOf(px);
        Set<String> addrs = new java.util.HashSet<>();
        Set<String> hosts = new java.util.HashSet<>();
        for (Resource r : resources.values()) {
            String hp = hostPort(r.uri());
            addrs.add(hp);
            hosts.add(hp.substring(0, hp.lastIndexOf(':')));
        }
        this.resourceAddresses = Set.copyOf(addrs);
        this.resourceHosts = Set.copyOf(hosts);
    }

    static Model empty() {
        return new Model(List.of(), Map.of(), Map.of(), Map.of());
    }

    /** {@code host:port} of a SIP URI (port 5060 when absent). */
    static String hostPort(String uri) {
        String rest = uri.substring(uri.indexOf(':') + 1);
        int at = rest.indexOf('@');
        if (at >= 0) {
            rest = rest.substring(at + 1);
        }
        int end = rest.length();
        for (char c : new char[] {';', '?', '>'}) {
            int i = rest.indexOf(c);
            if (i >= 0 && i < end) {
                end = i;
            }
        }
        rest = rest.substring(0, end);
        int colon = rest.lastIndexOf(':');
        if (colon < 0 || rest.endsWith("]")) {
            return rest + ":5060";
        }
        return rest;
    }

    /** The tenant and its ancestors, nearest first. */
    List<Tenant> tenantPath(String tenant) {
        List<Tenant> path = new ArrayList<>();
        for (Tenant t = tenants.get(tenant); t != null && path.size() <= tenants.size(); t = t.parent() == null ? null : tenants.get(t.parent())) {
            path.add(t);
        }
        return path;
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
        Map<String, ConfigEntry> tenantCfg = new TreeMap<>();
        Map<String, ConfigEntry> profileCfg = new TreeMap<>();
        for (ConfigEntry e : configs.values()) {
            Map<String, ConfigEntry> into = switch (e.factoryPid()) {
                case GROUP_PID -> groupCfg;
                case RESOURCE_PID -> resCfg;
                case TENANT_PID -> tenantCfg;
                case PROFILE_PID -> profileCfg;
                default -> null;
            };
            String unknown = into == null ? null : Schema.unknownKey(e.factoryPid(), e.props());
            if (unknown != null) {
                throw new ConfigException(e.pid(), unknown, "is not a key of " + e.factoryPid() + " (known: "
                        + Schema.known(e.factoryPid()) + ")");
            }
            if (into != null && into.putIfAbsent(e.name(), e) != null) {
                throw new ConfigException(e.pid(), "name", "two " + e.factoryPid() + " configurations are named '" + e.name() + "'");
            }
        }
        Map<String, Tenant> tenants = new LinkedHashMap<>();
        for (ConfigEntry e : tenantCfg.values()) {
            String parent = e.string("parent", null);
            if (parent != null && parent.isEmpty()) {
                parent = null;
            }
            if (parent != null && !tenantCfg.containsKey(parent)) {
                throw new ConfigException(e.pid(), "parent", "names tenant '" + parent + "' that is not configured");
            }
            int limit = e.limit("limit");
            int b2 = e.limit("burst.2");
            int b3 = e.limit("burst.3");
            if ((b2 >= 0 && limit >= 0 && b2 < limit) || (b3 >= 0 && b2 >= 0 && b3 < b2)) {
                throw new ConfigException(e.pid(), "burst.2", "burst levels must not fall: limit " + limit
                        + ", burst.2 " + b2 + ", burst.3 " + b3);
            }
            int code = e.integer("reject.code", 503);
            if (code < 400 || code > 699) {
                throw new ConfigException(e.pid(), "reject.code", "must be a SIP error code (400-699), is " + code);
            }
            tenants.put(e.name(), new Tenant(e.name(), parent, limit, b2, b3, code,
                    e.string("reject.reason", code == 503 ? "Tenant Limit Reached" : "Tenant Limit Reached")));
        }
        for (Tenant t : tenants.values()) {
            Set<String> seen = new TreeSet<>();
            for (Tenant x = t; x != null; x = x.parent() == null ? null : tenants.get(x.parent())) {
                if (!seen.add(x.name())) {
                    throw new ConfigException(tenantCfg.get(t.name()).pid(), "parent", "the tenant tree has a cycle through " + seen);
                }
            }
        }
        Map<String, Profile> profiles = new LinkedHashMap<>();
        Map<String, String> didOwner = new java.util.HashMap<>();
        for (ConfigEntry e : profileCfg.values()) {
            String tenant = e.string("tenant", null);
            if (tenant != null && !tenants.containsKey(tenant)) {
                throw new ConfigException(e.pid(), "tenant", "names tenant '" + tenant + "' that is not configured");
            }
            String service = e.string("service", "voicexml").toLowerCase(java.util.Locale.ROOT);
            if (!SERVICES.contains(service)) {
                throw new ConfigException(e.pid(), "service", "'" + service + "' is not one of " + new TreeSet<>(SERVICES));
            }
            String url = e.string("url", null);
            if ((service.equals("voicexml") || service.equals("announcement") || service.equals("ccxml")) && (url == null || url.isEmpty())) {
                throw new ConfigException(e.pid(), "url", "a " + service + " profile needs the URL of its application or prompt");
            }
            Set<String> dids = new TreeSet<>(e.list("dids"));
            for (String d : dids) {
                String other = didOwner.put(d, e.name());
                if (other != null) {
                    throw new ConfigException(e.pid(), "dids", "DID " + d + " is also claimed by profile " + other);
                }
            }
            Map<String, String> params = new TreeMap<>();
            e.props().forEach((k, v) -> {
                if (k.startsWith("param.") && v != null) {
                    params.put(k.substring(6), v.toString().trim());
                }
            });
            profiles.put(e.name(), new Profile(e.name(), tenant, service, url, dids, e.list("did.prefixes"),
                    e.limit("limit"), params));
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
            String geo = e.string("geo", groupCfg.get(group).string("geo", null));
            Resource r = new Resource(e.name(), group, uri, capacity, e.bool("enabled", true),
                    geo == null || geo.isEmpty() ? null : geo);
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
            List<Resource> rs = new ArrayList<>(members.getOrDefault(e.name(), List.of()));
            rs.sort(Comparator.comparing(Resource::name));
            Set<String> services = new TreeSet<>(e.list("services"));
            for (String sv : services) {
                if (!SERVICES.contains(sv)) {
                    throw new ConfigException(e.pid(), "services", "'" + sv + "' is not one of " + new TreeSet<>(SERVICES));
                }
            }
            groups.add(new Group(e.name(), scheme, maxAttempts, rs, services, new TreeSet<>(e.list("capabilities")),
                    monitor(e)));
        }
        return new Model(Collections.unmodifiableList(groups), Collections.unmodifiableMap(resources),
                Collections.unmodifiableMap(tenants), Collections.unmodifiableMap(profiles));
    }

    /**
     * Checks a whole model given as {@code <factory PID>~<name>} (and {@code org.openrm.routing}) to properties: the
     * one check of {@link org.openrm.api.ModelValidator}. Null when it is valid, else the PID, key and reason.
     */
    static String check(Map<String, Map<String, Object>> configs) {
        Map<String, ConfigEntry> entries = new java.util.HashMap<>();
        try {
            for (Map.Entry<String, Map<String, Object>> c : configs.entrySet()) {
                String key = c.getKey();
                if (org.openrm.api.ModelValidator.ROUTING.equals(key)) {
                    Schema.checkTypes(key, RoutingEngine.Config.class, new ConfigEntry(key, key, key, c.getValue()));
                    continue;
                }
                int tilde = key.indexOf('~');
                if (tilde <= 0 || tilde == key.length() - 1) {
                    return key + ": is not <factory PID>~<name>";
                }
                entries.put(key, new ConfigEntry(key, key.substring(0, tilde), key.substring(tilde + 1), c.getValue()));
            }
            build(entries);
            return null;
        } catch (ConfigException e) {
            return e.getMessage();
        }
    }

    /** The monitor* keys of a resource group, checked. */
    static org.openrm.api.ResourceCatalog.Monitor monitor(ConfigEntry e) throws ConfigException {
        org.openrm.api.ResourceCatalog.Monitor d = org.openrm.api.ResourceCatalog.Monitor.DEFAULT;
        String kind = e.string("monitor", "options").toLowerCase(java.util.Locale.ROOT);
        if (!kind.equals("options") && !kind.equals("none")) {
            throw new ConfigException(e.pid(), "monitor", "'" + kind + "' is not options or none");
        }
        int interval = e.integer("monitor.interval.ms", (int) d.intervalMs());
        if (interval < 100) {
            throw new ConfigException(e.pid(), "monitor.interval.ms", "must be at least 100, is " + interval);
        }
        int timeout = e.integer("monitor.timeout.ms", (int) Math.min(d.timeoutMs(), interval));
        if (timeout < 50 || timeout > interval) {
            throw new ConfigException(e.pid(), "monitor.timeout.ms", "must be between 50 and monitor.interval.ms ("
                    + interval + "), is " + timeout);
        }
        int down = e.integer("monitor.down.after", d.downAfter());
        if (down < 1) {
            throw new ConfigException(e.pid(), "monitor.down.after", "must be at least 1, is " + down);
        }
        int up = e.integer("monitor.up.after", d.upAfter());
        if (up < 1) {
            throw new ConfigException(e.pid(), "monitor.up.after", "must be at least 1, is " + up);
        }
        Set<Integer> codes = new TreeSet<>();
        for (String c : e.list("monitor.codes")) {
            int code;
            try {
                code = Integer.parseInt(c);
            } catch (NumberFormatException x) {
                code = -1;
            }
            if (code < 100 || code > 699) {
                throw new ConfigException(e.pid(), "monitor.codes", "'" + c + "' is not a SIP response code");
            }
            codes.add(code);
        }
        return new org.openrm.api.ResourceCatalog.Monitor(kind.equals("options"), interval, timeout, down, up, Set.copyOf(codes));
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

        /** A limit: absent or empty means no limit (-1); negative is rejected. */
        int limit(String key) throws ConfigException {
            Object v = props.get(key);
            if (v == null || v.toString().isBlank()) {
                return -1;
            }
            int n = integer(key, -1);
            if (n < 0) {
                throw new ConfigException(pid, key, "must not be negative, is " + n);
            }
            return n;
        }

        /** A comma- or space-separated list; empty when absent. */
        List<String> list(String key) {
            Object v = props.get(key);
            if (v == null) {
                return List.of();
            }
            List<String> out = new ArrayList<>();
            for (String x : v.toString().split("[,\\s]+")) {
                if (!x.isBlank()) {
                    out.add(x.trim());
                }
            }
            return out;
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
