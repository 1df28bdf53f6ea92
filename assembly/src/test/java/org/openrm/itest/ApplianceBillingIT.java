package org.openrm.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jakarta.jms.Connection;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.broker.BrokerService;
import org.apache.activemq.store.kahadb.KahaDBPersistenceAdapter;
import org.junit.Test;

/**
 * The built appliance as an operator runs it ({@code bin/karaf server}), a real ActiveMQ broker, sipp calls:
 * billing is swapped with {@code bundle:update} under load, then the Karaf JVM is killed with SIGKILL and
 * started again. Every call that ended before the kill must have its CDR.
 */
public class ApplianceBillingIT {
    private final Started started = new Started();

    private static int freePort() throws Exception {
        return DistributionIT.freePort();
    }

    static void set(Path cfg, String key, String value) throws IOException {
        List<String> out = new ArrayList<>();
        boolean done = false;
        for (String l : Files.readAllLines(cfg)) {
            if (l.matches("\\s*" + Pattern.quote(key) + "\\s*=.*")) {
                out.add(key + " = " + value);
                done = true;
            } else {
                out.add(l);
            }
        }
        if (!done) {
            out.add(key + " = " + value);
        }
        Files.write(cfg, out);
    }

    static boolean options200(int port) throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            s.setSoTimeout(500);
            String msg = "OPTIONS sip:127.0.0.1:" + port + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + s.getLocalPort()
                    + ";branch=z9hG4bK-it-" + System.nanoTime() + "\r\nFrom: <sip:it@127.0.0.1>;tag=it\r\nTo: <sip:127.0.0.1:"
                    + port + ">\r\nCall-ID: it-" + System.nanoTime() + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    + "Content-Length: 0\r\n\r\n";
            byte[] b = msg.getBytes(StandardCharsets.US_ASCII);
            s.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), port));
            byte[] buf = new byte[4096];
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            s.receive(p);
            return new String(buf, 0, p.getLength(), StandardCharsets.US_ASCII).startsWith("SIP/2.0 200");
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    static void awaitSip(int port, long maxMs) throws Exception {
        long end = System.currentTimeMillis() + maxMs;
        while (System.currentTimeMillis() < end) {
            if (options200(port)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("openrm did not answer OPTIONS on " + port + " within " + maxMs + " ms");
    }

    /** Call-IDs whose BYE got its 200 at the sipp UAC: calls that ended, as the SIP Server saw it. */
    private static Set<String> endedCalls(Path sippDir) throws IOException {
        return answered(sippDir, "2 BYE");
    }

    /** Call-IDs whose INVITE got its 200 at the sipp UAC: calls openrm admitted and a media server answered. */
    private static Set<String> answeredCalls(Path sippDir) throws IOException {
        return answered(sippDir, "1 INVITE");
    }

    /** Call-IDs of the 200s the sipp UAC received for the request with {@code cseq} (its -trace_msg logs). */
    private static Set<String> answered(Path sippDir, String cseq) throws IOException {
        Set<String> out = new HashSet<>();
        Pattern callId = Pattern.compile("(?m)^Call-ID:\\s*(\\S+)");
        Pattern wanted = Pattern.compile("(?m)^CSeq:\\s*" + Pattern.quote(cseq));
        try (var files = Files.list(sippDir)) {
            for (Path f : files.filter(x -> x.getFileName().toString().endsWith("_messages.log")).toList()) {
                String log = Files.readString(f, StandardCharsets.ISO_8859_1);
                for (String block : log.split("----------------------------------------------- ")) {
                    if (block.contains("message received") && block.contains("SIP/2.0 200") && wanted.matcher(block).find()) {
                        Matcher m = callId.matcher(block);
                        if (m.find()) {
                            out.add(m.group(1));
                        }
                    }
                }
            }
        }
        return out;
    }

    static BrokerService broker(int port) throws Exception {
        Path brokerData = Files.createTempDirectory("openrm-it-broker");
        BrokerService broker = new BrokerService();
        broker.setBrokerName("it-" + port);
        broker.setUseJmx(false);
        broker.setAdvisorySupport(false);
        broker.setUseShutdownHook(false);
        broker.setDataDirectoryFile(brokerData.toFile());
        KahaDBPersistenceAdapter kaha = new KahaDBPersistenceAdapter();
        kaha.setDirectory(brokerData.resolve("kahadb").toFile());
        broker.setPersistenceAdapter(kaha);
        broker.addConnector("tcp://127.0.0.1:" + port);
        broker.start();
        return broker;
    }

    /** The CDRs on the broker's queue by Call-ID (the first of each), read until 8 s pass without one (at most 60 s). */
    private static Map<String, String> cdrs(int brokerPort) throws Exception {
        Map<String, String> cdrByCallId = new HashMap<>();
        for (String cdr : cdrList(brokerPort)) {
            Matcher id = Pattern.compile("\"callId\":\"([^\"]+)\"").matcher(cdr);
            if (id.find()) {
                cdrByCallId.putIfAbsent(id.group(1), cdr);
            }
        }
        return cdrByCallId;
    }

    /** Every CDR on the broker's queue, in order, read until 8 s pass without one (at most 60 s). */
    static List<String> cdrList(int brokerPort) throws Exception {
        List<String> out = new ArrayList<>();
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + brokerPort);
        try (Connection c = f.createConnection()) {
            c.start();
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer consumer = s.createConsumer(s.createQueue("openrm.cdr"));
            long end = System.currentTimeMillis() + 60_000;
            long quietSince = System.currentTimeMillis();
            while (System.currentTimeMillis() < end && System.currentTimeMillis() - quietSince < 8000) {
                Message m = consumer.receive(250);
                if (m instanceof TextMessage t) {
                    quietSince = System.currentTimeMillis();
                    out.add(t.getText());
                }
            }
        }
        return out;
    }

    /** The appliance's one Karaf JVM under the process bin/karaf started. */
    private static ProcessHandle jvm(Process karaf) {
        List<ProcessHandle> jvms = new ArrayList<>(karaf.descendants().filter(h -> h.info().command().orElse("").endsWith("java")).toList());
        if (karaf.info().command().orElse("").endsWith("java")) {
            jvms.add(karaf.toHandle());
        }
        assertEquals("one Karaf JVM: " + jvms, 1, jvms.size());
        return jvms.get(0);
    }

    /**
     * SIGTERM under load, as an orchestrator stops a node: new INVITEs get 503 with the drain's Retry-After, every
     * call in progress ends normally, the process exits as soon as they have (not at the drain timeout) with every
     * ended call's CDR on the broker.
     */
    @Test
    public void sigtermDrainsTheCallsInProgressThenExits() throws Exception {
        Path base = Path.of("target", "drain-it").toAbsolutePath();
        if (Files.exists(base)) {
            try (var w = Files.walk(base)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(base);
        Process untar = new ProcessBuilder("tar", "xzf", System.getProperty("openrm.distribution"), "-C", base.toString(),
                "--strip-components=1").inheritIO().start();
        assertTrue(untar.waitFor(60, TimeUnit.SECONDS) && untar.exitValue() == 0);
        int sip = freePort(), mcp = freePort(), brokerPort = freePort(), uacPort = freePort();
        Path etc = base.resolve("etc");
        set(etc.resolve("org.openrm.sip.cfg"), "listen.port", Integer.toString(sip));
        set(etc.resolve("org.openrm.resource-mcp1.cfg"), "uri", "sip:127.0.0.1:" + mcp);
        set(etc.resolve("org.openrm.resource-mcp1.cfg"), "capacity", "1000");
        set(etc.resolve("org.apache.karaf.shell.cfg"), "sshPort", Integer.toString(freePort()));
        set(etc.resolve("org.openrm.billing.cfg"), "broker.url", "tcp://127.0.0.1:" + brokerPort);
        set(etc.resolve("org.openrm.ops.cfg"), "health.port", Integer.toString(freePort()));
        set(etc.resolve("org.openrm.ops.cfg"), "metrics.port", Integer.toString(freePort()));
        set(etc.resolve("org.openrm.ops.cfg"), "drain.timeout.s", "60");
        set(etc.resolve("org.openrm.ops.cfg"), "drain.retry.after.s", "7");
        set(etc.resolve("org.openrm.snmp.cfg"), "master", "tcp:127.0.0.1:" + freePort());
        Map<String, String> env = Map.of("OPENRM_JAVA_OPTS", "-Xms512m -Xmx512m -XX:+UseParallelGC");
        BrokerService broker = broker(brokerPort);
        Path sippDir = Path.of(System.getProperty("openrm.sipp.dir"));
        Path work = Files.createTempDirectory("openrm-it-drain");
        try {
            Process karaf = started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            awaitSip(sip, 120_000);
            started.start(work, Map.of(), "sipp", "-sf", sippDir.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcp), "-nostdin", "-trace_err");
            Thread.sleep(500);
            // calls held 6 s, 20 a second: about 120 in progress when the node is told to stop
            Process uac = started.start(work, Map.of(), "sipp", "-sf", sippDir.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uacPort), "-s", "5551234", "-m", "600", "-r", "20", "-d", "6000",
                    "-nostdin", "-trace_err", "-trace_msg", "127.0.0.1:" + sip);
            Thread.sleep(9000);
            ProcessHandle jvm = jvm(karaf);
            new ProcessBuilder("kill", "-TERM", Long.toString(jvm.pid())).inheritIO().start().waitFor();
            long termAt = System.currentTimeMillis();
            boolean exited = jvm.onExit().toCompletableFuture().completeOnTimeout(null, 90, TimeUnit.SECONDS).join() != null
                    || !jvm.isAlive();
            long tookMs = System.currentTimeMillis() - termAt;
            assertTrue("the JVM exited within 90 s of SIGTERM", exited && !jvm.isAlive());
            Thread.sleep(2000);
            uac.destroy(); // SIGTERM: sipp closes its message trace
            if (!uac.waitFor(10, TimeUnit.SECONDS)) {
                uac.destroyForcibly();
                uac.waitFor(5, TimeUnit.SECONDS);
            }
            Set<String> answered = answeredCalls(work);
            Set<String> ended = endedCalls(work);
            Set<String> cut = new HashSet<>(answered);
            cut.removeAll(ended);
            String trace = "";
            try (var files = Files.list(work)) {
                for (Path f : files.filter(x -> x.getFileName().toString().endsWith("_messages.log")).toList()) {
                    trace += Files.readString(f, StandardCharsets.ISO_8859_1);
                }
            }
            Map<String, String> cdrByCallId = cdrs(brokerPort);
            Set<String> noCdr = new HashSet<>(ended);
            noCdr.removeAll(cdrByCallId.keySet());
            String log = Files.readString(base.resolve("data/log/karaf.log"));
            System.out.printf("SIGTERM drain: %d calls answered, %d ended with their BYE answered, %d cut; the JVM exited %d ms "
                    + "after SIGTERM; %d CDRs on the broker, %d ended calls without one%n", answered.size(), ended.size(),
                    cut.size(), tookMs, cdrByCallId.size(), noCdr.size());
            assertTrue("calls were in progress at SIGTERM: " + answered.size(), answered.size() > 100);
            assertEquals("admitted calls that did not end normally: " + cut, 0, cut.size());
            assertTrue("new INVITEs during the drain got 503 with the drain's Retry-After",
                    trace.contains("SIP/2.0 503") && trace.contains("Retry-After: 7"));
            // the calls were held 6 s: the node left when they had ended, long before drain.timeout.s (60)
            assertTrue("exited " + tookMs + " ms after SIGTERM", tookMs < 40_000);
            assertTrue("the shutdown drain was logged", log.contains("Shutdown drain done"));
            assertEquals("ended calls without a CDR on the broker: " + noCdr, 0, noCdr.size());
        } finally {
            started.stopAll();
            broker.stop();
        }
    }

    @Test
    public void noCdrLostAcrossABundleUpdateAndAKill() throws Exception {
        Path base = Path.of("target", "billing-it").toAbsolutePath();
        if (Files.exists(base)) {
            try (var w = Files.walk(base)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(base);
        Process untar = new ProcessBuilder("tar", "xzf", System.getProperty("openrm.distribution"), "-C", base.toString(),
                "--strip-components=1").inheritIO().start();
        assertTrue(untar.waitFor(60, TimeUnit.SECONDS) && untar.exitValue() == 0);
        int sip = freePort(), mcp = freePort(), ssh = freePort(), brokerPort = freePort(), uacPort = freePort();
        Path etc = base.resolve("etc");
        set(etc.resolve("org.openrm.sip.cfg"), "listen.port", Integer.toString(sip));
        set(etc.resolve("org.openrm.resource-mcp1.cfg"), "uri", "sip:127.0.0.1:" + mcp);
        set(etc.resolve("org.openrm.resource-mcp1.cfg"), "capacity", "1000");
        set(etc.resolve("org.apache.karaf.shell.cfg"), "sshPort", Integer.toString(ssh));
        set(etc.resolve("org.openrm.billing.cfg"), "broker.url", "tcp://127.0.0.1:" + brokerPort);
        // every listener and peer of the appliance on a port of the test's choosing
        set(etc.resolve("org.openrm.ops.cfg"), "health.port", Integer.toString(freePort()));
        set(etc.resolve("org.openrm.ops.cfg"), "metrics.port", Integer.toString(freePort()));
        set(etc.resolve("org.openrm.snmp.cfg"), "master", "tcp:127.0.0.1:" + freePort());
        Files.writeString(etc.resolve("users.properties"), "it = it-secret,_g_:admingroup\n"
                + "_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n");
        Map<String, String> env = Map.of("OPENRM_JAVA_OPTS", "-Xms512m -Xmx512m -XX:+UseParallelGC");

        BrokerService broker = broker(brokerPort);
        Path sippDir = Path.of(System.getProperty("openrm.sipp.dir"));
        Path work = Files.createTempDirectory("openrm-it-billing");
        try {
            Process karaf = started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            awaitSip(sip, 90_000);
            started.start(work, Map.of(), "sipp", "-sf", sippDir.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcp), "-nostdin", "-trace_err");
            Thread.sleep(500);
            Process uac = started.start(work, Map.of(), "sipp", "-sf", sippDir.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uacPort), "-s", "5551234", "-m", "100000", "-r", "50", "-d", "1000",
                    "-nostdin", "-trace_err", "-trace_msg", "127.0.0.1:" + sip);
            Thread.sleep(6000);
            // billing swapped under load, as an operator does it
            Process client = started.start(base, env, base.resolve("bin/client").toString(), "-a", Integer.toString(ssh), "-u", "it",
                    "-p", "it-secret", "-r", "10", "-d", "1", "bundle:update org.openrm.billing file:"
                            + System.getProperty("openrm.billing.jar"));
            assertTrue("bin/client did not finish", client.waitFor(60, TimeUnit.SECONDS));
            assertEquals("bundle:update through bin/client", 0, client.exitValue());
            Thread.sleep(6000);
            // SIGKILL of the Karaf JVM in the middle of the load
            new ProcessBuilder("kill", "-9", Long.toString(jvm(karaf).pid())).inheritIO().start().waitFor();
            long killedAt = System.currentTimeMillis();
            Thread.sleep(1000);
            uac.destroyForcibly();
            uac.waitFor(5, TimeUnit.SECONDS);
            karaf.waitFor(10, TimeUnit.SECONDS);
            Set<String> ended = endedCalls(work);

            // started again: the spool left by the killed JVM is delivered
            started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            awaitSip(sip, 90_000);
            Map<String, String> cdrByCallId = cdrs(brokerPort);
            Set<String> missing = new HashSet<>(ended);
            missing.removeAll(cdrByCallId.keySet());
            System.out.printf("appliance billing: %d calls ended before the kill (BYE answered at the SIP Server), "
                    + "CDRs of %d distinct calls received, %d ended calls without a CDR%n", ended.size(),
                    cdrByCallId.size(), missing.size());
            assertTrue("sipp saw calls end: " + ended.size(), ended.size() > 300);
            assertEquals("calls that ended before the kill without a CDR: " + missing, 0, missing.size());
            assertTrue(killedAt > 0);
        } finally {
            started.stopAll();
            broker.stop();
        }
    }
}
