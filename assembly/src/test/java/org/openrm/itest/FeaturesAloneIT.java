package org.openrm.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.Test;

/**
 * Each openrm feature installed alone on a plain Karaf 4.4.10 (the Apache distribution, not the appliance), from
 * openrm's features repository: its bundles go Active, its commented default configuration lands in etc/
 * (openrm-X = openrm-X-core + configfile), and no openrm bundle logs an ERROR.
 */
public class FeaturesAloneIT {
    /** Feature, the configuration files it brings, and a log line that shows it working ("" for none). */
    private static final List<Object[]> FEATURES = List.of(
            new Object[] {"openrm-api", List.of(), "", List.of("org.openrm.api")},
            new Object[] {"openrm-routing", List.of("org.openrm.routing.cfg"),
                "Routing model applied", List.of("org.openrm.api", "org.openrm.routing")},
            new Object[] {"openrm-sip", List.of("org.openrm.sip.cfg"), "SIP proxy listening", List.of("org.openrm.api", "org.openrm.sip.stack", "org.openrm.sip")},
            new Object[] {"openrm-health", List.of("org.openrm.health.cfg"), "", List.of("org.openrm.api", "org.openrm.health")},
            new Object[] {"openrm-billing", List.of("org.openrm.billing.cfg"), "Billing to tcp://", List.of("org.openrm.api", "org.openrm.billing")},
            new Object[] {"openrm-ops", List.of("org.openrm.ops.cfg"), "ops: health probes", List.of("org.openrm.api", "org.openrm.ops")},
            new Object[] {"openrm-snmp", List.of("org.openrm.snmp.cfg"), "SNMP sub-agent for", List.of("org.openrm.api", "org.openrm.snmp")},
            new Object[] {"openrm-configsync", List.of("org.openrm.configsync.cfg"), "", List.of("org.openrm.api", "org.openrm.configsync")},
            new Object[] {"openrm-cluster", List.of("org.openrm.cluster.cfg"), "Cluster off", List.of("org.openrm.api", "org.openrm.cluster")});

    private static String run(Path dir, long seconds, String... cmd) throws Exception {
        return runWithInput(dir, seconds, null, cmd);
    }

    private static String runWithInput(Path dir, long seconds, String stdin, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        Process p = pb.start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return out;
    }

