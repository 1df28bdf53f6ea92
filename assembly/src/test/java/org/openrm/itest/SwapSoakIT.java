package org.openrm.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.activemq.broker.BrokerService;
import org.junit.After;
import org.junit.Test;

/**
 * The swap soak, short (issue 13): the unpacked appliance under steady sipp load over UDP and over TCP at once (two
 * SIP Servers, a UDP and a TCP media server behind one group), every openrm bundle updated in turn from the console
 * (the proxy logic twice), a real broker for the CDRs. No call fails, every call has exactly one CDR, the SIP
 * Server's TCP connection is the one it opened first, and nothing is left counted at the end.
 */
public class SwapSoakIT {
    private static final String[] BUNDLES = {"routing", "health", "billing", "ops", "snmp", "configsync", "cluster",
        "sip", "sip"};
    private static final int RATE = 30;
    private final Started started = new Started();
    private final Path sipp = Path.of(System.getProperty("openrm.sipp.dir"));

    @After
    public void stopAll() throws Exception {
        started.stopAll();
    }

    @Test
    public void everyBundleUpdatedUnderUdpAndTcpLoadLosesNoCallAndNoCdr() throws Exception {
        Path base = Path.of("target", "swap-soak-it").toAbsolutePath();
        if (Files.exists(base)) {
            try (var w = Files.walk(base)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(base);
        Process untar = new ProcessBuilder("tar", "xzf", System.getProperty("openrm.distribution"), "-C", base.toString(),
                "--strip-components=1").inheritIO().start();
        assertTrue(untar.waitFor(60, TimeUnit.SECONDS) && untar.exitValue() == 0);
        int sip = DistributionIT.freePort(), mcpU = DistributionIT.freePort(), mcpT = DistributionIT.freePort();
        int uacU = DistributionIT.freePort(), uacT = DistributionIT.freePort(), ssh = DistributionIT.freePort();
        int brokerPort = DistributionIT.freePort();
        Path etc = base.resolve("etc");
        ApplianceBillingIT.set(etc.resolve("org.openrm.sip.cfg"), "listen.port", Integer.toString(sip));
        Path res = etc.resolve("org.openrm.resource-mcp1.cfg");
        ApplianceBillingIT.set(res, "uri", "sip:127.0.0.1:" + mcpU);
        ApplianceBillingIT.set(res, "capacity", "1000");
        Files.writeString(etc.resolve("org.openrm.resource-mcp2.cfg"),
                "lrg = default\nuri = sip:127.0.0.1:" + mcpT + ";transport=tcp\ncapacity = 1000\n");
        ApplianceBillingIT.set(etc.resolve("org.openrm.lrg-default.cfg"), "monitor.interval.ms", "500");
        ApplianceBillingIT.set(etc.resolve("org.openrm.lrg-default.cfg"), "monitor.timeout.ms", "300");
        ApplianceBillingIT.set(etc.resolve("org.apache.karaf.shell.cfg"), "sshPort", Integer.toString(ssh));
        ApplianceBillingIT.set(etc.resolve("org.openrm.billing.cfg"), "broker.url", "tcp://127.0.0.1:" + brokerPort);
        ApplianceBillingIT.set(etc.resolve("org.openrm.ops.cfg"), "health.port", Integer.toString(DistributionIT.freePort()));
        ApplianceBillingIT.set(etc.resolve("org.openrm.ops.cfg"), "metrics.port", Integer.toString(DistributionIT.freePort()));
        ApplianceBillingIT.set(etc.resolve("org.openrm.snmp.cfg"), "master", "tcp:127.0.0.1:" + DistributionIT.freePort());
        Files.writeString(etc.resolve("users.properties"), "it = it-secret,_g_:admingroup\n"
                + "_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n");
        BrokerService broker = ApplianceBillingIT.broker(brokerPort);
        try {
            started.start(base, Map.of("OPENRM_JAVA_OPTS", "-Xms512m -Xmx512m -XX:+UseSerialGC"), base.resolve("bin/karaf").toString(),
                    "server");
            ApplianceBillingIT.awaitSip(sip, 120_000); // 200 once warm
            started.start(base, Map.of(), "sipp", "-sf", sipp.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcpU), "-t", "u1", "-nostdin");
            started.start(base, Map.of(), "sipp", "-sf", sipp.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcpT), "-t", "t1", "-nostdin");
            // both media servers answer health's pings before the load starts
            String ready = "";
            for (long end = System.currentTimeMillis() + 30_000; System.currentTimeMillis() < end
                    && !ready.matches("(?s).*media servers in service\\s+2 of 2.*"); Thread.sleep(500)) {
                ready = console(base, ssh, "rm:stats");
            }
            assertTrue("both media servers in service: " + ready, ready.matches("(?s).*media servers in service\\s+2 of 2.*"));
            Path udpDir = Files.createDirectories(base.resolve("uac-udp"));
            Path tcpDir = Files.createDirectories(base.resolve("uac-tcp"));
            Process udp = uac(udpDir, uacU, sip, "u1");
            Process tcp = uac(tcpDir, uacT, sip, "t1");
            Map<String, Long> took = new LinkedHashMap<>();
            Thread.sleep(4000);
            for (String b : BUNDLES) {
                String jar = System.getProperty("openrm." + b + ".jar");
                long t0 = System.nanoTime();
                String out = console(base, ssh, "bundle:update org.openrm." + b + " file:" + jar);
                took.merge(b, (System.nanoTime() - t0) / 1_000_000, Long::sum);
                assertTrue("bundle:update org.openrm." + b + ": " + out, !out.toLowerCase().contains("error"));
                Thread.sleep(2000);
            }
            Thread.sleep(3000);
            // the SIP Servers stop placing calls and end those in progress (sipp's graceful quit)
            signal(udp, "USR1");
            signal(tcp, "USR1");
            assertTrue("sipp UDP finished", udp.waitFor(60, TimeUnit.SECONDS));
            assertTrue("sipp TCP finished", tcp.waitFor(60, TimeUnit.SECONDS));
            long okU = stat(udpDir, "SuccessfulCall(C)"), failU = stat(udpDir, "FailedCall(C)");
            long okT = stat(tcpDir, "SuccessfulCall(C)"), failT = stat(tcpDir, "FailedCall(C)");
            System.out.println("swap soak: UDP " + okU + " calls, " + failU + " failed; TCP " + okT + " calls, " + failT
                    + " failed; console round trip per bundle (ms, bin/client's start included) " + took);
            String log = Files.readString(base.resolve("data/log/karaf.log"), StandardCharsets.ISO_8859_1);
            assertEquals("UDP calls failed across the updates: " + errors(udpDir), 0, failU);
            assertEquals("TCP calls failed across the updates: " + errors(tcpDir), 0, failT);
            assertEquals(0, udp.exitValue());
            assertEquals(0, tcp.exitValue());
            assertTrue("calls were placed: " + okU + "/" + okT, okU > 20L * RATE && okT > 20L * RATE);
            assertTrue("the proxy logic was replaced twice", count(log, "Proxy logic attached to the SIP stack") >= 3);
            String stats = "";
            for (long end = System.currentTimeMillis() + 30_000; System.currentTimeMillis() < end; Thread.sleep(500)) {
                stats = console(base, ssh, "rm:stats");
                if (idle(stats)) {
                    break;
                }
            }
            // every call ended has exactly one CDR
            List<String> cdrs = ApplianceBillingIT.cdrList(brokerPort);
            Set<String> ids = new HashSet<>();
            Pattern id = Pattern.compile("\"callId\":\"([^\"]+)\"");
            int dup = 0;
            for (String c : cdrs) {
                Matcher m = id.matcher(c);
                if (m.find() && !ids.add(m.group(1))) {
                    dup++;
                }
            }
            System.out.println("swap soak: " + cdrs.size() + " CDRs, " + ids.size() + " calls, " + dup + " duplicates; "
                    + stats.replace('\n', ' '));
            assertEquals("no CDR twice", 0, dup);
            assertEquals("one CDR per call", okU + okT, ids.size());
            assertTrue("nothing left counted: " + stats, idle(stats));
            Matcher accepted = Pattern.compile("(?m)^sip tcp.accepted\\s+(\\d+)").matcher(stats);
            assertTrue("rm:stats shows the TCP connections accepted: " + stats, accepted.find());
            assertEquals("the TCP SIP Server's one connection stayed open through every update", "1", accepted.group(1));
            // no counter drift: the proxy logic's counters live in the stack bundle, every revision counts into them
            Matcher invites = Pattern.compile("(?m)^sip invites\\s+(\\d+)").matcher(stats);
            assertTrue("rm:stats shows the INVITEs received: " + stats, invites.find());
            assertTrue("INVITEs counted across the logic's updates: " + invites.group(1) + " for " + (okU + okT) + " calls",
                    Long.parseLong(invites.group(1)) >= okU + okT);
        } finally {
            broker.stop();
        }
    }

