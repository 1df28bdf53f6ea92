package org.openrm.ops.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.Sipp;

/**
 * The shipped alert rules and dashboard against a real Prometheus (Debian {@code prometheus}) scraping openrm under
 * sipp load: {@code promtool check rules}, {@code promtool check metrics} on a real scrape, every dashboard
 * expression accepted, every rule loaded and evaluating, and {@code rate()} of the calls counter matching the
 * offered rate within 10 %.
 */
class PrometheusEndToEndTest {
    static final Path ALERTS = Path.of("../../etc/prometheus/openrm-alerts.yml").toAbsolutePath().normalize();
    static final Path DASHBOARD = Path.of("../../etc/grafana/openrm-dashboard.json").toAbsolutePath().normalize();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final ObjectMapper json = new ObjectMapper();

    static String run(Path stdin, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (stdin != null) {
            pb.redirectInput(stdin.toFile());
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " says:\n" + out);
        return out;
    }

    private JsonNode api(int port, String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return json.readTree(r.body());
    }

    private static String q(String promql) {
        return URLEncoder.encode(promql, StandardCharsets.UTF_8);
    }

    @Test
    void rulesDashboardAndRateAgainstARealPrometheus() throws Exception {
        run(null, "promtool", "check", "rules", ALERTS.toString());
        int p = Sipp.freePort(), mcp = Sipp.freePort(), uacPort = Sipp.freePort(), prom = Sipp.freePort();
        Map<String, Map<String, Object>> model = new HashMap<>();
        model.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        model.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + mcp, "capacity", 500));
        model.put("org.openrm.tenant~acme", Map.of("limit", 400));
        model.put("org.openrm.profile~welcome", Map.of("tenant", "acme", "service", "voicexml", "url", "http://x/a.vxml",
                "dids", "5551234"));
        Path dir = Files.createTempDirectory("openrm-prometheus");
        try (ProxyUnderTest rm = new ProxyUnderTest(p, model, Map.of("warmup.messages", 2000));
             Sipp ms = Sipp.uas("prom-mcp", "uas.xml", mcp, "u1")) {
            OpsService ops = OpsUnderTest.start(rm, Map.of());
            Process prometheus = null;
            try {
                Path conf = dir.resolve("prometheus.yml");
                Files.writeString(conf, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - " + ALERTS
                        + "\nscrape_configs:\n  - job_name: openrm\n    static_configs:\n      - targets: ['127.0.0.1:"
                        + ops.metricsPort() + "']\n");
                prometheus = new ProcessBuilder("prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + dir.resolve("data"),
                        "--web.listen-address=127.0.0.1:" + prom).redirectErrorStream(true)
                        .redirectOutput(dir.resolve("prometheus.log").toFile()).start();
                long end = System.currentTimeMillis() + 30_000;
                boolean up = false;
                while (!up && System.currentTimeMillis() < end) {
                    try {
                        JsonNode t = api(prom, "/api/v1/targets");
                        up = t.path("data").path("activeTargets").path(0).path("health").asText().equals("up");
                    } catch (IOException e) {
                        // not listening yet
                    }
                    if (!up) {
                        Thread.sleep(200);
                    }
                }
                assertTrue(up, "Prometheus scrapes openrm: " + Files.readString(dir.resolve("prometheus.log")));

                // 50 calls/s for 16 s
                long t0;
                try (Sipp uac = Sipp.uac("prom-uac", uacPort, p, "u1", 800, 50, 500)) {
                    t0 = System.currentTimeMillis();
                    assertEquals(0, uac.await(90), uac.errors());
                }
                rm.awaitIdle();
                // until Prometheus has scraped the end of the run (bounded)
                long seen = System.currentTimeMillis() + 15_000;
                while (api(prom, "/api/v1/query?query=" + q("openrm_calls_admitted_total")).path("data").path("result").path(0)
                        .path("value").path(1).asDouble() < 800 && System.currentTimeMillis() < seen) {
                    Thread.sleep(200);
                }

                // promtool check metrics on a real scrape
                Path scrape = dir.resolve("scrape.txt");
                Files.write(scrape, http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ops.metricsPort() + "/metrics"))
                        .build(), HttpResponse.BodyHandlers.ofByteArray()).body());
                run(scrape, "promtool", "check", "metrics");

                // rate() in the middle of the run against the offered 50 calls/s
                long mid = (t0 + 10_000) / 1000;
                for (String series : List.of("openrm_calls_received_total", "openrm_calls_admitted_total")) {
                    JsonNode r = api(prom, "/api/v1/query?time=" + mid + "&query=" + q("rate(" + series + "[8s])"));
                    assertEquals("success", r.path("status").asText(), r.toString());
                    double rate = r.path("data").path("result").path(0).path("value").path(1).asDouble();
                    System.out.printf("Prometheus rate(%s[8s]) mid-run: %.1f calls/s (offered 50)%n", series, rate);
                    assertTrue(rate >= 45 && rate <= 55, series + " rate " + rate + " is not within 10 % of 50");
                }
                JsonNode p99 = api(prom, "/api/v1/query?time=" + mid + "&query="
                        + q("histogram_quantile(0.99, sum by (le) (rate(openrm_call_setup_seconds_bucket[8s])))"));
                System.out.println("setup p99 mid-run: " + p99.path("data").path("result").path(0).path("value").path(1).asText() + " s");

                // every expression of the dashboard is accepted by Prometheus
                List<String> exprs = new ArrayList<>();
                for (JsonNode panel : json.readTree(DASHBOARD.toFile()).path("panels")) {
                    for (JsonNode t : panel.path("targets")) {
                        exprs.add(t.path("expr").asText());
                    }
                }
                assertTrue(exprs.size() >= 20, "dashboard expressions: " + exprs.size());
                for (String e : exprs) {
                    JsonNode r = api(prom, "/api/v1/query?query=" + q(e));
                    assertEquals("success", r.path("status").asText(), e + " -> " + r);
                }
                // the call counts panel has data
                JsonNode calls = api(prom, "/api/v1/query?time=" + mid + "&query=" + q(exprs.get(0)));
                assertTrue(calls.path("data").path("result").size() > 0, calls.toString());

                // every alert rule loaded and evaluates
                JsonNode rules = api(prom, "/api/v1/rules");
                int n = 0;
                for (JsonNode g : rules.path("data").path("groups")) {
                    for (JsonNode r : g.path("rules")) {
                        n++;
                        assertEquals("ok", r.path("health").asText(), r.toString());
                    }
                }
                assertEquals(11, n, "rules loaded");
            } finally {
                if (prometheus != null) {
                    prometheus.destroy();
                    if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
                        prometheus.destroyForcibly();
                    }
                }
                ops.deactivate();
            }
        }
    }
}
