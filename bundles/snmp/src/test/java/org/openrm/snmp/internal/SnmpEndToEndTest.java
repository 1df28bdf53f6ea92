package org.openrm.snmp.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceCatalog;
import org.openrm.api.ResourceState;
import org.openrm.health.internal.HealthMonitor;
import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.Sipp;
import org.openrm.sip.internal.TestConfigs;

/**
 * The sub-agent against net-snmp: {@code snmpd} as the AgentX master, {@code snmpwalk}/{@code snmpbulkwalk} through
 * it, {@code snmptrapd} receiving the notifications, on the real call path with health monitoring and sipp.
 */
class SnmpEndToEndTest {
    private static final String ROOT = SnmpAgent.DEFAULT_ROOT;

    /** A process the test started, with its output lines collected. */
    static final class Proc implements AutoCloseable {
        final Process p;
        final List<String> lines = new CopyOnWriteArrayList<>();

        Proc(ProcessBuilder pb) throws IOException {
            pb.redirectErrorStream(true);
            p = pb.start();
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        if (lines.size() < 100_000) {
                            lines.add(l);
                        }
                    }
                } catch (IOException e) {
                    // process gone
                }
            }, "test-output");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws InterruptedException {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    static Proc snmpd(Path dir, int agentx, int udp, int trap) throws IOException {
        Path conf = dir.resolve("snmpd.conf");
        Files.writeString(conf, "master agentx\nagentXSocket tcp:127.0.0.1:" + agentx + "\nagentaddress udp:127.0.0.1:" + udp
                + "\nrocommunity public 127.0.0.1\ntrap2sink 127.0.0.1:" + trap + " public\n");
        ProcessBuilder pb = new ProcessBuilder("/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", conf.toString(), "-p",
                dir.resolve("snmpd.pid").toString(), "-I", "-ifTable,ifXTable,hrSWRunTable,hrSWInstalledTable");
        pb.environment().put("SNMP_PERSISTENT_DIR", dir.toString());
        pb.environment().put("MIBS", "");
        return new Proc(pb);
    }

    static Proc snmptrapd(Path dir, int trap) throws IOException {
        Path conf = dir.resolve("snmptrapd.conf");
        Files.writeString(conf, "disableAuthorization yes\n");
        ProcessBuilder pb = new ProcessBuilder("/usr/sbin/snmptrapd", "-f", "-Lo", "-On", "-C", "-c", conf.toString(),
                "udp:127.0.0.1:" + trap);
        pb.environment().put("SNMP_PERSISTENT_DIR", dir.toString());
        pb.environment().put("MIBS", "");
        return new Proc(pb);
    }

    static List<String> walk(String tool, int udp) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(tool, "-v2c", "-c", "public", "-On", "-t", "2", "-r", "1",
                "127.0.0.1:" + udp, ROOT);
        pb.environment().put("MIBS", "");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        // only the varbind lines (the tool may say it created its persistent directory)
        List<String> out = new ArrayList<>(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines()
                .filter(l -> l.startsWith(".")).toList());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return out;
    }

    static void await(BooleanSupplier c, long ms, String what) throws InterruptedException {
        long end = System.currentTimeMillis() + ms;
        while (!c.getAsBoolean()) {
            if (System.currentTimeMillis() > end) {
                throw new AssertionError(what + " within " + ms + " ms");
            }
            Thread.sleep(20);
        }
    }

    static SnmpAgent agent(ProxyUnderTest rm, String master) {
        Map<String, Object> c = new HashMap<>();
        c.put("master", master);
        c.put("reconnect.min.ms", 200);
        c.put("reconnect.max.ms", 1000);
        c.put("ping.interval.ms", 1000);
        c.put("timeout.s", 2);
        c.put("cache.ms", 0);
        SnmpAgent a = new SnmpAgent(rm.store, rm.ledger, rm.policy, rm.states, TestConfigs.of(SnmpAgent.Config.class, c), "test");
        a.catalog = rm.routing;
        a.sip = rm.proxy;
        return a;
    }

    private static boolean has(List<String> lines, String oidSuffix, String value) {
        String oid = "." + ROOT + oidSuffix + " = ";
        return lines.stream().anyMatch(l -> l.startsWith(oid) && l.contains(value));
    }

    @Test
    void walksNotificationsAndMasterRestartsThroughNetSnmp() throws Exception {
        Path dir = Files.createTempDirectory("openrm-snmp");
        int agentx = Sipp.freePort(), udp = Sipp.freePort(), trap = Sipp.freePort();
        int p = Sipp.freePort(), mcp = Sipp.freePort(), uacPort = Sipp.freePort();
        Map<String, Map<String, Object>> model = new HashMap<>();
        model.put("org.openrm.lrg~default", Map.of("max.attempts", 1, "monitor.interval.ms", 300, "monitor.timeout.ms", 200,
                "monitor.down.after", 2));
        model.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + mcp, "capacity", 40));
        try (Proc traps = snmptrapd(dir, trap); Proc master = snmpd(dir, agentx, udp, trap);
             ProxyUnderTest rm = new ProxyUnderTest(p, model, Map.of("warmup.messages", 0))) {
            HealthMonitor health = new HealthMonitor(rm.states, TestConfigs.of(HealthMonitor.Config.class, Map.of("sync.interval.ms", 100)));
            health.catalog = rm.routing;
            health.pinger = rm.proxy;
            rm.proxy.health = health;
            SnmpAgent a = agent(rm, "tcp:127.0.0.1:" + agentx);
            health.addListener(a);
            rm.store.addListener(a);
            Sipp ms = Sipp.uas("snmp-mcp", "uas.xml", mcp, "u1");
            try {
                Sipp.awaitBound(mcp);
                await(a::registered, 10_000, "the sub-agent registers with snmpd");
                await(() -> rm.states.state("mcp") == ResourceState.IN_SERVICE && rm.states.get("mcp") != null
                        && rm.states.get("mcp").lastLatencyMs() >= 0, 5_000, "mcp answered a probe");

                // the walk through the master matches what routing knows (as rm:resources shows it)
                List<String> w = walk("snmpwalk", udp);
                List<String> bw = walk("snmpbulkwalk", udp);
                assertEquals(w, bw, "snmpwalk and snmpbulkwalk agree");
                ResourceCatalog.Entry e = rm.routing.resources().get(0);
                assertTrue(has(w, ".1.2.1.2.1", "\"" + e.name() + "\""), String.join("\n", w));
                assertTrue(has(w, ".1.2.1.3.1", "\"default\""), String.join("\n", w));
                assertTrue(has(w, ".1.2.1.4.1", e.uri()), String.join("\n", w));
                assertTrue(has(w, ".1.2.1.5.1", "INTEGER: 1"), "in service: " + String.join("\n", w));
                assertTrue(has(w, ".1.2.1.7.1", "Gauge32: 40"), String.join("\n", w));
                assertTrue(has(w, ".1.3.1.2.1", "\"default\"") && has(w, ".1.3.1.4.1", "Gauge32: 1"), String.join("\n", w));
                assertTrue(has(w, ".1.1.2.0", "\"1\"") && has(w, ".1.1.1.0", "\"test\""), String.join("\n", w));
                assertTrue(w.size() >= 20 && w.stream().allMatch(l -> l.startsWith("." + ROOT)), String.join("\n", w));

                // Prometheus' snmp_exporter with the shipped module reads the resource metrics through the master
                int exporterPort = Sipp.freePort();
                try (Proc exporter = new Proc(new ProcessBuilder("/usr/bin/prometheus-snmp-exporter",
                        "--config.file=" + Path.of("../../etc/snmp/openrm-snmp-exporter.yml").toAbsolutePath(),
                        "--web.listen-address=127.0.0.1:" + exporterPort))) {
                    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
                    java.net.URI uri = java.net.URI.create("http://127.0.0.1:" + exporterPort + "/snmp?module=openrm&target=127.0.0.1:" + udp);
                    String[] body = {""};
                    await(() -> {
                        try {
                            body[0] = http.send(java.net.http.HttpRequest.newBuilder(uri).build(),
                                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
                            return body[0].contains("openrm_snmp_resource_capacity");
                        } catch (Exception ex) {
                            return false;
                        }
                    }, 10_000, "snmp_exporter scrape");
                    assertTrue(body[0].contains("openrm_snmp_resource_capacity{group=\"default\",openrmResourceIndex=\"1\",resource=\"mcp\"} 40"), body[0]);
                    assertTrue(body[0].contains("openrm_snmp_resource_state{group=\"default\",openrmResourceIndex=\"1\",resource=\"mcp\"} 1"), body[0]);
                    assertTrue(body[0].contains("openrm_snmp_group_in_service{group=\"default\",openrmGroupIndex=\"1\"} 1"), body[0]);
                }

                // media server killed: resource-down reaches snmptrapd, then resource-up when it is back
                ms.kill();
                String down = ".1.3.6.1.6.3.1.1.4.1.0 = OID: ." + ROOT + ".0.1";
                String up = ".1.3.6.1.6.3.1.1.4.1.0 = OID: ." + ROOT + ".0.2";
                await(() -> traps.lines.stream().anyMatch(l -> l.contains(down)), 8_000, "resource-down trap: " + traps.lines);
                assertTrue(traps.lines.stream().anyMatch(l -> l.contains("\"mcp\"")), traps.lines.toString());
                ms = Sipp.uas("snmp-mcp2", "uas.xml", mcp, "u1");
                await(() -> traps.lines.stream().anyMatch(l -> l.contains(up)), 8_000, "resource-up trap: " + traps.lines);
                await(() -> rm.states.state("mcp") == ResourceState.IN_SERVICE, 5_000, "mcp back in service");

                // snmpd restarted under call load: the sub-agent registers again within 10 s, no call fails
                try (Sipp uac = Sipp.uac("snmp-uac", uacPort, p, "u1", 300, 30, 500)) {
                    Thread.sleep(2000);
                    master.close();
                    await(() -> !a.registered(), 5_000, "the sub-agent sees the master go");
                    long t0 = System.currentTimeMillis();
                    try (Proc master2 = snmpd(dir, agentx, udp, trap)) {
                        await(a::registered, 10_000, "the sub-agent registers again");
                        long took = System.currentTimeMillis() - t0;
                        System.out.printf("sub-agent registered again %d ms after snmpd restarted%n", took);
                        assertTrue(has(walk("snmpwalk", udp), ".1.2.1.2.1", "\"mcp\""));
                        assertEquals(0, uac.await(60), "no call failed: " + uac.errors());
                    }
                }
                rm.awaitIdle();
            } finally {
                ms.close();
                a.deactivate();
                health.deactivate();
            }
        }
    }

    @Test
    void aMasterThatSendsGarbageOrClosesMidPduGetsALogLineAndAReconnect() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress());
             ProxyUnderTest rm = new ProxyUnderTest(Sipp.freePort(), Map.of(), Map.of("warmup.messages", 0))) {
            AtomicInteger accepted = new AtomicInteger();
            Thread server = new Thread(() -> {
                try {
                    while (!fake.isClosed()) {
                        try (Socket s = fake.accept()) {
                            int n = accepted.incrementAndGet();
                            InputStream in = s.getInputStream();
                            in.read(new byte[20]); // the Open header
                            OutputStream out = s.getOutputStream();
                            if (n % 2 == 1) {
                                out.write(new byte[] {9, 18, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 4, 1, 2, 3, 4});
                            } else {
                                out.write(new byte[] {1, 18, 0x10, 0, 0, 0, 0, 1}); // closes inside the header
                            }
                            out.flush();
                        }
                    }
                } catch (IOException e) {
                    // closed
                }
            }, "fake-master");
            server.setDaemon(true);
            server.start();
            SnmpAgent a = agent(rm, "tcp:127.0.0.1:" + fake.getLocalPort());
            try {
                await(() -> accepted.get() >= 4, 10_000, "the sub-agent keeps reconnecting");
                assertTrue(a.agent.stats.parseErrors.get() >= 2, "parse errors counted: " + a.agent.stats.parseErrors.get());
                assertFalse(a.registered());
            } finally {
                a.deactivate();
            }
            Thread.sleep(100);
            assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("openrm-snmp")),
                    "no sub-agent thread left");
        }
    }
}
