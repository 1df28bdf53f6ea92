package org.openrm.ops.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.openrm.api.BillingStatus;
import org.openrm.api.EndReason;
import org.openrm.api.NodeState;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ReadinessCondition;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceStates;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.openrm.api.SipStatus;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connections 7 and 8: the orchestrator's probes and the status page on {@code health.port} (8300), Prometheus
 * metrics on {@code metrics.port} (8200). Read-only: it listens to session events and reads the api stores; it
 * never calls into the SIP path, and nothing on the call path waits for it.
 */
@Component(service = {SessionListener.class, OpsService.class}, configurationPid = "org.openrm.ops", immediate = true)
@Designate(ocd = OpsService.Config.class)
public class OpsService implements SessionListener {
    private static final Logger LOG = LoggerFactory.getLogger(OpsService.class);

    @ObjectClassDefinition(name = "openrm ops", description = "Health probes, status page and Prometheus metrics")
    public @interface Config {
        @AttributeDefinition(description = "Address of the health probes and status page (/health/live, /health/ready, /)")
        String health_address() default "127.0.0.1";

        @AttributeDefinition(description = "Port of the health probes and status page")
        int health_port() default 8300;

        @AttributeDefinition(description = "Address of the Prometheus endpoint (/metrics)")
        String metrics_address() default "127.0.0.1";

        @AttributeDefinition(description = "Port of the Prometheus endpoint")
        int metrics_port() default 8200;

        @AttributeDefinition(description = "/health/live turns 503 when the SIP path has made no progress this long (ms): "
                + "a SIP worker stuck in one message, or the SIP timer that late")
        int live_stall_ms() default 2000;

        @AttributeDefinition(description = "Include the JVM families (heap, GC, threads) in /metrics")
        boolean metrics_jvm() default true;

        @AttributeDefinition(description = "This node's id, shown on the status page")
        String node_id() default "1";

        @AttributeDefinition(description = "rm:drain and shutdown (SIGTERM) wait this long for calls in progress to end (s)")
        int drain_timeout_s() default 300;

        @AttributeDefinition(description = "Retry-After (s) of the 503 that new INVITEs and OPTIONS get while the node drains")
        int drain_retry_after_s() default 30;

        @AttributeDefinition(description = "After the calls ended, wait this long (s) for the CDR spool to reach the broker")
        int drain_flush_s() default 30;

        @AttributeDefinition(description = "Drain before the framework stops (SIGTERM, bin/stop, system:shutdown)")
        boolean drain_on_shutdown() default true;
    }

    private final SessionStore sessions;
    private final ResourceLedger ledger;
    private final PolicyLedger policy;
    private final ResourceStates states;
    private final NodeState node;
    private final BundleContext context;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile ResourceCatalog catalog;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile SipStatus sip;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile BillingStatus billing;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    volatile org.openrm.api.ClusterMembership cluster;

    private final List<ReadinessCondition> conditions = new CopyOnWriteArrayList<>();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addCondition(ReadinessCondition c) {
        conditions.add(c);
    }

    void removeCondition(ReadinessCondition c) {
        conditions.remove(c);
    }

    private final JsonFactory json = new JsonFactory();
    private volatile Config config;
    private volatile NodeView view;
    private volatile Metrics metrics;
    private HttpServer healthServer;
    private HttpServer metricsServer;
    private ThreadPoolExecutor httpPool;
    /** Admitted calls, and the rate over the last few seconds (for the status page). */
    private final AtomicLong admittedTotal = new AtomicLong();
    private volatile long rateMark;
    private volatile long rateMarkAt = System.nanoTime();
    private volatile double rate;

    @Activate
    public OpsService(@Reference SessionStore sessions, @Reference ResourceLedger ledger, @Reference PolicyLedger policy,
                      @Reference ResourceStates states, @Reference NodeState node, Config config, BundleContext context)
            throws IOException {
        this.sessions = sessions;
        this.ledger = ledger;
        this.policy = policy;
        this.states = states;
        this.node = node;
        this.context = context;
        try {
            apply(config);
        } catch (IOException | RuntimeException e) {
            // SCR calls no @Deactivate for a component that failed to activate: release what apply() opened
            release();
            throw e;
        }
    }

    /** Outside OSGi (tests). */
    public OpsService(SessionStore sessions, ResourceLedger ledger, PolicyLedger policy, ResourceStates states,
                      NodeState node, Config config) throws IOException {
        this(sessions, ledger, policy, states, node, config, null);
    }

