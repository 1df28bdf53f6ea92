package org.openrm.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.configureConsole;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.karafDistributionConfiguration;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.keepRuntimeFolder;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.logLevel;

import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import javax.inject.Inject;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import org.apache.karaf.shell.api.console.SessionFactory;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.openrm.api.ResourceLedger;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStates;
import org.openrm.api.SessionStore;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.karaf.options.LogLevelOption.LogLevel;
import org.ops4j.pax.exam.options.extra.VMOption;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * Boots the freshly built distribution, checks every openrm bundle and component, talks SIP to it, and
 * swaps the sip and routing bundles while sipp holds calls through it.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class DistributionIT {
    private static final String[] OPENRM_BUNDLES = {"org.openrm.api", "org.openrm.routing", "org.openrm.sip.stack", "org.openrm.sip",
        "org.openrm.health", "org.openrm.billing", "org.openrm.ops"};

    @Inject
    BundleContext context;

    @Inject
    SessionStore sessions;

    @Inject
    ResourceLedger ledger;

    @Inject
    SessionFactory sessionFactory;

    @Inject
    ResourceStates states;

    @Inject
    org.apache.karaf.features.FeaturesService features;

    /** Runs a console command as an operator would and returns what it printed. */
    private String console(String command) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8);
        org.apache.karaf.shell.api.console.Session s = sessionFactory.create(System.in, ps, ps);
        try {
            s.execute(command);
        } catch (Exception e) {
            ps.println("Error executing command: " + e.getMessage()); // as the console shows it
        } finally {
            s.close();
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** A loopback port free for TCP and UDP, below the ephemeral range so no outgoing socket takes it. */
    static int freePort() throws Exception {
        java.util.Random r = new java.util.Random();
        for (int i = 0; i < 500; i++) {
            int p = 20_000 + r.nextInt(12_000);
            try (ServerSocket s = new ServerSocket(p, 1, InetAddress.getLoopbackAddress());
                 DatagramSocket d = new DatagramSocket(p, InetAddress.getLoopbackAddress())) {
                return p;
            } catch (java.io.IOException busy) {
                // try another
            }
        }
        throw new IllegalStateException("no free port");
    }

    @Configuration
    public Option[] config() throws Exception {
        String dist = System.getProperty("openrm.distribution");
        int sip = freePort();
        int mcp = freePort();
        int health = freePort();
        int metrics = freePort();
        String karaf = "4.4.10";
        List<Option> o = new ArrayList<>(List.of(
                karafDistributionConfiguration().frameworkUrl(new File(dist).toURI().toString())
                        .unpackDirectory(new File("target/exam")).useDeployFolder(false).karafVersion(karaf)
                        .name("openrm"),
                keepRuntimeFolder(),
                configureConsole().ignoreLocalConsole(),
                logLevel(LogLevel.INFO),
                editConfigurationFilePut("etc/org.openrm.sip.cfg", "listen.port", Integer.toString(sip)),
                editConfigurationFilePut("etc/org.openrm.resource-mcp1.cfg", "uri", "sip:127.0.0.1:" + mcp),
                editConfigurationFilePut("etc/org.openrm.lrg-default.cfg", "monitor.interval.ms", "500"),
                editConfigurationFilePut("etc/org.openrm.lrg-default.cfg", "monitor.timeout.ms", "300"),
                editConfigurationFilePut("etc/org.apache.karaf.shell.cfg", "sshPort", Integer.toString(freePort())),
                editConfigurationFilePut("etc/org.openrm.ops.cfg", "health.port", Integer.toString(health)),
                editConfigurationFilePut("etc/org.openrm.ops.cfg", "metrics.port", Integer.toString(metrics)),
                editConfigurationFilePut("etc/org.openrm.snmp.cfg", "master", "tcp:127.0.0.1:" + freePort()),
                systemProperty("openrm.it.health.port").value(Integer.toString(health)),
                systemProperty("openrm.it.metrics.port").value(Integer.toString(metrics)),
                systemProperty("openrm.it.sip.port").value(Integer.toString(sip)),
                systemProperty("openrm.it.mcp.port").value(Integer.toString(mcp)),
                systemProperty("openrm.sip.jar").value(System.getProperty("openrm.sip.jar")),
                systemProperty("openrm.routing.jar").value(System.getProperty("openrm.routing.jar")),
                systemProperty("openrm.health.jar").value(System.getProperty("openrm.health.jar")),
                systemProperty("openrm.billing.jar").value(System.getProperty("openrm.billing.jar")),
                systemProperty("openrm.ops.jar").value(System.getProperty("openrm.ops.jar")),
                systemProperty("openrm.sipp.dir").value(System.getProperty("openrm.sipp.dir"))));
        // the JVM flags bin/karaf passes on Java 9+, which Pax Exam does not add by itself
        String[] flags = {
            "--add-reads=java.xml=java.logging",
            "--add-exports=java.base/org.apache.karaf.specs.locator=java.xml,ALL-UNNAMED",
            "--patch-module", "java.base=lib/endorsed/org.apache.karaf.specs.locator-" + karaf + ".jar",
            "--patch-module", "java.xml=lib/endorsed/org.apache.karaf.specs.java.xml-" + karaf + ".jar",
            "--add-opens", "java.base/java.security=ALL-UNNAMED",
            "--add-opens", "java.base/java.net=ALL-UNNAMED",
            "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "--add-opens", "java.base/java.util=ALL-UNNAMED",
            "--add-opens", "java.naming/javax.naming.spi=ALL-UNNAMED",
            "--add-opens", "java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.file=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.ftp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.content.text=ALL-UNNAMED",
            "--add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED",
            "--add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED",
            "-classpath", "lib/jdk9plus/*" + File.pathSeparator + "lib/boot/*",
        };
        for (String f : flags) {
            o.add(new VMOption(f));
        }
        return o.toArray(new Option[0]);
    }

    private Bundle bundle(String bsn) {
        for (Bundle b : context.getBundles()) {
            if (bsn.equals(b.getSymbolicName())) {
                return b;
            }
        }
        return null;
    }

    /** Every openrm bundle ACTIVE and every component of it ACTIVE (or satisfied for delayed components). */
    private void assertAllActive(long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        String problem = null;
        while (System.currentTimeMillis() < end) {
            problem = problems();
            if (problem == null) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(problem);
    }

    private String problems() {
        ServiceReference<ServiceComponentRuntime> ref = context.getServiceReference(ServiceComponentRuntime.class);
        ServiceComponentRuntime scr = context.getService(ref);
        try {
            for (String bsn : OPENRM_BUNDLES) {
                Bundle b = bundle(bsn);
                if (b == null || b.getState() != Bundle.ACTIVE) {
                    return bsn + " is not active";
                }
                int n = 0;
                for (ComponentDescriptionDTO d : scr.getComponentDescriptionDTOs(b)) {
                    n++;
                    var cs = scr.getComponentConfigurationDTOs(d);
                    if (cs.isEmpty()) {
                        return d.name + " has no configuration";
                    }
                    for (ComponentConfigurationDTO c : cs) {
                        if (c.state != ComponentConfigurationDTO.ACTIVE && c.state != ComponentConfigurationDTO.SATISFIED) {
                            return d.name + " is in state " + c.state;
                        }
                    }
                }
                if (n == 0) {
                    return bsn + " has no components";
                }
            }
            return null;
        } finally {
            context.ungetService(ref);
        }
    }

    /** Sends OPTIONS to openrm itself until a 200 comes back or the deadline passes. */
    private void assertOptions200(long timeoutMs) throws Exception {
        int port = Integer.getInteger("openrm.it.sip.port");
        long end = System.currentTimeMillis() + timeoutMs;
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            s.setSoTimeout(500);
            while (System.currentTimeMillis() < end) {
                String msg = "OPTIONS sip:127.0.0.1:" + port + " SIP/2.0\r\n"
                        + "Via: SIP/2.0/UDP 127.0.0.1:" + s.getLocalPort() + ";branch=z9hG4bK-it-" + System.nanoTime() + "\r\n"
                        + "From: <sip:it@127.0.0.1>;tag=it\r\nTo: <sip:127.0.0.1:" + port + ">\r\n"
                        + "Call-ID: it-" + System.nanoTime() + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                        + "Content-Length: 0\r\n\r\n";
                byte[] b = msg.getBytes(StandardCharsets.US_ASCII);
                s.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), port));
                byte[] buf = new byte[4096];
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                try {
                    s.receive(p);
                    String r = new String(buf, 0, p.getLength(), StandardCharsets.US_ASCII);
                    if (r.startsWith("SIP/2.0 200")) {
                        return;
                    }
                } catch (SocketTimeoutException e) {
                    // not yet listening: try again
                }
            }
        }
        throw new AssertionError("no 200 to OPTIONS on port " + port + " within " + timeoutMs + " ms");
    }

    /** Waits (at most {@code timeoutMs}) until media server {@code name} is in {@code state}. */
    private void awaitState(String name, ResourceState state, long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        while (states.state(name) != state && System.currentTimeMillis() < end) {
            Thread.sleep(50);
        }
        assertEquals(name + ": " + states.get(name), state, states.state(name));
    }

    /** A sipp media server on the port of mcp1, answering INVITE and OPTIONS. */
    private Process startMediaServer(Path work) throws Exception {
        Path sippDir = Path.of(System.getProperty("openrm.sipp.dir"));
        int mcp = Integer.getInteger("openrm.it.mcp.port");
        return new ProcessBuilder("sipp", "-sf", sippDir.resolve("uas.xml").toString(), "-i", "127.0.0.1",
                "-p", Integer.toString(mcp), "-nostdin", "-trace_err").directory(work.toFile())
                .redirectErrorStream(true).redirectOutput(work.resolve("uas.out").toFile()).start();
    }

    private void update(String bsn, String jarProperty) throws Exception {
        Bundle b = bundle(bsn);
        assertNotNull(bsn, b);
        try (InputStream in = new FileInputStream(System.getProperty(jarProperty))) {
            b.update(in);
        }
    }

    /** HTTP GET on loopback: status code and body. */
    private static String[] http(int port, String path) throws Exception {
        java.net.HttpURLConnection c = (java.net.HttpURLConnection) new java.net.URL("http://127.0.0.1:" + port + path).openConnection();
        c.setConnectTimeout(2000);
        c.setReadTimeout(5000);
        try {
            int code = c.getResponseCode();
            java.io.InputStream in = code >= 400 ? c.getErrorStream() : c.getInputStream();
            String body = in == null ? "" : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            return new String[] {Integer.toString(code), body};
        } catch (java.io.IOException e) {
            return new String[] {"0", e.toString()};
        } finally {
            c.disconnect();
        }
    }

    private static String[] awaitHttp(int port, String path, String code, long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        String[] r = http(port, path);
        while (!r[0].equals(code) && System.currentTimeMillis() < end) {
            Thread.sleep(100);
            r = http(port, path);
        }
        return r;
    }

    @Test
    public void probesStatusPageAndMetricsOnTheDistribution() throws Exception {
        assertAllActive(30_000);
        int health = Integer.getInteger("openrm.it.health.port");
        int metrics = Integer.getInteger("openrm.it.metrics.port");
        String[] live = awaitHttp(health, "/health/live", "200", 10_000);
        assertEquals(live[1], "200", live[0]);
        Process uas = startMediaServer(Files.createTempDirectory("openrm-it-ops"));
        try {
            String[] ready = awaitHttp(health, "/health/ready", "200", 15_000);
            assertEquals(ready[1], "200", ready[0]);
            String[] m = http(metrics, "/metrics");
            assertEquals("200", m[0]);
            assertTrue(m[1], m[1].contains("openrm_resource_state{group=\"default\",resource=\"mcp1\",state=\"in-service\"} 1"));
            assertTrue(m[1], m[1].contains("jvm_memory_used_bytes") && m[1].contains("openrm_calls_admitted_total"));
            String[] page = http(health, "/");
            assertTrue(page[1], page[1].contains("<td>mcp1</td>") && page[1].contains("in-service"));
            String stats = console("rm:stats");
            assertTrue(stats, stats.matches("(?s).*media servers in service +1 of 1.*"));
            // the last media server goes down: not ready, naming why; back: ready
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
            String[] notReady = awaitHttp(health, "/health/ready", "503", 5_000);
            assertEquals(notReady[1], "503", notReady[0]);
            assertTrue(notReady[1], notReady[1].contains("\"media-servers\""));
            assertEquals("200", http(health, "/health/live")[0]);
            uas = startMediaServer(Files.createTempDirectory("openrm-it-ops"));
            ready = awaitHttp(health, "/health/ready", "200", 10_000);
            assertEquals(ready[1], "200", ready[0]);
        } finally {
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
        }
    }

    /** Optional features uninstalled and installed again at runtime: the call path keeps working. */
    @Test
    public void optionalFeaturesComeAndGoWhileTheCallPathWorks() throws Exception {
        assertAllActive(30_000);
        Process uas = startMediaServer(Files.createTempDirectory("openrm-it-features"));
        try {
            awaitState("mcp1", ResourceState.IN_SERVICE, 10_000);
            String[][] optional = {{"openrm-health", "org.openrm.health"}, {"openrm-billing", "org.openrm.billing"},
                {"openrm-ops", "org.openrm.ops"}, {"openrm-snmp", "org.openrm.snmp"},
                {"openrm-configsync", "org.openrm.configsync"}, {"openrm-cluster", "org.openrm.cluster"}};
            for (String[] f : optional) {
                // what feature:uninstall does (the console's ACL hides the command from this test's session)
                // (no refresh: a refresh would restart this test's own probe bundle)
                features.uninstallFeature(f[0], java.util.EnumSet.of(org.apache.karaf.features.FeaturesService.Option.NoAutoRefreshBundles));
                String out = "";
                long end = System.currentTimeMillis() + 30_000;
                while (bundle(f[1]) != null && System.currentTimeMillis() < end) {
                    Thread.sleep(100);
                }
                assertTrue(f[0] + " uninstalled: " + out + " " + console("feature:list -i"), bundle(f[1]) == null);
                assertOptions200(60_000);
                String route = console("rm:route 5551234");
                assertTrue(f[0] + " away, routing still picks: " + route, route.contains("Resource:    mcp1"));
                features.installFeature(f[0], java.util.EnumSet.of(org.apache.karaf.features.FeaturesService.Option.NoAutoRefreshBundles));
                assertAllActive(60_000);
                assertOptions200(60_000);
            }
        } finally {
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    public void consoleShowsResourcesAndRoutes() throws Exception {
        assertAllActive(30_000);
        Process uas = startMediaServer(Files.createTempDirectory("openrm-it-console"));
        try {
            awaitState("mcp1", ResourceState.IN_SERVICE, 10_000);
            long end = System.currentTimeMillis() + 10_000;
            String resources = "";
            while (!(resources.contains("mcp1") && resources.contains("200")) && System.currentTimeMillis() < end) {
                resources = console("rm:resources");
                Thread.sleep(100);
            }
            assertTrue(resources, resources.contains("in-service") && resources.contains(" ms"));
            String route = console("rm:route 5551234");
            assertTrue(route, route.contains("Resource:    mcp1"));
            assertTrue(console("rm:sessions"), console("rm:sessions").contains("live sessions"));

            // drained by the operator, and still drained after the health bundle is swapped
            String out = console("rm:resource-disable mcp1");
            assertTrue(out, out.contains("disabled"));
            assertTrue(console("rm:resources"), console("rm:resources").contains("out-of-service"));
            assertTrue(console("rm:route 5551234"), console("rm:route 5551234").contains("503"));
            update("org.openrm.health", "openrm.health.jar");
            assertAllActive(30_000);
            Thread.sleep(1500); // a few probe rounds of the new health bundle
            assertEquals(ResourceState.OUT_OF_SERVICE, states.state("mcp1"));
            out = console("rm:resource-enable mcp1");
            assertTrue(out, out.contains("enabled"));
            awaitState("mcp1", ResourceState.IN_SERVICE, 5_000);
            out = console("rm:resource-disable nosuch");
            assertTrue(out, out.contains("No media server named 'nosuch'"));

            // the media server dies: down within down.after x interval + timeout (2 x 500 + 300 ms here)
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
            awaitState("mcp1", ResourceState.DOWN, 3_000);
            assertTrue(console("rm:resources"), console("rm:resources").contains("down"));
        } finally {
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    public void bootsAnswersAndSurvivesBundleUpdates() throws Exception {
        assertAllActive(30_000);
        for (Bundle b : context.getBundles()) {
            // file install takes a folder in etc/ for an exploded bundle: the distribution keeps none there
            assertTrue("bundle from etc/: " + b.getLocation(), !b.getLocation().contains("jardir:"));
        }
        assertOptions200(60_000);
        update("org.openrm.sip", "openrm.sip.jar");
        update("org.openrm.routing", "openrm.routing.jar");
        update("org.openrm.health", "openrm.health.jar");
        update("org.openrm.billing", "openrm.billing.jar");
        update("org.openrm.ops", "openrm.ops.jar");
        assertAllActive(30_000);
        assertOptions200(60_000);
        String billing = console("rm:billing");
        assertTrue(billing, billing.contains("Broker:") && billing.contains("Spool:"));
    }

    @Test
    public void callsInProgressSurviveUpdatesOfSipAndRouting() throws Exception {
        assertAllActive(30_000);
        assertOptions200(60_000);
        Path sippDir = Path.of(System.getProperty("openrm.sipp.dir"));
        Path work = Files.createTempDirectory("openrm-it-sipp");
        int sip = Integer.getInteger("openrm.it.sip.port");
        int mcp = Integer.getInteger("openrm.it.mcp.port");
        Process uas = startMediaServer(work);
        Process uac = null;
        try {
            awaitState("mcp1", ResourceState.IN_SERVICE, 10_000);
            // 20 calls held 8 s each: all are in progress while both bundles are swapped
            uac = new ProcessBuilder("sipp", "-sf", sippDir.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(freePort()), "-s", "5551234", "-m", "20", "-r", "20", "-d", "8000",
                    "-nostdin", "-trace_err", "127.0.0.1:" + sip).directory(work.toFile())
                    .redirectErrorStream(true).redirectOutput(work.resolve("uac.out").toFile()).start();
            long end = System.currentTimeMillis() + 10_000;
            while (sessions.sessions().stream().filter(s -> s.answered()).count() < 20 && System.currentTimeMillis() < end) {
                Thread.sleep(50);
            }
            assertEquals("calls answered before the update", 20, sessions.sessions().stream().filter(s -> s.answered()).count());
            assertEquals(20, ledger.inUse("mcp1"));
            update("org.openrm.sip", "openrm.sip.jar");
            update("org.openrm.routing", "openrm.routing.jar");
            update("org.openrm.health", "openrm.health.jar");
            assertAllActive(30_000);
            // the sessions and their ports live in the api bundle: untouched by the swap
            assertEquals(20, sessions.size());
            assertEquals(20, ledger.inUse("mcp1"));
            assertTrue("sipp UAC did not finish", uac.waitFor(60, TimeUnit.SECONDS));
            String errors = "";
            try (var files = Files.list(work)) {
                for (Path f : files.filter(x -> x.toString().endsWith("errors.log")).toList()) {
                    errors += Files.readString(f);
                }
            }
            assertEquals("sipp UAC failed calls across the update:\n" + errors, 0, uac.exitValue());
            end = System.currentTimeMillis() + 10_000;
            while ((sessions.size() > 0 || ledger.inUse("mcp1") > 0) && System.currentTimeMillis() < end) {
                Thread.sleep(50);
            }
            assertEquals(0, sessions.size());
            assertEquals(Map.of("mcp1", 0), Map.of("mcp1", ledger.inUse("mcp1")));
        } finally {
            if (uac != null) {
                uac.destroyForcibly();
            }
            uas.destroyForcibly();
            uas.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