    private static void rm(Path d) throws IOException {
        if (Files.exists(d)) {
            try (var w = Files.walk(d)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    @Test
    public void everyFeatureInstallsAloneOnAPlainKaraf() throws Exception {
        Path zip = Path.of(System.getProperty("openrm.karaf.zip"));
        assertTrue("plain Karaf distribution at " + zip, Files.exists(zip));
        List<String> report = new ArrayList<>();
        for (Object[] f : FEATURES) {
            String feature = (String) f[0];
            @SuppressWarnings("unchecked") List<String> cfgs = (List<String>) f[1];
            String marker = (String) f[2];
            @SuppressWarnings("unchecked") List<String> bundles = (List<String>) f[3];
            Path base = Path.of("target", "plain-" + feature).toAbsolutePath();
            rm(base);
            Files.createDirectories(base);
            run(base, 60, "unzip", "-q", zip.toString(), "-d", base.toString());
            Path home = base.resolve("apache-karaf-4.4.10");
            int ssh = DistributionIT.freePort();
            Path shell = home.resolve("etc/org.apache.karaf.shell.cfg");
            Files.writeString(shell, Files.readString(shell).replaceAll("(?m)^sshPort *=.*", "sshPort = " + ssh)
                    .replaceAll("(?m)^sshHost *=.*", "sshHost = 127.0.0.1"));
            Path mgmt = home.resolve("etc/org.apache.karaf.management.cfg");
            Files.writeString(mgmt, Files.readString(mgmt)
                    .replaceAll("(?m)^rmiRegistryPort *=.*", "rmiRegistryPort = " + DistributionIT.freePort())
                    .replaceAll("(?m)^rmiServerPort *=.*", "rmiServerPort = " + DistributionIT.freePort()));
            // the test's own console user on this throw-away instance (the plain distribution ships none)
            Files.writeString(home.resolve("etc/users.properties"),
                    "it = it-" + System.nanoTime() + ",_g_:admingroup\n_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n");
            String password = Files.readString(home.resolve("etc/users.properties")).split("[=,]")[1].trim();
            // features that listen or dial out: their configuration placed first, on ports of the test's choosing,
            // which also checks that the feature keeps an operator's existing file (configfile override=false)
            Map<String, String> preset = switch (feature) {
                case "openrm-sip" -> Map.of("org.openrm.sip.cfg", "listen.port = " + DistributionIT.freePort() + "\n");
                case "openrm-ops" -> Map.of("org.openrm.ops.cfg", "health.port = " + DistributionIT.freePort()
                        + "\nmetrics.port = " + DistributionIT.freePort() + "\n");
                case "openrm-snmp" -> Map.of("org.openrm.snmp.cfg", "master = tcp:127.0.0.1:" + DistributionIT.freePort() + "\n");
                case "openrm-billing" -> Map.of("org.openrm.billing.cfg", "broker.url = tcp://127.0.0.1:" + DistributionIT.freePort() + "\n");
                default -> Map.of();
            };
            for (Map.Entry<String, String> e : preset.entrySet()) {
                Files.writeString(home.resolve("etc").resolve(e.getKey()), "# set by the test\n" + e.getValue());
            }
            ProcessBuilder pb = new ProcessBuilder(home.resolve("bin/start").toString()).directory(home.toFile());
            pb.environment().putAll(Map.of("KARAF_OPTS", "-Dkaraf.startLocalConsole=false"));
            assertEquals(0, pb.start().waitFor());
            try {
                Path log = home.resolve("data/log/karaf.log");
                String[] client = {home.resolve("bin/client").toString(), "-a", Integer.toString(ssh), "-h", "127.0.0.1",
                    "-u", "it", "-p", password, "-r", "10", "-d", "2", "-b"};
                // the operator's console commands, once the console answers
                long end = System.currentTimeMillis() + 90_000;
                String list = "";
                while (!list.contains("org.apache.karaf.features.command") && System.currentTimeMillis() < end) {
                    list = runWithInput(home, 60, "bundle:list -s -t 0\n", client);
                }
                String install = runWithInput(home, 180, "feature:repo-add mvn:org.openrm/openrm-features/"
                        + System.getProperty("openrm.version") + "/xml/features\nfeature:install " + feature + "\n", client);
                end = System.currentTimeMillis() + 90_000;
                boolean ok = false;
                while (!ok && System.currentTimeMillis() < end) {
                    String out = runWithInput(home, 30, "bundle:list -s -t 0\n", client);
                    list = out;
                    ok = bundles.stream().allMatch(b -> out.lines().anyMatch(l -> l.contains(b) && l.contains("Active")))
                            && (marker.isEmpty() || (Files.exists(log) && Files.readString(log).contains(marker)));
                    if (!ok) {
                        Thread.sleep(1000);
                    }
                }
                String logText = Files.exists(log) ? Files.readString(log) : "";
                assertTrue(feature + ": bundles " + bundles + " Active and '" + marker + "' logged; feature:install said:\n"
                        + install + "\nbundle:list says:\n" + list + "\nkaraf.log (without ssh logins):\n"
                        + Started.tail(logText.lines().filter(l -> !l.contains("authenticated")).collect(java.util.stream.Collectors.joining("\n")), 6000), ok);
                for (String c : cfgs) {
                    Path cfg = home.resolve("etc").resolve(c);
                    String text = Files.exists(cfg) ? Files.readString(cfg) : "";
                    if (preset.containsKey(c)) {
                        assertEquals(feature + " kept the existing " + c, "# set by the test\n" + preset.get(c), text);
                    } else {
                        assertTrue(feature + " brings its commented " + c, text.contains("# ") && text.length() > 200);
                    }
                }
                List<String> errors = logText.lines().filter(l -> l.contains("| ERROR") && l.contains("org.openrm")).toList();
                assertTrue(feature + ": ERROR lines of openrm bundles:\n" + String.join("\n", errors), errors.isEmpty());
                report.add(feature + " ok");
            } finally {
                run(home, 60, home.resolve("bin/stop").toString());
                long end = System.currentTimeMillis() + 30_000;
                while (System.currentTimeMillis() < end && !run(home, 10, home.resolve("bin/status").toString()).contains("Not Running")) {
                    Thread.sleep(500);
                }
            }
        }
        System.out.println("features alone on plain Karaf 4.4.10: " + report);
    }

}