    @Modified
    synchronized void apply(Config c) throws IOException {
        Config old = config;
        this.config = c;
        NodeView v = new NodeView(sessions, ledger, policy, states, node, () -> catalog, () -> sip, () -> billing,
                () -> conditions, c.live_stall_ms());
        this.view = v;
        if (metrics == null || old.metrics_jvm() != c.metrics_jvm()) {
            metrics = new Metrics(() -> view, c.metrics_jvm(), () -> cluster); // counters start over only when the JVM families change
        }
        if (httpPool == null) {
            // two threads, a short queue: a probe storm waits or is refused, it never grows threads or memory
            AtomicInteger n = new AtomicInteger();
            httpPool = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(64), r -> {
                Thread t = new Thread(r, "openrm-ops-http-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            }, new ThreadPoolExecutor.AbortPolicy());
        }
        if (old == null || !old.health_address().equals(c.health_address()) || old.health_port() != c.health_port()) {
            stop(healthServer);
            healthServer = null;
            healthServer = start(c.health_address(), c.health_port(), "health");
            healthServer.createContext("/health/live", this::live);
            healthServer.createContext("/health/ready", this::ready);
            healthServer.createContext("/", this::page);
        }
        if (old == null || !old.metrics_address().equals(c.metrics_address()) || old.metrics_port() != c.metrics_port()) {
            stop(metricsServer);
            metricsServer = null;
            metricsServer = start(c.metrics_address(), c.metrics_port(), "metrics");
            metricsServer.createContext("/metrics", this::scrape);
        }
        LOG.info("ops: health probes and status page on http://{}:{}/, metrics on http://{}:{}/metrics (JVM {}), live stall {} ms",
                c.health_address(), healthServer.getAddress().getPort(), c.metrics_address(),
                metricsServer.getAddress().getPort(), c.metrics_jvm() ? "on" : "off", c.live_stall_ms());
    }

    private HttpServer start(String address, int port, String what) throws IOException {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(address, port), 50);
            s.setExecutor(httpPool);
            s.start();
            return s;
        } catch (IOException e) {
            throw new IOException("PID org.openrm.ops: cannot listen for " + what + " on " + address + ":" + port + ": " + e, e);
        }
    }

    private static void stop(HttpServer s) {
        if (s != null) {
            s.stop(0);
        }
    }

    @Deactivate
    synchronized void deactivate() {
        if (context != null && config.drain_on_shutdown() && frameworkStopping()) {
            // SIGTERM / bin/stop: no new calls, the calls in progress end, the CDRs reach the broker, then Karaf stops
            DrainResult r = drain(config.drain_timeout_s(), line -> LOG.info("Shutdown drain: {}", line), "shutdown");
            LOG.info("Shutdown drain done in {} ms: {} calls left, {} CDRs not delivered", r.tookMs(), r.callsLeft(),
                    r.recordsLeft());
        }
        release();
        LOG.info("ops stopped");
    }

