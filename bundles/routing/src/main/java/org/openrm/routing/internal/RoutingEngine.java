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
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.RouteResult;
import org.openrm.api.Selection;
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
@Component(service = {CallRouter.class, ConfigurationListener.class}, configurationPid = "org.openrm.routing")
@Designate(ocd = RoutingEngine.Config.class)
public class RoutingEngine implements CallRouter, ConfigurationListener {
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
    }

    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final ConfigurationAdmin configAdmin;
    private volatile Config config;
    private volatile Model model = Model.empty();
    private final Object reloadLock = new Object();

    @Activate
    public RoutingEngine(@Reference ResourceLedger ledger, @Reference PolicyLedger policy,
                         @Reference ConfigurationAdmin configAdmin, Config config) {
        this.ledger = ledger;
        this.policy = policy;
        this.configAdmin = configAdmin;
        this.config = config;
        reload();
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
                || Model.PROFILE_PID.equals(f)) {
            reload();
        }
    }

    /** Rebuilds the model from Configuration Admin; on a bad configuration keeps the last good model. */
    void reload() {
        synchronized (reloadLock) {
            Map<String, Model.ConfigEntry> entries = new HashMap<>();
            try {
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

    /** Applies configurations (visible for tests). */
    void apply(Map<String, Model.ConfigEntry> entries) {
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
            return new RouteResult.Rejection(404, "Not Found", 0);
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
            if (rejectedAt[0] == 0) {
                LOG.debug("Call {}: profile {} at its limit {}", request.callId(), p.name(), p.limit());
                return new RouteResult.Rejection(503, "Profile Limit Reached", config.retry_after_s());
            }
            Model.Tenant t = path.get(rejectedAt[0] - 1);
            LOG.debug("Call {}: tenant {} at its limit {}", request.callId(), t.name(), t.hardLimit());
            return new RouteResult.Rejection(t.rejectCode(), t.rejectReason(), t.rejectCode() == 503 ? config.retry_after_s() : 0);
        }
        List<String> names = new ArrayList<>(path.size());
        List<Integer> usage = new ArrayList<>(path.size());
        List<Integer> levels = new ArrayList<>(path.size());
        for (int i = 0; i < path.size(); i++) {
            names.add(path.get(i).name());
            usage.add(counts[i + 1]);
            levels.add(path.get(i).burstLevel(counts[i + 1]));
        }
        Selection sel = new Selection(p.name(), p.service(), names, usage, levels, keys);
        RouteResult res = select(m, p, sel, request, Collections.emptySet());
        if (!(res instanceof RouteResult.Target)) {
            policy.release(keys);
        }
        return res;
    }

    @Override
    public RouteResult failover(CallRequest request, Selection selection, String failed, Set<String> tried, int attempt) {
        Model m = model;
        Model.Profile p = selection == null ? null : m.profiles.get(selection.profile());
        if (selection != null && p == null) {
            return new RouteResult.Rejection(503, "Profile Removed", config.retry_after_s());
        }
        return select(m, p, selection, request, tried);
    }

    private RouteResult select(Model m, Model.Profile p, Selection sel, CallRequest request, Set<String> exclude) {
        long now = System.currentTimeMillis();
        for (Model.Group g : m.groups) {
            if (!g.offers(p == null ? null : p.service())) {
                continue;
            }
            Model.Resource r = pick(g, exclude, now);
            if (r != null) {
                String ruri = p == null ? null : RequestUris.build(r.uri(), p, request.dialled().isEmpty() ? request.callId() : request.dialled());
                return new RouteResult.Target(r.name(), g.name, r.uri(), g.maxAttempts, ruri, sel);
            }
        }
        return new RouteResult.Rejection(503, "No Media Server Available", config.retry_after_s());
    }

    private boolean eligible(Model.Resource r, Set<String> exclude, long now) {
        return r.enabled() && !exclude.contains(r.name()) && ledger.quarantinedUntil(r.name()) <= now;
    }

    /** Picks and reserves a port on a resource of {@code g}, or returns null. */
    Model.Resource pick(Model.Group g, Set<String> exclude, long now) {
        int n = g.resources.size();
        if (n == 0) {
            return null;
        }
        if (g.scheme == Model.Scheme.ROUND_ROBIN) {
            int start = Math.floorMod(g.cursor.getAndIncrement(), n);
            for (int i = 0; i < n; i++) {
                Model.Resource r = g.resources.get((start + i) % n);
                if (eligible(r, exclude, now) && ledger.tryAcquire(r.name(), r.capacity())) {
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
                if (skip[i] || !eligible(r, exclude, now) || r.capacity() == 0) {
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

    /** The model in force (for console and tests). */
    Model model() {
        return model;
    }
}