    /** rm:stats says no call in progress and no port in use. */
    private static boolean idle(String stats) {
        return Pattern.compile("(?m)^calls in progress\\s+0\\s*$").matcher(stats).find()
                && Pattern.compile("(?m)^ports in use\\s+0 of").matcher(stats).find();
    }

    private Process uac(Path dir, int port, int target, String transport) throws IOException {
        return started.start(dir, Map.of(), "sipp", "-sf", sipp.resolve("uac.xml").toString(), "-i", "127.0.0.1", "-p",
                Integer.toString(port), "-t", transport, "-s", "5551234", "-r", Integer.toString(RATE), "-m", "1000000",
                "-d", "1000", "-nostdin", "-trace_err", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
                "127.0.0.1:" + target);
    }

    private static void signal(Process p, String sig) throws Exception {
        new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
    }

    private static long stat(Path dir, String column) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("stat.csv"));
        List<String> head = List.of(lines.get(0).split(";"));
        String[] last = lines.get(lines.size() - 1).split(";");
        return Long.parseLong(last[head.indexOf(column)].trim());
    }

    private static String errors(Path dir) throws IOException {
        StringBuilder b = new StringBuilder();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(x -> x.toString().endsWith("errors.log")).toList()) {
                String t = Files.readString(f, StandardCharsets.ISO_8859_1);
                b.append(t, 0, Math.min(t.length(), 3000));
            }
        }
        return b.toString();
    }

    private static int count(String s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    private static String console(Path base, int ssh, String command) throws Exception {
        Process p = new ProcessBuilder(base.resolve("bin/client").toString(), "-a", Integer.toString(ssh), "-u", "it",
                "-p", "it-secret", "-r", "10", "-d", "1", command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue("bin/client " + command, p.waitFor(60, TimeUnit.SECONDS));
        return out;
    }
}
