package org.openrm.ops.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceState;
import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.Sipp;

/**
 * The ops endpoints over real HTTP on the real call path (routing + SIP, a sipp SIP Server and a sipp media
 * server): probes, the status page and /metrics.
 */
class OpsEndToEndTest {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private static OpsService ops(ProxyUnderTest rm) throws Exception {
        return OpsUnderTest.start(rm, Map.of("live.stall.ms", 1000));
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(5))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Polls {@code path} until its response passes {@code ok} (at most {@code seconds}); returns the last one. */
    private HttpResponse<String> await(int port, String path, Predicate<HttpResponse<String>> ok, int seconds) throws Exception {
        long end = System.currentTimeMillis() + seconds * 1000L;
        HttpResponse<String> r = get(port, path);
        while (!ok.test(r) && System.currentTimeMillis() < end) {
            Thread.sleep(50);
            r = get(port, path);
        }
        return r;
    }

    /**
     * The DOM of {@code url} as a real browser builds it: Debian's headless Chromium (the flags keep it off the
     * network: this machine's network is closed), a fresh profile, no sandbox (tests may run as root).
     */
    static String renderInChromium(String url) throws Exception {
        java.nio.file.Path profile = java.nio.file.Files.createTempDirectory("openrm-chromium");
        ProcessBuilder pb = new ProcessBuilder("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--dump-dom", url);
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String dom = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish within 60 s");
        }
        return dom;
    }

    /** The value of one sample line of a Prometheus text exposition, or -1 when absent. */
    static double sample(String text, String series) {
        Matcher m = Pattern.compile("^" + Pattern.quote(series) + " ([0-9.eE+-]+)$", Pattern.MULTILINE).matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    @Test
    void probesPageAndMetricsFollowTheCallPath() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), uacPort = Sipp.freePort();
        Map<String, Map<String, Object>> model = new HashMap<>();
        model.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        model.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + mcp, "capacity", 50));
        try (ProxyUnderTest rm = new ProxyUnderTest(p, model, Map.of("warmup.messages", 2000));
             Sipp ms = Sipp.uas("ops-mcp", "uas.xml", mcp, "u1")) {
            OpsService ops = ops(rm);
            try {
                int hp = ops.healthPort(), mp = ops.metricsPort();
                Sipp.awaitBound(mcp);
                HttpResponse<String> ready = await(hp, "/health/ready", r -> r.statusCode() == 200, 30);
                assertEquals(200, ready.statusCode(), ready.body());
                assertEquals(200, get(hp, "/health/live").statusCode());

                try (Sipp uac = Sipp.uac("ops-uac", uacPort, p, "u1", 200, 50, 200)) {
                    assertEquals(0, uac.await(60), uac.errors());
                }
                rm.awaitIdle();
                String text = await(mp, "/metrics", r -> sample(r.body(), "openrm_calls_ended_total{reason=\"caller-bye\"}") >= 200, 10).body();
                assertEquals(200, sample(text, "openrm_calls_admitted_total"), text);
                assertEquals(200, sample(text, "openrm_calls_received_total"));
                assertEquals(200, sample(text, "openrm_calls_ended_total{reason=\"caller-bye\"}"));
                assertEquals(200, sample(text, "openrm_call_setup_seconds_count"));
                assertEquals(0, sample(text, "openrm_sessions_active"));
                assertEquals(0, sample(text, "openrm_resource_ports_in_use{group=\"default\",resource=\"mcp\"}"));
                assertEquals(50, sample(text, "openrm_resource_capacity{group=\"default\",resource=\"mcp\"}"));
                assertEquals(1, sample(text, "openrm_resource_state{group=\"default\",resource=\"mcp\",state=\"in-service\"}"));
                assertTrue(sample(text, "openrm_sip_messages_received_total{method=\"INVITE\",transport=\"udp\"}") >= 200, text);
                assertTrue(sample(text, "openrm_sip_messages_sent_total{method=\"INVITE\",transport=\"udp\"}") >= 200, text);
                assertTrue(sample(text, "openrm_sip_messages_sent_total{method=\"response\",transport=\"udp\"}") >= 600, text);
                assertEquals(1, sample(text, "openrm_ready"));
                assertTrue(text.contains("jvm_memory_used_bytes"), "JVM families present");
                assertTrue(!text.contains("Call-ID") && !text.contains("callid"), "no Call-ID in any label");

                String page = get(hp, "/").body();
                assertTrue(page.contains("<table id=\"resources\">") && page.contains("<td>mcp</td>"), page);
                assertEquals(404, get(hp, "/nothing-here").statusCode());
                String dom = renderInChromium("http://127.0.0.1:" + hp + "/");
                assertTrue(dom.contains("<table id=\"resources\">") && dom.contains("<td>mcp</td>")
                        && dom.contains("in-service"), "the page as headless Chromium renders it:\n" + dom);

                // a SIP worker blocked on purpose: live turns 503 within a probe period, and back once it runs again
                CountDownLatch release = new CountDownLatch(1);
                rm.proxy.testHook(req -> {
                    if (req.getHeader("X-Block-Worker") != null) {
                        try {
                            release.await(20, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                });
                try (DatagramSocket ua = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
                    byte[] options = ("OPTIONS sip:127.0.0.1:" + p + " SIP/2.0\r\n"
                            + "Via: SIP/2.0/UDP 127.0.0.1:" + ua.getLocalPort() + ";branch=z9hG4bK-block-1\r\n"
                            + "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:" + p + ">\r\nCall-ID: block-1@127.0.0.1\r\n"
                            + "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nX-Block-Worker: yes\r\nContent-Length: 0\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII);
                    ua.send(new DatagramPacket(options, options.length, InetAddress.getLoopbackAddress(), p));
                    long t0 = System.currentTimeMillis();
                    HttpResponse<String> dead = await(hp, "/health/live", r -> r.statusCode() == 503, 10);
                    assertEquals(503, dead.statusCode(), "a blocked worker makes live fail");
                    assertTrue(dead.body().contains("no progress"), dead.body());
                    System.out.printf("live turned 503 %d ms after a SIP worker was blocked (live.stall.ms 1000)%n",
                            System.currentTimeMillis() - t0);
                    release.countDown();
                    assertEquals(200, await(hp, "/health/live", r -> r.statusCode() == 200, 10).statusCode());
                } finally {
                    release.countDown();
                    rm.proxy.testHook(null);
                }

                // the last media server goes down: ready 503 naming it; back in service: 200
                rm.states.update("mcp", s -> (s == null ? org.openrm.api.ResourceStatus.fresh(System.currentTimeMillis()) : s)
                        .withHealth(ResourceState.DOWN, System.currentTimeMillis(), "test", 0));
                HttpResponse<String> notReady = get(hp, "/health/ready");
                assertEquals(503, notReady.statusCode());
                assertTrue(notReady.body().contains("\"media-servers\""), notReady.body());
                rm.states.update("mcp", s -> s.withHealth(ResourceState.IN_SERVICE, System.currentTimeMillis(), "test", 0));
                assertEquals(200, get(hp, "/health/ready").statusCode());
            } finally {
                ops.deactivate();
            }
        }
    }

    @Test
    void aScrapeAtAThousandResourcesAndTenantsCostsNoSessionWalk() throws Exception {
        Map<String, Map<String, Object>> model = new HashMap<>();
        model.put("org.openrm.lrg~default", Map.of("max.attempts", 2, "monitor", "none"));
        for (int i = 0; i < 1000; i++) {
            model.put("org.openrm.resource~r" + i, Map.of("uri", "sip:127.0.0.1:" + (20000 + i), "capacity", 100));
            model.put("org.openrm.tenant~t" + i, Map.of("limit", 10));
        }
        try (ProxyUnderTest rm = new ProxyUnderTest(Sipp.freePort(), model, Map.of("warmup.messages", 0))) {
            OpsService ops = ops(rm);
            try {
                int mp = ops.metricsPort();
                for (int i = 0; i < 5; i++) {
                    get(mp, "/metrics"); // warm
                }
                int n = 20;
                long t0 = System.nanoTime();
                String text = null;
                for (int i = 0; i < n; i++) {
                    text = get(mp, "/metrics").body();
                }
                double ms = (System.nanoTime() - t0) / 1e6 / n;
                List<String> lines = text.lines().filter(l -> l.startsWith("openrm_resource_capacity{")).toList();
                assertEquals(1000, lines.size());
                assertEquals(10, sample(text, "openrm_policy_limit{kind=\"tenant\",name=\"t7\"}"));
                System.out.printf("scrape of 1,000 resources and 1,000 tenants: %.1f ms, %d bytes%n", ms, text.length());
            } finally {
                ops.deactivate();
            }
        }
    }
}
