package org.openrm.routing.internal;

import java.io.IOException;
import java.util.Collections;
import java.util.Dictionary;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.ResourceLedger;
import org.openrm.api.RouteResult;
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
    }

    private final ResourceLedger ledger;
    private final ConfigurationAdmin configAdmin;
    private volatile Config config;
    private volatile Model model = Model.empty();
    private final Object reloadLock = new Object();

    @Activate
    public RoutingEngine(@Reference ResourceLedger ledger, @Reference ConfigurationAdmin configAdmin, Config config) {
        this.ledger = ledger;
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
        if (Model.RESOURCE_PID.equals(f) || Model.GROUP_PID.equals(f)) {
            reload();
        }
    }

    /** Rebuilds the model from Configuration Admin; on a bad configuration keeps the last good model. */
    void reload() {
        synchronized (reloadLock) {
            Map<String, Model.ConfigEntry> entries = new HashMap<>();
            try {
                Configuration[] cs = configAdmin.listConfigurations("(|(service.factoryPid=" + Model.RESOURCE_PID
                        + ")(service.factoryPid=" + Model.GROUP_PID + "))");
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
            LOG.info("Routing model applied: {} resource groups, {} resources", m.groups.size(), m.resources.size());
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
        return select(Collections.emptySet());
    }

    @Override
    public RouteResult failover(CallRequest request, String failed, Set<String> tried, int attempt) {
        return select(tried);
    }

    private RouteResult select(Set<String> exclude) {
        Model m = model;
        long now = System.currentTimeMillis();
        for (Model.Group g : m.groups) {
            Model.Resource r = pick(g, exclude, now);
            if (r != null) {
                return new RouteResult.Target(r.name(), g.name, r.uri(), g.maxAttempts);
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
