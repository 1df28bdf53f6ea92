package org.openrm.routing.internal;

import java.io.IOException;
import java.util.Collections;
import java.util.Dictionary;
import java.util.Enumeration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.ModelValidator;
import org.openrm.api.PolicyLedger;
import org.openrm.api.Registrations;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStates;
import org.openrm.api.RouteResult;
import org.openrm.api.Selection;
import org.openrm.api.Session;
import org.openrm.api.SessionStore;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.cm.ConfigurationEvent;
import org.osgi.service.cm.ConfigurationListener;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses media servers. Stateless apart from the model it rebuilds whole from Configuration Admin on every
 * change of an {@code org.openrm.resource-*} or {@code org.openrm.lrg-*} configuration; port counts live in
 * the {@link ResourceLedger} of the api bundle, so an update of this bundle loses nothing.
 */
@Component(service = {CallRouter.class, ResourceCatalog.class, ConfigurationListener.class, ModelValidator.class},
        configurationPid = "org.openrm.routing")
@Designate(ocd = RoutingEngine.Config.class)
public class RoutingEngine implements CallRouter, ResourceCatalog, ConfigurationListener, ModelValidator {
    private static final Logger LOG = LoggerFactory.getLogger(RoutingEngine.class);

    @ObjectClassDefinition(name = "openrm routing", description = "Service selection and media server choice")
    public @interface Config {
        @AttributeDefinition(description = "Retry-After seconds sent with 503 when no media server can take a call")
        int retry_after_s() default 5;

        @AttributeDefinition(description = "When no org.openrm.resource configuration exists, route to one built-in "
                + "media server (group 'default', sip:127.0.0.1:5070, capacity 100) so a fresh install serves")
        boolean embedded_defaults() default true;

        @AttributeDefinition(description = "IVR profile for calls that no Request-URI parameter, header or DID "
                + "maps to; empty: such calls get 404")
        String default_profile() default "";

        @AttributeDefinition(description = "Response code when X-Genesys-strict-location: enforce finds no media "
                + "server in the requested location")
        int geo_reject_code() default 480;

        @AttributeDefinition(description = "Resource group a REGISTERing media server joins when its Contact has no lrg parameter")
        String registrar_default_lrg() default "default";

        @AttributeDefinition(description = "Ports of a REGISTERed media server whose Contact has no capacity parameter")
        int registrar_capacity() default 100;

        @AttributeDefinition(description = "Upper bound on REGISTERed media servers")
        int registrar_max_bindings() default 10000;
    }

    static final String GEO_HEADER = "X-Genesys-geo-location";
    static final String STRICT_HEADER = "X-Genesys-strict-location";
    static final String CAPABILITY_PARAM = "gvp.rm.resource-req";

    /** Live sessions, to find the media server hosting a conference; optional. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile SessionStore sessions;

    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    /** Health of media servers, written by the health bundle (all in service when it is not installed). */
    private final ResourceStates states;
    private final java.util.concurrent.atomic.AtomicLong version = new java.util.concurrent.atomic.AtomicLong();
    private final ConfigurationAdmin configAdmin;
    private volatile Config config;
    private volatile Model model = Model.empty();
    private final Object reloadLock = new Object();
    /** Configurations last read, so a REGISTER can rebuild the model without re-reading them. */
    private Map<String, Model.ConfigEntry> lastEntries = Map.of();
    /** The configurations of the model in force (not those of a rejected one), for {@link #running()}. */
    private Map<String, Model.ConfigEntry> inForce = Map.of();
    /** REGISTERed media servers by resource name, kept in the api bundle across updates of this one. */
    private final Registrations bindings;
    private final java.util.concurrent.ScheduledExecutorService expiry;