    /** Closes both listeners and the HTTP threads. */
    private void release() {
        stop(healthServer);
        stop(metricsServer);
        healthServer = null;
        metricsServer = null;
        if (httpPool != null) {
            httpPool.shutdownNow();
            try {
                httpPool.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            httpPool = null;
        }
    }

    private boolean frameworkStopping() {
        try {
            return context.getBundle(0).getState() == Bundle.STOPPING;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** What a drain achieved. */
    public record DrainResult(long tookMs, int callsLeft, long recordsLeft) { }

    /**
     * Drains the node: new INVITEs and OPTIONS get 503 with Retry-After, readiness turns 503, and the calls in
     * progress end (at most {@code timeoutS}); then, with a billing bundle, the CDR spool is given
     * {@code drain.flush.s} to reach the broker. The node stays drained until {@link #undrain}.
     */
    public DrainResult drain(int timeoutS, java.util.function.Consumer<String> progress, String why) {
        return drain(timeoutS, true, progress, why);
    }

    /** Starts draining; with {@code wait} false it returns at once (the calls in progress still end on their own). */
    public DrainResult drain(int timeoutS, boolean wait, java.util.function.Consumer<String> progress, String why) {
        long start = System.currentTimeMillis();
        node.draining(true, config.drain_retry_after_s(), why);
        if (!wait) {
            BillingStatus b = billing;
            return new DrainResult(0, sessions.size(), b == null ? 0 : b.pendingRecords());
        }
        long end = start + timeoutS * 1000L;
        long lastReport = 0;
        try {
            while (sessions.size() > 0 && System.currentTimeMillis() < end) {
                if (System.currentTimeMillis() - lastReport >= 5000) {
                    lastReport = System.currentTimeMillis();
                    progress.accept(sessions.size() + " calls in progress");
                }
                Thread.sleep(100);
            }
            BillingStatus b = billing;
            long flushEnd = System.currentTimeMillis() + config.drain_flush_s() * 1000L;
            // the spool is flushed when a broker is reachable; without one the records stay on disk for the next start
            while (b != null && b.pendingRecords() > 0 && b.brokerConnected() && System.currentTimeMillis() < flushEnd) {
                if (System.currentTimeMillis() - lastReport >= 5000) {
                    lastReport = System.currentTimeMillis();
                    progress.accept(b.pendingRecords() + " CDRs waiting for the broker"
                            + (b.brokerConnected() ? "" : " (not connected)"));
                }
                Thread.sleep(100);
                b = billing;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        BillingStatus b = billing;
        DrainResult r = new DrainResult(System.currentTimeMillis() - start, sessions.size(), b == null ? 0 : b.pendingRecords());
        progress.accept("drained in " + r.tookMs() + " ms: " + r.callsLeft() + " calls left, " + r.recordsLeft()
                + " CDRs not delivered");
        return r;
    }

    /** Takes new calls again. */
    public void undrain(String why) {
        node.draining(false, 0, why);
    }

    public int drainTimeoutS() {
        return config.drain_timeout_s();
    }

    public boolean draining() {
        return node.draining();
    }

    /** The port the probes listen on (tests use port 0). */
    int healthPort() {
        return healthServer.getAddress().getPort();
    }

    int metricsPort() {
        return metricsServer.getAddress().getPort();
    }

    NodeView view() {
        return view;
    }

    /** The key counters, for {@code rm:stats}. */
    public Map<String, String> stats() {
        NodeView v = view;
        Map<String, String> m = new java.util.LinkedHashMap<>();
        String notAlive = v.notAlive();
        Map<String, String> notReady = v.notReady();
        m.put("live", notAlive == null ? "yes" : "NO: " + notAlive);
        m.put("ready", notReady.isEmpty() ? "yes" : "NO: " + notReady);
        m.put("calls in progress", Integer.toString(sessions.size()));
        m.put("calls admitted", Long.toString(admittedTotal.get()));
        m.put("calls/s admitted", String.format(java.util.Locale.ROOT, "%.1f", callsPerSecond()));
        List<NodeView.Resource> rs = v.resources();
        long inService = rs.stream().filter(r -> "in-service".equals(r.state())).count();
        m.put("media servers in service", inService + " of " + rs.size());
        m.put("ports in use", rs.stream().mapToInt(NodeView.Resource::inUse).sum() + " of "
                + rs.stream().mapToInt(NodeView.Resource::capacity).sum());
        SipStatus s = sip;
        if (s != null) {
            m.put("INVITEs pending", Integer.toString(s.pendingInvites()));
            s.counters().forEach((k, n) -> {
                if (!k.startsWith("edge.") || n > 0) {
                    m.put("sip " + k, Long.toString(n));
                }
            });
        } else {
            m.put("sip", "not active");
        }
        return m;
    }

    // ------------------------------------------------------------------------------------------ events

    @Override
    public void started(Session s) {
        admittedTotal.incrementAndGet();
        if (!UNINSTRUMENTED) {
            metrics.started(s);
        }
    }

    @Override
    public void ended(Session s, EndReason reason, int finalCode, long endedAt) {
        if (!UNINSTRUMENTED) {
            metrics.ended(s, reason, finalCode);
        }
    }

    /** Benchmarks only: the per-call metrics are not recorded, to measure what they cost (bench/README.md). */
    private static final boolean UNINSTRUMENTED = Boolean.getBoolean("openrm.bench.uninstrumented");

    /** Admitted calls per second, over the time since the previous question (at least 1 s). */
    double callsPerSecond() {
        long now = System.nanoTime();
        long n = admittedTotal.get();
        long dt = now - rateMarkAt;
        if (dt >= 1_000_000_000L) {
            rate = (n - rateMark) * 1e9 / dt;
            rateMark = n;
            rateMarkAt = now;
        }
        return rate;
    }

    // ------------------------------------------------------------------------------------------ HTTP

    private void live(HttpExchange ex) throws IOException {
        String why = view.notAlive();
        Map<String, String> failing = why == null ? Map.of() : Map.of("live", why);
        respondJson(ex, why == null ? 200 : 503, "live", failing);
    }

    private void ready(HttpExchange ex) throws IOException {
        Map<String, String> failing = view.notReady();
        respondJson(ex, failing.isEmpty() ? 200 : 503, "ready", failing);
    }

    private void page(HttpExchange ex) throws IOException {
        if (!"/".equals(ex.getRequestURI().getPath())) {
            respond(ex, 404, "text/plain; charset=utf-8", "not found\n".getBytes(StandardCharsets.UTF_8));
            return;
        }
        String html = StatusPage.render(view, config.node_id(), callsPerSecond());
        respond(ex, 200, "text/html; charset=utf-8", html.getBytes(StandardCharsets.UTF_8));
    }

    private void scrape(HttpExchange ex) throws IOException {
        Metrics m = metrics;
        respond(ex, 200, m.contentType(), m.scrape());
    }

    private void respondJson(HttpExchange ex, int code, String what, Map<String, String> failing) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = json.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("status", code == 200 ? "ok" : "failing");
            g.writeBooleanField(what, code == 200);
            g.writeObjectFieldStart("failing");
            for (Map.Entry<String, String> e : failing.entrySet()) {
                g.writeStringField(e.getKey(), e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        respond(ex, code, "application/json", out.toByteArray());
    }

    private static void respond(HttpExchange ex, int code, String type, byte[] body) throws IOException {
        try {
            ex.getResponseHeaders().set("Content-Type", type);
            ex.getResponseHeaders().set("Cache-Control", "no-store");
            boolean head = "HEAD".equals(ex.getRequestMethod());
            ex.sendResponseHeaders(code, head ? -1 : body.length);
            if (!head) {
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(body);
                }
            }
        } finally {
            ex.close();
        }
    }
}
