package org.openrm.configsync.internal;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.openrm.api.ModelValidator;
import org.openrm.api.ReadinessCondition;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.AttributeType;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Config sync (connection 4): reads the whole model under the prefix from etcd in one range read, checks it with
 * routing's {@link ModelValidator}, writes it into Configuration Admin, then follows the watch from that revision.
 * A model that does not pass is refused whole and the last good one stays in force. The last good model is cached
 * in the bundle's data area, so a node starts while etcd is away. No call waits on any of this.
 */
@Component(service = {ConfigSync.class, ReadinessCondition.class}, configurationPid = "org.openrm.configsync", immediate = true)
@Designate(ocd = ConfigSync.Config.class)
public class ConfigSync implements ReadinessCondition {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigSync.class);

    @ObjectClassDefinition(name = "openrm config sync", description = "The model from etcd (v3 JSON API), followed live")
    public @interface Config {
        @AttributeDefinition(required = false, description = "etcd endpoints, comma-separated (http://127.0.0.1:8888); empty: off, etc/ files rule")
        String endpoints() default "";

        @AttributeDefinition(required = false, description = "Cluster name, part of the default prefix")
        String cluster() default "default";

        @AttributeDefinition(required = false, description = "Key prefix of the model (default /openrm/<cluster>/)")
        String prefix() default "";

        @AttributeDefinition(required = false, description = "This node's id in <prefix>nodes/ (default: the host name)")
        String node_id() default "";

        @AttributeDefinition(required = false, description = "etcd user (empty: no authentication)")
        String username() default "";

        @AttributeDefinition(required = false, type = AttributeType.PASSWORD, description = "etcd password (never logged)")
        String password() default "";

        @AttributeDefinition(required = false, description = "File holding the etcd password (instead of password, so that "
                + "config:list never shows it); read at each start")
        String password_file() default "";

        @AttributeDefinition(required = false, description = "PEM file of the CA that signed etcd's certificate (https endpoints)")
        String ca_file() default "";

        @AttributeDefinition(required = false, description = "PEM client certificate for etcd (mutual TLS)")
        String cert_file() default "";

        @AttributeDefinition(required = false, description = "PEM PKCS#8 private key of the client certificate")
        String key_file() default "";

        @AttributeDefinition(required = false, description = "Timeout of one request to etcd, ms")
        int timeout_ms() default 3000;

        @AttributeDefinition(required = false, description = "TTL of the node entry's lease, s")
        int lease_ttl_s() default 10;

        @AttributeDefinition(required = false, description = "Longest pause between retries when etcd is away, ms")
        int backoff_max_ms() default 5000;
    }

    private final ConfigurationAdmin cm;
    private final ModelWriter writer;
    private final File cache;
    private final String version;
    private final Config config;
    private final String prefix;
    private final String nodeId;
    private final Etcd etcd;
    private volatile boolean running = true;
    private Thread thread;
    private NodeEntry node;
    private volatile Etcd.Watch watch;

    /** Routing's schema; absent while routing is being updated (a change then waits for it). */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile ModelValidator validator;

    // what sync holds: touched by the sync thread only, read by the console
    private final Map<String, String> view = new HashMap<>();
    private long revision;
    /** The revision for the console (revision is the sync thread's own). */
    private volatile long revisionSeen;
    private volatile boolean loaded;
    private final Map<String, String> status = new LinkedHashMap<>();

    @Activate
    public ConfigSync(@Reference ConfigurationAdmin cm, BundleContext ctx, Config config) throws IOException {
        this.cm = cm;
        this.writer = new ModelWriter(cm);
        this.cache = ctx == null ? null : ctx.getDataFile("model.json");
        this.version = ctx == null ? "test" : ctx.getBundle().getVersion().toString();
        this.config = config;
        String p = config.prefix().isBlank() ? "/openrm/" + config.cluster().trim() + "/" : config.prefix().trim();
        this.prefix = p.endsWith("/") ? p : p + "/";
        this.nodeId = config.node_id().isBlank() ? hostName() : config.node_id().trim();
        List<URI> eps = new ArrayList<>();
        for (String e : config.endpoints().split("[,\\s]+")) {
            if (!e.isBlank()) {
                String u = e.trim();
                eps.add(URI.create(u.endsWith("/") ? u : u + "/"));
            }
        }
        status("prefix", prefix);
        status("node", nodeId);
        if (eps.isEmpty()) {
            etcd = null;
            status("state", "off (no endpoints): the model comes from etc/ files");
            int released = writer.release();
            if (released > 0) {
                LOG.info("Config sync off: {} configurations written from etcd removed; etc/ files rule the model again", released);
            }
            return;
        }
        etcd = new Etcd(eps, config.username(), password(config),
                Tls.context(config.ca_file(), config.cert_file(), config.key_file()), Duration.ofMillis(config.timeout_ms()));
        status("state", "connecting");
        LOG.info("Config sync: following {} on {} as node {}{}", prefix, eps, nodeId,
                config.username().isEmpty() ? "" : " (user " + config.username() + ")");
        thread = new Thread(this::run, "openrm-configsync");
        thread.setDaemon(true);
        thread.start();
        node = new NodeEntry(etcd, prefix, nodeId, this::nodeJson, Math.max(2, config.lease_ttl_s()), this::endpointFailed,
                s -> status("lease", s));
        node.start();
    }

    @Deactivate
    void deactivate() {
        running = false;
        Etcd.Watch w = watch;
        if (w != null) {
            w.close();
        }
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (node != null) {
            node.stop(true);
        }
    }

    /** The password from {@code password.file} when set, else {@code password}. */
    private static String password(Config config) throws IOException {
        if (config.password_file().isBlank()) {
            return config.password();
        }
        try {
            return Files.readString(java.nio.file.Path.of(config.password_file().trim())).trim();
        } catch (IOException e) {
            throw new IOException("org.openrm.configsync: password.file " + config.password_file() + " cannot be read: "
                    + e.getClass().getSimpleName());
        }
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "openrm";
        }
    }

    private synchronized void status(String key, String value) {
        status.put(key, value);
    }

    /** For {@code rm:config-status}: endpoint in use, revision, last change applied, last refusal, lease. */
    public synchronized Map<String, String> status() {
        Map<String, String> m = new LinkedHashMap<>(status);
        if (etcd != null) {
            m.put("endpoint", etcd.endpoint().toString());
            m.put("revision", Long.toString(revisionSeen));
        }
        return m;
    }

    @Override
    public String name() {
        return "config";
    }

    @Override
    public String failing() {
        return etcd == null || loaded ? null : "no model from the config server yet (unreachable, and no cached model)";
    }

    /** The heartbeat of the node entry failed on the endpoint in use: drop the watch, which reconnects elsewhere. */
    private void endpointFailed() {
        Etcd.Watch w = watch;
        if (w != null) {
            etcd.rotate(w.endpoint);
            w.close();
        }
    }

    private void run() {
        long backoff = 100;
        boolean full = true;
        String lastError = null;
        while (running) {
            try {
                if (full) {
                    Etcd.Range r = etcd.range(prefix);
                    view.clear();
                    for (Etcd.Kv kv : r.kvs()) {
                        String rel = kv.key().substring(prefix.length());
                        if (!rel.startsWith(Layout.NODES)) {
                            view.put(rel, kv.value());
                        }
                    }
                    revision = r.revision();
                    revisionSeen = revision;
                    full = false;
                    apply("read of " + view.size() + " keys");
                }
                try (Etcd.Watch w = etcd.watch(prefix, revision + 1)) {
                    watch = w;
                    status("state", "watching from revision " + (revision + 1));
                    if (lastError != null) {
                        LOG.info("Config sync: config server back at {}; watching from revision {}", w.endpoint, revision + 1);
                        lastError = null;
                    }
                    backoff = 100;
                    full = follow(w);
                } finally {
                    watch = null;
                }
            } catch (IOException e) {
                if (!running) {
                    break;
                }
                String msg = e.getMessage();
                if (e instanceof Etcd.RefusedException && !msg.equals(lastError)) {
                    LOG.error("Config sync: the config server refused openrm: {}", msg);
                } else if (lastError == null) {
                    LOG.warn("Config sync: config server unreachable ({}); serving the model in force, retrying", msg);
                }
                lastError = msg;
                status("state", "unreachable since " + Instant.now() + ": " + msg);
                if (!loaded) {
                    startFromCache();
                }
                sleep(backoff);
                backoff = Math.min(backoff * 2, Math.max(100, config.backoff_max_ms()));
            } catch (RuntimeException e) {
                LOG.error("Config sync failed; reading the whole model again", e);
                full = true;
                sleep(1000);
            }
        }
    }

    /**
     * Follows one watch until it breaks (an IOException) or a full read is due (true). A reader thread queues the
     * stream's responses; each round applies every change queued by then at once.
     */
    private boolean follow(Etcd.Watch w) throws IOException {
        java.util.concurrent.BlockingQueue<Object> q = new java.util.concurrent.ArrayBlockingQueue<>(QUEUE);
        Thread reader = new Thread(() -> {
            try {
                for (JsonNode r; (r = w.next()) != null; ) {
                    q.put(r);
                }
                q.put(new IOException("watch stream from " + w.endpoint + " ended"));
            } catch (IOException e) {
                q.offer(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "openrm-configsync-watch");
        reader.setDaemon(true);
        reader.start();
        try {
            while (running) {
                List<Object> batch = new ArrayList<>();
                batch.add(q.take());
                q.drainTo(batch, QUEUE);
                boolean changed = false;
                for (Object o : batch) {
                    if (o instanceof IOException e) {
                        if (changed) {
                            apply("change");
                        }
                        throw e;
                    }
                    int r = take((JsonNode) o);
                    if (r < 0) {
                        return true;
                    }
                    changed |= r > 0;
                }
                revisionSeen = revision;
                if (changed) {
                    apply(batch.size() > 1 ? "changes" : "change");
                }
            }
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
            return false;
        } finally {
            w.close();
            reader.interrupt();
        }
    }

    /** Watch responses queued at most (one response per etcd revision or less). */
    private static final int QUEUE = 4096;

    /** Takes one watch response into the view: 1 when the model changed, 0 when not, -1 when a full read is due. */
    private int take(JsonNode res) {
        long compacted = res.path("compact_revision").asLong(0);
        if (compacted > 0 || res.path("canceled").asBoolean(false)) {
            LOG.warn("Config sync: revision {} was compacted on the config server (now {}); reading the whole model again",
                    revision + 1, compacted);
            return -1;
        }
        int changed = 0;
        for (JsonNode ev : res.path("events")) {
            Etcd.Kv kv = Etcd.kv(ev.path("kv"));
            if (!kv.key().startsWith(prefix)) {
                continue;
            }
            String rel = kv.key().substring(prefix.length());
            if (!rel.startsWith(Layout.NODES)) {
                if ("DELETE".equals(ev.path("type").asText())) {
                    view.remove(rel);
                } else {
                    view.put(rel, kv.value());
                }
                changed = 1;
            }
            revision = Math.max(revision, kv.modRevision());
        }
        if (!res.path("created").asBoolean(false) && !res.has("events")) {
            revision = Math.max(revision, res.path("header").path("revision").asLong(revision)); // progress notification
        }
        return changed;
    }

    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    private void startFromCache() {
        if (cache == null || !cache.isFile()) {
            status("cache", "none: not ready until the config server answers");
            return;
        }
        try {
            JsonNode c = Etcd.JSON.readTree(cache);
            view.clear();
            for (Iterator<Map.Entry<String, JsonNode>> it = c.path("view").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                view.put(e.getKey(), e.getValue().asText());
            }
            revision = c.path("revision").asLong();
            revisionSeen = revision;
            LOG.warn("Config sync: config server unreachable at start; starting from the last good model cached at {} (revision {}, {} keys)",
                    c.path("savedAt").asText(), revision, view.size());
            status("cache", "started from the cached model of revision " + revision + " saved at " + c.path("savedAt").asText());
            apply("cache");
        } catch (IOException e) {
            LOG.error("Config sync: the cached model {} cannot be read: {}", cache, e.getMessage());
        }
    }

    /** Checks the whole view as one model and writes it, or refuses it whole. */
    private void apply(String why) {
        long t0 = System.nanoTime();
        Map<String, Map<String, Object>> model;
        try {
            model = Layout.model(view);
        } catch (Layout.BadValue e) {
            refuse(prefix + e.getMessage());
            return;
        }
        ModelValidator v = validator;
        for (int i = 0; v == null && running; i++) {
            if (i == 0) {
                LOG.info("Config sync: waiting for routing's model validator before applying revision {}", revision);
            }
            sleep(20);
            v = validator;
        }
        if (v == null) {
            return;
        }
        String problem = v.problem(model);
        if (problem != null) {
            int colon = problem.indexOf(": ");
            String where = colon > 0 ? problem.substring(0, colon) : "";
            refuse(model.containsKey(where) ? prefix + Layout.relKey(where) + problem.substring(colon) : problem);
            return;
        }
        try {
            ModelWriter.Result r = writer.write(model, revision);
            save();
            loaded = true;
            long ms = (System.nanoTime() - t0) / 1_000_000;
            status("last change", "revision " + revision + " (" + why + ") at " + Instant.now() + ": " + r.written()
                    + " configurations written, " + r.deleted() + " deleted, " + ms + " ms");
            if (r.changes() > 0 || !"change".equals(why)) {
                LOG.info("Config sync: model of revision {} in force ({}: {} configurations, {} written, {} deleted, {} ms)",
                        revision, why, model.size(), r.written(), r.deleted(), ms);
            }
        } catch (IOException e) {
            LOG.error("Config sync: Configuration Admin failed writing revision {} ({}); retrying with the whole model", revision, e.getMessage());
            throw new IllegalStateException(e);
        }
    }

    private void refuse(String reason) {
        String line = "revision " + revision + " at " + Instant.now() + ": " + reason;
        status("last refusal", line);
        LOG.error("Config sync: change refused, the last good model stays in force: {} (revision {})", reason, revision);
    }

    private void save() throws IOException {
        if (cache == null) {
            return;
        }
        ObjectNode o = Etcd.JSON.createObjectNode();
        o.put("revision", revision).put("savedAt", Instant.now().toString()).put("prefix", prefix);
        ObjectNode vn = o.putObject("view");
        new TreeMap<>(view).forEach(vn::put);
        File tmp = new File(cache.getPath() + ".tmp");
        Etcd.JSON.writeValue(tmp, o);
        Files.move(tmp.toPath(), cache.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private Object prop(String pid, String key) {
        try {
            Configuration[] cs = cm.listConfigurations("(service.pid=" + pid + ")");
            if (cs != null && cs.length > 0) {
                Dictionary<String, Object> d = cs[0].getProperties();
                return d == null ? null : d.get(key);
            }
        } catch (IOException | InvalidSyntaxException e) {
            return null;
        }
        return null;
    }

    private String nodeJson() {
        ObjectNode o = Etcd.JSON.createObjectNode();
        o.put("node", nodeId);
        Object addr = prop("org.openrm.sip", "listen.address");
        o.put("address", addr == null ? "0.0.0.0" : addr.toString());
        Object sip = prop("org.openrm.sip", "listen.port");
        o.put("sipPort", sip == null ? "5060" : sip.toString());
        Object health = prop("org.openrm.ops", "health.port");
        o.put("healthPort", health == null ? "8300" : health.toString());
        Object metrics = prop("org.openrm.ops", "metrics.port");
        o.put("metricsPort", metrics == null ? "8200" : metrics.toString());
        o.put("version", version);
        o.put("startedAt", Instant.now().toString());
        return o.toString();
    }

    /** For {@code rm:config-export}: the running model as {@code etcdctl put} lines in the key layout. */
    public List<String> export() throws IOException {
        ModelValidator v = validator;
        if (v == null) {
            throw new IOException("routing is not running: there is no model in force to export");
        }
        Map<String, Map<String, Object>> model = new TreeMap<>(v.running());
        try {
            Configuration[] routing = cm.listConfigurations("(service.pid=" + ModelValidator.ROUTING + ")");
            if (routing != null && routing.length == 1 && routing[0].getProperties() != null) {
                Map<String, Object> p = new HashMap<>();
                for (java.util.Enumeration<String> k = routing[0].getProperties().keys(); k.hasMoreElements(); ) {
                    String key = k.nextElement();
                    p.put(key, routing[0].getProperties().get(key));
                }
                model.put(ModelValidator.ROUTING, p);
            }
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Map<String, Object>> e : model.entrySet()) {
            out.add("etcdctl put " + quote(prefix + Layout.relKey(e.getKey())) + " " + quote(Layout.json(e.getValue())));
        }
        return out;
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

}