    @Activate
    public RoutingEngine(@Reference ResourceLedger ledger, @Reference PolicyLedger policy, @Reference ResourceStates states,
                         @Reference Registrations bindings, @Reference ConfigurationAdmin configAdmin, Config config) {
        this(ledger, policy, states, bindings, configAdmin, config,
                java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "openrm-routing-registrar");
                    t.setDaemon(true);
                    return t;
                }));
        expiry.scheduleWithFixedDelay(this::expireBindings, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        reload();
    }

    private RoutingEngine(ResourceLedger ledger, PolicyLedger policy, ResourceStates states, Registrations bindings,
                          ConfigurationAdmin configAdmin, Config config, java.util.concurrent.ScheduledExecutorService expiry) {
        this.ledger = ledger;
        this.states = states;
        this.policy = policy;
        this.bindings = bindings;
        this.configAdmin = configAdmin;
        this.config = config;
        this.expiry = expiry;
    }

    @org.osgi.service.component.annotations.Deactivate
    public void deactivate() {
        if (expiry != null) {
            expiry.shutdownNow();
        }
    }

    /** DID of the warm-up's scratch profile ({@link #scratch}): the user part of its calls' Request-URI. */
    static final String WARMUP_DID = "warm";

    /**
     * An engine of this class on a model of its own (tenant, IVR profile, resource group and resource all named
     * {@code warm-up}, the resource at {@code targetUri}) and on the scratch ledgers given: the warm-up's calls run
     * service selection, tenant admission, the scheme and the Request-URI rewrite by this code, touching nothing of
     * this node. It has no configuration source, no registrar, no health (its resource is always in service).
     */
    @Override
    public CallRouter scratch(String targetUri, ResourceLedger scratchLedger, PolicyLedger scratchPolicy) {
        Map<String, Model.ConfigEntry> entries = new HashMap<>();
        entries.put("warm-up-lrg", new Model.ConfigEntry("warm-up-lrg", Model.GROUP_PID, "warm-up", Map.of("max.attempts", 1)));
        entries.put("warm-up-resource", new Model.ConfigEntry("warm-up-resource", Model.RESOURCE_PID, "warm-up",
                Map.of("lrg", "warm-up", "uri", targetUri, "capacity", 1_000_000)));
        entries.put("warm-up-tenant", new Model.ConfigEntry("warm-up-tenant", Model.TENANT_PID, "warm-up",
                Map.of("limit", 1_000_000)));
        entries.put("warm-up-profile", new Model.ConfigEntry("warm-up-profile", Model.PROFILE_PID, "warm-up",
                Map.of("tenant", "warm-up", "service", "voicexml", "url", "http://127.0.0.1/openrm-warm-up.vxml",
                        "dids", WARMUP_DID)));
        RoutingEngine e = new RoutingEngine(scratchLedger, scratchPolicy, new ScratchStates(), bindings, null, config, null);
        try {
            e.model = Model.build(entries);
        } catch (Model.ConfigException x) {
            LOG.warn("No scratch router for the warm-up towards {}: {}", targetUri, x.getMessage());
            return null;
        }
        return e;
    }

    /** The scratch engine's health: every resource in service, nothing recorded. */
    private static final class ScratchStates implements ResourceStates {
        @Override
        public org.openrm.api.ResourceStatus get(String resource) {
            return null;
        }

        @Override
        public Change update(String resource, java.util.function.UnaryOperator<org.openrm.api.ResourceStatus> change) {
            throw new UnsupportedOperationException("the warm-up's scratch router records no health");
        }

        @Override
        public Map<String, org.openrm.api.ResourceStatus> snapshot() {
            return Map.of();
        }

        @Override
        public void retain(Set<String> names) {
        }
    }

    void expireBindings() {
        Map<String, Registrations.Binding> gone = bindings.expire(System.currentTimeMillis());
        gone.forEach((k, v) -> LOG.info("Registration of media server {} ({}) expired", k, v.uri()));
        if (!gone.isEmpty()) {
            synchronized (reloadLock) {
                apply(lastEntries);
            }
        }
    }

    @Override
    public String register(String contactUri, String group, int capacity, int expiresS) {
        String g = group == null || group.isEmpty() ? config.registrar_default_lrg() : group;
        if (model.groups.stream().noneMatch(x -> x.name.equals(g))) {
            return null;
        }
        String name = "reg-" + Model.hostPort(contactUri);
        synchronized (reloadLock) {
            if (expiresS <= 0) {
                if (bindings.remove(name) != null) {
                    LOG.info("Media server {} unregistered", name);
                }
            } else {
                Map<String, Registrations.Binding> all = bindings.all();
                if (!all.containsKey(name) && all.size() >= config.registrar_max_bindings()) {
                    LOG.warn("REGISTER of {} refused: registrar.max.bindings {} reached", contactUri, config.registrar_max_bindings());
                    return null;
                }
                Registrations.Binding old = bindings.put(name, new Registrations.Binding(contactUri, g,
                        capacity >= 0 ? capacity : config.registrar_capacity(), System.currentTimeMillis() + expiresS * 1000L));
                if (old == null) {
                    LOG.info("Media server {} registered at {} in group {} for {} s", name, contactUri, g, expiresS);
                }
            }
            apply(lastEntries);
        }
        return name;
    }

    @Modified
    void modified(Config config) {
        this.config = config;
        reload();
    }

    @Override
    public void configurationEvent(ConfigurationEvent event) {
        String f = event.getFactoryPid();
        if (Model.RESOURCE_PID.equals(f) || Model.GROUP_PID.equals(f) || Model.TENANT_PID.equals(f)
                || Model.PROFILE_PID.equals(f) || SYNC_MARKER_PID.equals(event.getPid())) {
            requestReload();
        }
    }

    /** A reload is queued: events that arrive before it runs (a change of 10,000 configurations) share it. */
    private final java.util.concurrent.atomic.AtomicBoolean reloadQueued = new java.util.concurrent.atomic.AtomicBoolean();

    private void requestReload() {
        if (reloadQueued.compareAndSet(false, true)) {
            try {
                expiry.execute(() -> {
                    reloadQueued.set(false);
                    reload();
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                reloadQueued.set(false); // deactivated
            }
        }
    }

    @Override
    public String problem(Map<String, Map<String, Object>> configs) {
        return Model.check(configs);
    }

    @Override
    public Map<String, Map<String, Object>> running() {
        Map<String, Map<String, Object>> out = new java.util.TreeMap<>();
        synchronized (reloadLock) {
            inForce.values().forEach(e -> out.put(e.factoryPid() + "~" + e.name(), e.props()));
        }
        return out;
    }

    /**
     * Rebuilds the model from Configuration Admin; on a bad configuration keeps the last good model. While config
     * sync owns the model ({@link ModelValidator#SYNC_MARKER_PID} exists) only its configurations count, and a
     * change it is still writing is not read half-way.
     */
    void reload() {
        synchronized (reloadLock) {
            Map<String, Model.ConfigEntry> entries = new HashMap<>();
            try {
                boolean synced = false;
                Configuration[] marker = configAdmin.listConfigurations("(service.pid=" + SYNC_MARKER_PID + ")");
                if (marker != null && marker.length == 1 && SYNC_MARKER_PID.equals(marker[0].getPid())
                        && marker[0].getProperties() != null) {
                    Object state = marker[0].getProperties().get("state");
                    if ("applying".equals(state)) {
                        LOG.debug("Config sync is writing a change; the routing model is rebuilt once it is complete");
                        return;
                    }
                    synced = true;
                }
                Configuration[] cs = configAdmin.listConfigurations("(|(service.factoryPid=" + Model.RESOURCE_PID
                        + ")(service.factoryPid=" + Model.GROUP_PID + ")(service.factoryPid=" + Model.TENANT_PID
                        + ")(service.factoryPid=" + Model.PROFILE_PID + "))");
                if (cs != null) {
                    for (Configuration c : cs) {
                        Dictionary<String, Object> d = c.getProperties();
                        if (d == null) {
                            continue;
                        }
                        Map<String, Object> props = toMap(d);
                        if (synced != "etcd".equals(props.get(SOURCE_KEY))) {
                            continue; // an etc/ file while config sync owns the model, or a leftover of sync
                        }
                        String name = Model.ConfigEntry.nameOf(c.getPid(), c.getFactoryPid(), props);
                        entries.put(c.getPid(), new Model.ConfigEntry(c.getPid(), c.getFactoryPid(), name, props));
                    }
                }
            } catch (IOException | InvalidSyntaxException e) {
                LOG.error("Cannot read routing configuration; keeping the last good model", e);
                return;
            }
            apply(entries);
        }
    }

    /** Applies configurations (visible for tests), with the registered media servers added. */
    void apply(Map<String, Model.ConfigEntry> entries) {
        lastEntries = entries;
        Map<String, Registrations.Binding> registered = bindings.all();
        if (!registered.isEmpty()) {
            entries = new HashMap<>(entries);
            for (Map.Entry<String, Registrations.Binding> b : registered.entrySet()) {
                entries.put("registered:" + b.getKey(), new Model.ConfigEntry("registered:" + b.getKey(), Model.RESOURCE_PID,
                        b.getKey(), Map.of("lrg", b.getValue().group(), "uri", b.getValue().uri(), "capacity", b.getValue().capacity())));
            }
        }
        if (config.embedded_defaults()
                && entries.values().stream().noneMatch(e -> Model.RESOURCE_PID.equals(e.factoryPid()))) {
            entries = new HashMap<>(entries);
            if (entries.values().stream().noneMatch(e -> "default".equals(e.name()))) {
                entries.put("embedded-lrg", new Model.ConfigEntry("embedded-lrg", Model.GROUP_PID, "default", Map.of()));
            }
            entries.put("embedded-resource", new Model.ConfigEntry("embedded-resource", Model.RESOURCE_PID, "mcp1",
                    Map.of("lrg", "default", "uri", "sip:127.0.0.1:5070", "capacity", 100)));
            LOG.info("No org.openrm.resource configuration: using the embedded media server sip:127.0.0.1:5070");
        }
        try {
            Model m = Model.build(entries);
            model = m;
            inForce = lastEntries;
            version.incrementAndGet();
            LOG.info("Routing model applied: {} resource groups, {} resources, {} tenants, {} IVR profiles",
                    m.groups.size(), m.resources.size(), m.tenants.size(), m.profiles.size());
        } catch (Model.ConfigException e) {
            LOG.error("Configuration rejected, the last good routing model stays in force: {}", e.getMessage());
        }
    }

    private static Map<String, Object> toMap(Dictionary<String, Object> d) {
        Map<String, Object> m = new HashMap<>();
        for (Enumeration<String> k = d.keys(); k.hasMoreElements(); ) {
            String key = k.nextElement();
            m.put(key, d.get(key));
        }
        return m;
    }

    @Override
    public RouteResult route(CallRequest request) {
        Model m = model;
        if (m.profiles.isEmpty()) {
            return select(m, null, null, request, Collections.emptySet());
        }
        ServiceSelection.Result r = ServiceSelection.select(m, request, config.default_profile());
        if (r.profile() == null) {
            LOG.debug("Call {}: {}", request.callId(), r.problem());
            return new RouteResult.Rejection(404, "Not Found", 0, RouteResult.Rejection.Cause.NO_PROFILE);
        }
        Model.Profile p = r.profile();
        List<Model.Tenant> path = m.tenantPath(p.tenant());
        List<String> keys = new ArrayList<>(path.size() + 1);
        int[] limits = new int[path.size() + 1];
        keys.add("profile:" + p.name());
        limits[0] = p.limit();
        for (int i = 0; i < path.size(); i++) {
            keys.add("tenant:" + path.get(i).name());
            limits[i + 1] = path.get(i).hardLimit();
        }
        int[] rejectedAt = new int[1];
        int[] counts = policy.admit(keys, limits, rejectedAt);
        if (counts == null) {
            // the CDR still names the profile and tenants, with their usage now; the call holds no count
            Selection mapped = selection(p, path, i -> policy.count(keys.get(i + 1)), List.of(), null);
            if (rejectedAt[0] == 0) {
                LOG.debug("Call {}: profile {} at its limit {}", request.callId(), p.name(), p.limit());
                return new RouteResult.Rejection(503, "Profile Limit Reached", config.retry_after_s(), mapped, RouteResult.Rejection.Cause.POLICY_LIMIT);
            }
            Model.Tenant t = path.get(rejectedAt[0] - 1);
            LOG.debug("Call {}: tenant {} at its limit {}", request.callId(), t.name(), t.hardLimit());
            return new RouteResult.Rejection(t.rejectCode(), t.rejectReason(), t.rejectCode() == 503 ? config.retry_after_s() : 0,
                    mapped, RouteResult.Rejection.Cause.POLICY_LIMIT);
        }
        String conference = "conference".equals(p.service())
                ? (request.dialled().isEmpty() ? request.callId() : request.dialled()) : null;
        Selection sel = selection(p, path, i -> counts[i + 1], keys, conference);
        RouteResult res = select(m, p, sel, request, Collections.emptySet());
        if (res instanceof RouteResult.Rejection rej) {
            policy.release(keys);
            return new RouteResult.Rejection(rej.code(), rej.reason(), rej.retryAfterS(), sel.withoutPolicyKeys(), rej.cause());
        }
        return res;
    }

    /** The profile and its tenant path, each tenant with its usage ({@code usage} by index in the path). */
    private static Selection selection(Model.Profile p, List<Model.Tenant> path, java.util.function.IntUnaryOperator usage,
                                       List<String> keys, String conference) {
        List<String> names = new ArrayList<>(path.size());
        List<Integer> used = new ArrayList<>(path.size());
        List<Integer> levels = new ArrayList<>(path.size());
        for (int i = 0; i < path.size(); i++) {
            int n = usage.applyAsInt(i);
            names.add(path.get(i).name());
            used.add(n);
            levels.add(path.get(i).burstLevel(n));
        }
        return new Selection(p.name(), p.service(), names, used, levels, keys, conference);
    }

    @Override
    public RouteResult failover(CallRequest request, Selection selection, String failed, Set<String> tried, int attempt) {
        Model m = model;
        Model.Profile p = selection == null ? null : m.profiles.get(selection.profile());
        if (selection != null && p == null) {
            return new RouteResult.Rejection(503, "Profile Removed", config.retry_after_s(), RouteResult.Rejection.Cause.OTHER);
        }
        return select(m, p, selection, request, tried);
    }

    private RouteResult select(Model m, Model.Profile p, Selection sel, CallRequest request, Set<String> exclude) {
        long now = System.currentTimeMillis();
        String service = p == null ? null : p.service();
        String geo = trimmed(request.header(GEO_HEADER));
        boolean strict = "enforce".equalsIgnoreCase(trimmed(request.header(STRICT_HEADER)));
        String capParam = ServiceSelection.uriParameter(request.requestUri(), CAPABILITY_PARAM);
        Set<String> caps = capParam == null ? Set.of() : Set.of(capParam.split("[,\\s]+"));
        if (sel != null && sel.conference() != null) {
            RouteResult.Target t = conferenceHost(m, p, sel, request, exclude, now);
            if (t != null) {
                return t;
            }
        }
        RouteResult.Target t = null;
        // a suspect media server only when no server in service is left, in any location allowed
        for (int pass = 0; pass < 2 && t == null; pass++) {
            boolean suspectOk = pass == 1;
            t = selectIn(m, p, sel, request, exclude, now, service, caps, geo, suspectOk);
            if (t == null && geo != null && !strict) {
                t = selectIn(m, p, sel, request, exclude, now, service, caps, null, suspectOk);
            }
        }
        if (t != null) {
            return t;
        }
        if (geo != null && strict) {
            return new RouteResult.Rejection(config.geo_reject_code(), "No Media Server In " + geo, 0, RouteResult.Rejection.Cause.NO_MEDIA_SERVER_IN_LOCATION);
        }
        return new RouteResult.Rejection(503, "No Media Server Available", config.retry_after_s(), RouteResult.Rejection.Cause.NO_MEDIA_SERVER);
    }

    private RouteResult.Target selectIn(Model m, Model.Profile p, Selection sel, CallRequest request, Set<String> exclude,
                                        long now, String service, Set<String> caps, String geo, boolean suspectOk) {
        for (Model.Group g : m.groups) {
            if (!g.offers(service) || !g.capabilities.containsAll(caps)) {
                continue;
            }
            Model.Resource r = pick(g, exclude, now, geo, suspectOk);
            if (r != null) {
                return target(g, r, p, sel, request);
            }
        }
        return null;
    }

    private static RouteResult.Target target(Model.Group g, Model.Resource r, Model.Profile p, Selection sel, CallRequest request) {
        String conf = sel != null && sel.conference() != null ? sel.conference() : request.dialled();
        String ruri = p == null ? null : RequestUris.build(r.uri(), p, conf.isEmpty() ? request.callId() : conf);
        return new RouteResult.Target(r.name(), g.name, r.uri(), g.maxAttempts, ruri, sel);
    }

    /** The media server already hosting this conference, with one more port reserved on it, or null. */
    private RouteResult.Target conferenceHost(Model m, Model.Profile p, Selection sel, CallRequest request,
                                              Set<String> exclude, long now) {
        SessionStore store = sessions;
        if (store == null) {
            return null;
        }
        for (Session s : store.sessions()) {
            Selection other = s.selection();
            String host = s.resource();
            if (other != null && sel.conference().equals(other.conference()) && host != null) {
                Model.Resource r = m.resources.get(host);
                ResourceState st = r == null ? null : states.state(r.name());
                // a drained host keeps its conference together; a down or quarantined one does not
                boolean usable = st == ResourceState.IN_SERVICE || st == ResourceState.SUSPECT
                        || st == ResourceState.OUT_OF_SERVICE;
                if (r == null || !usable || !r.enabled() || exclude.contains(r.name())
                        || ledger.quarantinedUntil(r.name()) > now || !ledger.tryAcquire(r.name(), r.capacity())) {
                    return null; // the host cannot take this leg: a new host is chosen
                }
                for (Model.Group g : m.groups) {
                    if (g.name.equals(r.group())) {
                        return target(g, r, p, sel, request);
                    }
                }
                ledger.release(r.name());
                return null;
            }
        }
        return null;
    }

    private static String trimmed(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    private boolean eligible(Model.Resource r, Set<String> exclude, long now, String geo, boolean suspectOk) {
        if (!r.enabled() || exclude.contains(r.name()) || ledger.quarantinedUntil(r.name()) > now
                || (geo != null && !geo.equals(r.geo()))) {
            return false;
        }
        ResourceState st = states.state(r.name());
        return st == ResourceState.IN_SERVICE || (suspectOk && st == ResourceState.SUSPECT);
    }

    /** Picks and reserves a port on a resource of {@code g}, or returns null. */
    Model.Resource pick(Model.Group g, Set<String> exclude, long now, String geo, boolean suspectOk) {
        int n = g.resources.size();
        if (n == 0) {
            return null;
        }
        if (g.scheme == Model.Scheme.ROUND_ROBIN) {
            int start = Math.floorMod(g.cursor.getAndIncrement(), n);
            for (int i = 0; i < n; i++) {
                Model.Resource r = g.resources.get((start + i) % n);
                if (eligible(r, exclude, now, geo, suspectOk) && ledger.tryAcquire(r.name(), r.capacity())) {
                    return r;
                }
            }
            return null;
        }
        // least-used / least-percent: best first; a lost race for the last port moves on to the next best
        boolean[] skip = new boolean[n];
        for (int round = 0; round < n; round++) {
            int best = -1;
            double bestScore = Double.MAX_VALUE;
            int offset = Math.floorMod(g.cursor.getAndIncrement(), n); // spreads ties
            for (int j = 0; j < n; j++) {
                int i = (offset + j) % n;
                Model.Resource r = g.resources.get(i);
                if (skip[i] || !eligible(r, exclude, now, geo, suspectOk) || r.capacity() == 0) {
                    continue;
                }
                int used = ledger.inUse(r.name());
                if (used >= r.capacity()) {
                    continue;
                }
                double score = g.scheme == Model.Scheme.LEAST_USED ? used : (double) used / r.capacity();
                if (score < bestScore) {
                    bestScore = score;
                    best = i;
                }
            }
            if (best < 0) {
                return null;
            }
            Model.Resource r = g.resources.get(best);
            if (ledger.tryAcquire(r.name(), r.capacity())) {
                return r;
            }
            skip[best] = true;
        }
        return null;
    }

    @Override
    public boolean isMediaServerHost(String host) {
        return model.resourceHosts.contains(host);
    }

    @Override
    public boolean isMediaServer(String host, int port) {
        return model.resourceAddresses.contains(host + ":" + port);
    }

    @Override
    public void quarantine(String resource, long millis, String why) {
        long until = System.currentTimeMillis() + millis;
        if (ledger.quarantinedUntil(resource) < until) {
            ledger.quarantineUntil(resource, until);
            LOG.info("Resource {} quarantined for {} ms: {}", resource, millis, why);
        }
    }

    @Override
    public long version() {
        return version.get();
    }

    @Override
    public List<ResourceCatalog.Entry> resources() {
        Model m = model;
        Set<String> registered = bindings.all().keySet();
        List<ResourceCatalog.Entry> out = new ArrayList<>(m.resources.size());
        for (Model.Group g : m.groups) {
            for (Model.Resource r : g.resources) {
                out.add(new ResourceCatalog.Entry(r.name(), g.name, r.uri(), r.capacity(), r.enabled(),
                        registered.contains(r.name()), g.monitor));
            }
        }
        return out;
    }

    @Override
    public List<ResourceCatalog.Limit> limits() {
        Model m = model;
        List<ResourceCatalog.Limit> out = new ArrayList<>(m.tenants.size() + m.profiles.size());
        for (Model.Tenant t : m.tenants.values()) {
            out.add(new ResourceCatalog.Limit("tenant:" + t.name(), "tenant", t.name(), t.limit(), t.burst2(), t.burst3()));
        }
        for (Model.Profile p : m.profiles.values()) {
            out.add(new ResourceCatalog.Limit("profile:" + p.name(), "profile", p.name(), p.limit(), -1, -1));
        }
        return out;
    }

    /** Media server health (for the console). */
    public ResourceStates states() {
        return states;
    }

    /** The model in force (for console and tests). */
    public Model model() {
        return model;
    }

    /** The resource ledger (for the console). */
    public ResourceLedger ledger() {
        return ledger;
    }

    /** The policy ledger (for the console). */
    public PolicyLedger policy() {
        return policy;
    }
}
