package org.openrm.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.Test;
import org.openrm.configsync.internal.EtcdCluster;

/**
 * The appliance following a three-member etcd cluster (real members on loopback) under sipp load: the seeded model
 * routes calls, edits are in force within a second, invalid changes are refused whole, the member in use is killed,
 * the whole cluster stops for 30 s, openrm is cut off while etcd changes and compacts, and a restart with etcd away
 * starts from the cached model. No call of the steady load may fail.
 */
public class ConfigSyncIT {
    private static final String PREFIX = "/openrm/it/";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Started started = new Started();
    private Path base;
    private int ssh;

    private String console(String command) throws Exception {
        Process p = new ProcessBuilder(base.resolve("bin/client").toString(), "-a", Integer.toString(ssh), "-u", "it", "-p",
                "it-secret", "-r", "10", "-d", "1", command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue("bin/client " + command, p.waitFor(60, TimeUnit.SECONDS));
        return out;
    }

    private String log() throws IOException {
        Path l = base.resolve("data/log/karaf.log");
        return Files.exists(l) ? Files.readString(l, StandardCharsets.ISO_8859_1) : "";
    }

    /** Waits for a log line matching {@code regex} after offset {@code from}; the match. */
    private Matcher awaitLog(int from, String regex, long maxMs) throws Exception {
        Pattern p = Pattern.compile(regex);
        long end = System.currentTimeMillis() + maxMs;
        while (System.currentTimeMillis() < end) {
            String l = log();
            Matcher m = p.matcher(l);
            if (m.find(Math.min(from, l.length()))) {
                return m;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no log line /" + regex + "/ within " + maxMs + " ms; log tail:\n" + Started.tail(log(), 4000));
    }

    private static long logTime(String line) {
        return LocalDateTime.parse(line.substring(0, 23), DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss,SSS"))
                .atZone(ZoneId.systemDefault()).toInstant().toEpochMilli();
    }

    /** etcdctl put; the revision it made. */
    private static long put(EtcdCluster etcd, String key, String json) throws Exception {
        return JSON.readTree(etcd.ctl("put", PREFIX + key, json, "-w", "json")).path("header").path("revision").asLong();
    }

    private static long del(EtcdCluster etcd, String key) throws Exception {
        return JSON.readTree(etcd.ctl("del", PREFIX + key, "-w", "json")).path("header").path("revision").asLong();
    }

    /**
     * Puts a change and waits until config sync has it in force and routing rebuilt: the ms from the put to sync's
     * line and to routing's line.
     */
    private long[] putAndAwait(EtcdCluster etcd, String key, String json, boolean delete) throws Exception {
        int from = log().length();
        long t0 = System.currentTimeMillis();
        long rev = delete ? del(etcd, key) : put(etcd, key, json);
        Matcher sync = awaitLog(from, "(?m)^(\\S+ \\S+|\\S+)[^\\n]*Config sync: model of revision " + rev + " in force", 10_000);
        // routing rebuilds as soon as the marker says applied, which may be logged before sync's own line
        Matcher routing = awaitLog(from, "(?m)^([^\\n]*)Routing model applied", 10_000);
        return new long[] {logTime(sync.group()) - t0, logTime(routing.group()) - t0};
    }

    private long dialogsReceived(Path uasDir) throws IOException {
        long n = 0;
        try (var files = Files.list(uasDir)) {
            for (Path f : files.filter(x -> x.getFileName().toString().endsWith("_messages.log")).toList()) {
                Matcher m = Pattern.compile("(?m)^INVITE sip:").matcher(Files.readString(f, StandardCharsets.ISO_8859_1));
                while (m.find()) {
                    n++;
                }
            }
        }
        return n;
    }

    private static long[] sippCounts(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            Path stat = files.filter(x -> x.getFileName().toString().endsWith(".csv")).findFirst().orElseThrow();
            List<String> lines = Files.readAllLines(stat);
            List<String> head = List.of(lines.get(0).split(";"));
            String[] last = lines.get(lines.size() - 1).split(";");
            return new long[] {Long.parseLong(last[head.indexOf("SuccessfulCall(C)")]), Long.parseLong(last[head.indexOf("FailedCall(C)")])};
        }
    }

    /** The distribution unpacked into target/{@code name}. */
    private void unpack(String name) throws Exception {
        base = Path.of("target", name).toAbsolutePath();
        if (Files.exists(base)) {
            try (var w = Files.walk(base)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(base);
        Process untar = new ProcessBuilder("tar", "xzf", System.getProperty("openrm.distribution"), "-C", base.toString(),
                "--strip-components=1").inheritIO().start();
        assertTrue(untar.waitFor(60, TimeUnit.SECONDS) && untar.exitValue() == 0);
        ssh = DistributionIT.freePort();
    }

    /**
     * Every port of the appliance free-chosen, the etc/ media server one nobody runs, config sync on {@code endpoints}
     * under {@link #PREFIX}; the configsync configuration file.
     */
    private Path configure(int sip, String endpoints) throws Exception {
        Path etc = base.resolve("etc");
        ApplianceBillingIT.set(etc.resolve("org.openrm.sip.cfg"), "listen.port", Integer.toString(sip));
        ApplianceBillingIT.set(etc.resolve("org.openrm.resource-mcp1.cfg"), "uri", "sip:127.0.0.1:" + DistributionIT.freePort());
        ApplianceBillingIT.set(etc.resolve("org.apache.karaf.shell.cfg"), "sshPort", Integer.toString(ssh));
        ApplianceBillingIT.set(etc.resolve("org.openrm.billing.cfg"), "broker.url", "tcp://127.0.0.1:" + DistributionIT.freePort());
        ApplianceBillingIT.set(etc.resolve("org.openrm.ops.cfg"), "health.port", Integer.toString(DistributionIT.freePort()));
        ApplianceBillingIT.set(etc.resolve("org.openrm.ops.cfg"), "metrics.port", Integer.toString(DistributionIT.freePort()));
        ApplianceBillingIT.set(etc.resolve("org.openrm.snmp.cfg"), "master", "tcp:127.0.0.1:" + DistributionIT.freePort());
        Path sync = etc.resolve("org.openrm.configsync.cfg");
        ApplianceBillingIT.set(sync, "endpoints", endpoints);
        ApplianceBillingIT.set(sync, "prefix", PREFIX);
        ApplianceBillingIT.set(sync, "node.id", "it-node");
        ApplianceBillingIT.set(sync, "backoff.max.ms", "1000");
        ApplianceBillingIT.set(sync, "timeout.ms", "1000");
        Files.writeString(etc.resolve("users.properties"), "it = it-secret,_g_:admingroup\n"
                + "_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n");
        return sync;
    }

    private void stopAll() throws InterruptedException {
        started.stopAll();
    }

    /** etcd's JSON gateway, for what etcdctl would do one process per key: a token and transactions of 128 puts. */
    private static final class Gateway {
        private final java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        private final String endpoint;
        private String token = "";

        Gateway(String endpoint, String user, String password) throws Exception {
            this.endpoint = endpoint;
            if (user != null) {
                token = JSON.readTree(post("/v3/auth/authenticate", JSON.createObjectNode().put("name", user)
                        .put("password", password).toString())).path("token").asText();
            }
        }

        String post(String path, String body) throws Exception {
            var req = java.net.http.HttpRequest.newBuilder(java.net.URI.create(endpoint + path))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
            if (!token.isEmpty()) {
                req.header("Authorization", token);
            }
            var resp = http.send(req.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(resp.body(), 200, resp.statusCode());
            return resp.body();
        }

        private static String b64(String s) {
            return java.util.Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
        }

        /** Puts every key in transactions of 128; the revision of the last. */
        long putAll(Map<String, String> kv) throws Exception {
            long rev = 0;
            List<Map.Entry<String, String>> all = new ArrayList<>(kv.entrySet());
            for (int i = 0; i < all.size(); i += 128) {
                var txn = JSON.createObjectNode();
                var ops = txn.putArray("success");
                for (Map.Entry<String, String> e : all.subList(i, Math.min(all.size(), i + 128))) {
                    ops.addObject().putObject("request_put").put("key", b64(PREFIX + e.getKey())).put("value", b64(e.getValue()));
                }
                rev = JSON.readTree(post("/v3/kv/txn", txn.toString())).path("header").path("revision").asLong();
            }
            return rev;
        }
    }

    /** Two appliances started at once against an empty prefix: one default group, two node entries; one killed. */
    @Test
    public void twoNodesStartingAtOnceOnAnEmptyPrefix() throws Exception {
        try (EtcdCluster etcd = new EtcdCluster(1)) {
            List<Process> karafs = new ArrayList<>();
            List<Path> homes = new ArrayList<>();
            for (String node : List.of("rm-a", "rm-b")) {
                unpack("configsync-two-" + node);
                Path sync = configure(DistributionIT.freePort(), etcd.endpoint(0));
                ApplianceBillingIT.set(sync, "node.id", node);
                ApplianceBillingIT.set(sync, "lease.ttl.s", "3");
                homes.add(base);
            }
            Map<String, String> env = Map.of("OPENRM_JAVA_OPTS", "-Xms256m -Xmx256m -XX:+UseSerialGC");
            for (Path home : homes) {
                karafs.add(started.start(home, env, home.resolve("bin/karaf").toString(), "server"));
            }
            long end = System.currentTimeMillis() + 120_000;
            String nodes = "";
            while (System.currentTimeMillis() < end && !(nodes.contains("nodes/rm-a") && nodes.contains("nodes/rm-b"))) {
                nodes = etcd.ctl("get", "--prefix", PREFIX + "nodes/", "--keys-only");
                Thread.sleep(250);
            }
            assertTrue("two node entries: " + nodes, nodes.contains("nodes/rm-a") && nodes.contains("nodes/rm-b"));
            String groups = etcd.ctl("get", "--prefix", PREFIX + "lrg/", "--keys-only").trim();
            assertEquals(PREFIX + "lrg/default", groups);
            assertEquals("the default group written once", 1,
                    JSON.readTree(etcd.ctl("get", PREFIX + "lrg/default", "-w", "json")).path("kvs").get(0).path("version").asInt());
            // both nodes route by the model from etcd (the default group, no media server: none of etc/'s)
            for (Path home : homes) {
                base = home;
                awaitLog(0, "Config sync: model of revision \\d+ in force", 60_000);
            }
            ProcessHandle jvm = karafs.get(0).descendants().filter(h -> h.info().command().orElse("").endsWith("java")).findFirst()
                    .orElse(karafs.get(0).toHandle());
            new ProcessBuilder("kill", "-9", Long.toString(jvm.pid())).inheritIO().start().waitFor();
            long died = System.currentTimeMillis();
            while (etcd.ctl("get", PREFIX + "nodes/rm-a", "--keys-only").contains("rm-a") && System.currentTimeMillis() - died < 15_000) {
                Thread.sleep(200);
            }
            long gone = System.currentTimeMillis() - died;
            System.out.printf("config sync: two nodes on an empty prefix: one default group; the killed node's entry gone after %d ms%n", gone);
            assertTrue("entry of the killed node still there after " + gone + " ms", gone < 10_000);
            assertTrue(etcd.ctl("get", PREFIX + "nodes/rm-b", "--keys-only").contains("rm-b"));
        } finally {
            stopAll();
        }
    }

    /**
     * etcd with authentication: a wrong password is one clear error and no password reaches the log; with the right
     * one, a model of 10,000 resources, 1,000 tenants and 1,000 profiles loads and validates, and a change to it is in
     * force soon after its put. Prints the figures for bench/README.md.
     */
    @Test
    public void aLargeModelFromAnEtcdWithAuthentication() throws Exception {
        unpack("configsync-scale-it");
        int sip = DistributionIT.freePort();
        try (EtcdCluster etcd = new EtcdCluster(1)) {
            etcd.ctl("user", "add", "root", "--new-user-password=Root-pw-71");
            etcd.ctl("role", "add", "root");
            etcd.ctl("user", "grant-role", "root", "root");
            etcd.ctl("user", "add", "openrm", "--new-user-password=Right-pw-42");
            etcd.ctl("role", "add", "openrm");
            etcd.ctl("role", "grant-permission", "openrm", "--prefix=true", "readwrite", PREFIX);
            etcd.ctl("user", "grant-role", "openrm", "openrm");
            etcd.ctl("auth", "enable");
            Gateway gw = new Gateway(etcd.endpoint(0), "root", "Root-pw-71");
            Map<String, String> model = new java.util.LinkedHashMap<>();
            for (int g = 0; g < 10; g++) {
                model.put("lrg/g" + g, "{\"scheme\":\"least-used\",\"monitor\":\"none\"}");
            }
            for (int i = 0; i < 10_000; i++) {
                model.put("resource/r" + i, "{\"lrg\":\"g" + (i % 10) + "\",\"uri\":\"sip:127.0.0.1:" + (30_000 + i)
                        + "\",\"capacity\":120}");
            }
            for (int i = 0; i < 1_000; i++) {
                model.put("tenant/t" + i, i < 10 ? "{\"limit\":1000}" : "{\"parent\":\"t" + (i % 10) + "\",\"limit\":50}");
                model.put("profile/p" + i, "{\"tenant\":\"t" + i + "\",\"url\":\"http://apps/p" + i + ".vxml\",\"dids\":\""
                        + (5_000_000 + i) + "\"}");
            }
            gw.putAll(model);

            Path sync = configure(sip, etcd.endpoint(0));
            ApplianceBillingIT.set(sync, "username", "openrm");
            ApplianceBillingIT.set(sync, "password", "Wrong-pw-13");
            Map<String, String> env = Map.of("OPENRM_JAVA_OPTS", "-Xms1g -Xmx1g -XX:+UseParallelGC");
            started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            ApplianceBillingIT.awaitSip(sip, 90_000);
            Matcher refused = awaitLog(0, "(?m)^.*Config sync: the config server refused openrm: .*$", 30_000);
            assertTrue(refused.group(), refused.group().contains("authentication failed"));
            String status = console("rm:config-status");
            assertTrue(status, status.contains("authentication failed"));

            int from = log().length();
            long t0 = System.currentTimeMillis();
            Path secret = base.resolve("etc/etcd.secret");
            Files.writeString(secret, "Right-pw-42\n");
            ApplianceBillingIT.set(sync, "password.file", secret.toString());
            ApplianceBillingIT.set(sync, "password", ""); // file install hands the change to config sync
            Matcher loaded = awaitLog(from, "(?m)^.*Config sync: model of revision \\d+ in force \\(read of (\\d+) keys: "
                    + "\\d+ configurations, \\d+ written, \\d+ deleted, (\\d+) ms\\).*$", 300_000);
            Matcher built = awaitLog(loaded.start(), "(?m)^.*Routing model applied: \\d+ resource groups, 10000 resources, 1000 tenants, 1000 IVR profiles.*$", 120_000);
            long total = logTime(built.group()) - t0;
            // the model, and the default group the config handler adds when the prefix has none
            assertTrue(loaded.group(1), Integer.parseInt(loaded.group(1)) >= model.size());

            // a change to the large model: put to in force
            int before = log().length();
            long p0 = System.currentTimeMillis();
            long rev = JSON.readTree(gw.post("/v3/kv/put", JSON.createObjectNode().put("key", Gateway.b64(PREFIX + "tenant/t500"))
                    .put("value", Gateway.b64("{\"parent\":\"t0\",\"limit\":7}")).toString())).path("header").path("revision").asLong();
            Matcher changed = awaitLog(before, "(?m)^.*Config sync: model of revision " + rev + " in force.*$", 30_000);
            Matcher rebuilt = awaitLog(before, "(?m)^.*Routing model applied: \\d+ resource groups, 10000 resources.*$", 30_000);
            long change = Math.max(logTime(changed.group()), logTime(rebuilt.group())) - p0;
            System.out.printf("config sync scale: %s keys (10,000 resources, 1,000 tenants, 1,000 profiles) read, validated and "
                    + "written in %s ms; password fixed to routing model built %d ms; one tenant put to in force %d ms%n",
                    loaded.group(1), loaded.group(2), total, change);
            String tenants = console("rm:tenants t500");
            assertTrue(tenants, Pattern.compile("(?m)^\\s*t500\\b[^0-9\\n]*t0\\D+\\d+\\D+7\\b").matcher(tenants).find());
            String all = log();
            assertFalse("a password in the log", all.contains("Wrong-pw-13") || all.contains("Right-pw-42"));
            assertFalse("a password on the console", console("rm:config-status").contains("Right-pw-42"));
        } finally {
            stopAll();
        }
    }

    @Test
    public void theModelFollowsAThreeMemberEtcdUnderLoad() throws Exception {
        unpack("configsync-it");
        int sip = DistributionIT.freePort(), mcpA = DistributionIT.freePort(), mcpB = DistributionIT.freePort();
        int uacPort = DistributionIT.freePort(), uac2Port = DistributionIT.freePort();
        Path sippDir = Path.of(System.getProperty("openrm.sipp.dir"));
        List<Cutter> cutters = new ArrayList<>();
        try (EtcdCluster etcd = new EtcdCluster(3)) {
            List<String> eps = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Cutter c = new Cutter(DistributionIT.freePort(), etcd.clientPort(i));
                cutters.add(c);
                eps.add("http://127.0.0.1:" + c.port);
            }
            // the model seeded in etcd; the etc/ files of the distribution name a media server nobody runs
            put(etcd, "lrg/default", "{\"scheme\":\"round-robin\",\"monitor.interval.ms\":500,\"monitor.timeout.ms\":300}");
            put(etcd, "resource/a", "{\"lrg\":\"default\",\"uri\":\"sip:127.0.0.1:" + mcpA + "\",\"capacity\":500}");
            put(etcd, "resource/b", "{\"lrg\":\"default\",\"uri\":\"sip:127.0.0.1:" + mcpB + "\",\"capacity\":500}");
            put(etcd, "tenant/acme", "{\"limit\":400}");
            put(etcd, "tenant/small", "{\"limit\":200,\"reject.code\":486,\"reject.reason\":\"Busy Here\"}");
            put(etcd, "profile/welcome", "{\"tenant\":\"acme\",\"url\":\"http://apps/welcome.vxml\",\"dids\":[\"5551234\"]}");
            put(etcd, "profile/promo", "{\"tenant\":\"small\",\"url\":\"http://apps/promo.vxml\",\"dids\":\"5550000\"}");
            put(etcd, "routing", "{\"retry.after.s\":2}");

            Path sync = configure(sip, String.join(",", eps));
            ApplianceBillingIT.set(sync, "lease.ttl.s", "3");
            Map<String, String> env = Map.of("OPENRM_JAVA_OPTS", "-Xms512m -Xmx512m -XX:+UseParallelGC");

            Path uasA = Files.createTempDirectory("openrm-it-uas-a"), uasB = Files.createTempDirectory("openrm-it-uas-b");
            Path work = Files.createTempDirectory("openrm-it-uac"), work2 = Files.createTempDirectory("openrm-it-uac2");
            started.start(uasA, Map.of(), "sipp", "-sf", sippDir.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcpA), "-nostdin", "-trace_msg");
            started.start(uasB, Map.of(), "sipp", "-sf", sippDir.resolve("uas.xml").toString(), "-i", "127.0.0.1", "-p",
                    Integer.toString(mcpB), "-nostdin", "-trace_msg");
            Process karaf = started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            ApplianceBillingIT.awaitSip(sip, 90_000);
            awaitLog(0, "Config sync: model of revision \\d+ in force \\(read of 8 keys", 30_000);
            String route = console("rm:route 5551234");
            assertTrue(route, route.contains("welcome") && (route.contains("Resource:    a") || route.contains("Resource:    b")));
            String export = console("rm:config-export");
            assertTrue(export, export.contains("etcdctl put '" + PREFIX + "resource/a' '{\"capacity\":500,\"lrg\":\"default\",\"uri\":\"sip:127.0.0.1:" + mcpA + "\"}'"));
            assertTrue(export, export.contains("etcdctl put '" + PREFIX + "profile/welcome' '{\"dids\":\"5551234\","));
            assertFalse("etc/ files are not the model while sync owns it: " + export, export.contains("mcp1"));
            String entry = etcd.ctl("get", PREFIX + "nodes/it-node", "--print-value-only");
            assertTrue("node entry: " + entry, entry.contains("\"sipPort\":\"" + sip + "\""));
            assertTrue(etcd.ctl("get", PREFIX + "lrg/default", "--print-value-only").contains("round-robin"));
            // both media servers in service before the load (probes every 500 ms)
            String resources = "";
            boolean both = false;
            for (long end = System.currentTimeMillis() + 20_000; !both && System.currentTimeMillis() < end; ) {
                resources = console("rm:resources");
                both = Pattern.compile("(?m)^\\s*a\\b.*in-service").matcher(resources).find()
                        && Pattern.compile("(?m)^\\s*b\\b.*in-service").matcher(resources).find();
            }
            assertTrue("both media servers in service: " + resources, both);

            // the steady load: every one of these calls must succeed, whatever happens to etcd
            Process uac = started.start(work, Map.of(), "sipp", "-sf", sippDir.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uacPort), "-s", "5551234", "-r", "40", "-d", "1000", "-nostdin", "-trace_err",
                    "-trace_stat", "-stf", "stat.csv", "-fd", "1", "127.0.0.1:" + sip);
            Thread.sleep(3000);

            // a profile edited in etcd: the next call follows it within a second
            long[] t = putAndAwait(etcd, "profile/welcome", "{\"tenant\":\"acme\",\"url\":\"http://apps/welcome2.vxml\","
                    + "\"dids\":[\"5551234\",\"5559999\"]}", false);
            System.out.printf("config sync: profile edit in force %d ms after the put (routing rebuilt at %d ms)%n", t[0], t[1]);
            assertTrue("profile edit applied in " + t[1] + " ms", t[1] <= 1000);
            route = console("rm:route 5559999");
            assertTrue(route, route.contains("welcome"));

            // a resource deleted: no new call goes to it (calls in progress there end normally)
            t = putAndAwait(etcd, "resource/b", null, true);
            System.out.printf("config sync: resource delete in force %d ms after the delete%n", t[1]);
            assertTrue(t[1] <= 1000);
            Thread.sleep(500);
            long atB = dialogsReceived(uasB);
            Thread.sleep(3000);
            assertEquals("INVITEs that reached the deleted media server", atB, dialogsReceived(uasB));

            // each kind of invalid change refused whole: one log line naming the key, the old model kept
            String[][] invalid = {
                {"resource/bad", "{\"lrg\":\"nope\",\"uri\":\"sip:127.0.0.1:1\"}", "resource/bad: lrg: names resource group 'nope'"},
                {"tenant/acme", "{\"limit\":400,\"parent\":\"child\"}", "parent"},
                {"resource/bad", "{\"uri\":\"http://mcp\"}", "resource/bad: uri: 'http://mcp' is not a SIP URI"},
                {"tenant/bad", "{\"limit\":-3}", "tenant/bad: limit: must not be negative"},
                {"resource/bad", "{\"uri\": \"sip:127.0.0.1:1\"", "resource/bad: is not JSON"},
                {"resource/bad", "{\"uri\":\"sip:127.0.0.1:1\",\"capacty\":5}", "resource/bad: capacty: is not a key of org.openrm.resource"}};
            put(etcd, "tenant/child", "{\"parent\":\"acme\"}"); // valid; the cycle comes with acme's parent
            for (String[] bad : invalid) {
                int from = log().length();
                String key = bad[0];
                String old = etcd.ctl("get", PREFIX + key, "--print-value-only").trim();
                put(etcd, key, bad[1]);
                Matcher m = awaitLog(from, "(?m)^.*Config sync: change refused, the last good model stays in force: .*"
                        + Pattern.quote(bad[2]) + ".*$", 5_000);
                assertTrue(m.group(), m.group().contains(PREFIX));
                String status = console("rm:config-status");
                assertTrue(status, status.contains("last refusal") && status.contains(bad[2]));
                if (old.isEmpty()) {
                    del(etcd, key);
                } else {
                    put(etcd, key, old);
                }
            }
            t = putAndAwait(etcd, "tenant/child", null, true);
            route = console("rm:route 5551234");
            assertTrue("the model in force after the refusals: " + route, route.contains("welcome") && route.contains("Resource:    a"));

            // a tenant limit lowered under load: admissions follow it, calls in progress are not cut
            Process uac2 = started.start(work2, Map.of(), "sipp", "-sf", sippDir.resolve("uac.xml").toString(), "-i", "127.0.0.1",
                    "-p", Integer.toString(uac2Port), "-s", "5550000", "-r", "20", "-d", "2000", "-m", "400", "-nostdin",
                    "-trace_err", "127.0.0.1:" + sip);
            Thread.sleep(3000);
            String before = console("rm:tenants");
            putAndAwait(etcd, "tenant/small", "{\"limit\":5,\"reject.code\":486,\"reject.reason\":\"Busy Here\"}", false);
            List<Integer> usage = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Thread.sleep(500);
                Matcher u = Pattern.compile("(?m)^\\s*small\\b[^0-9\\n]*(\\d+)").matcher(console("rm:tenants"));
                if (u.find()) {
                    usage.add(Integer.parseInt(u.group(1)));
                }
            }
            assertTrue(uac2.waitFor(60, TimeUnit.SECONDS));
            String errs = "";
            try (var files = Files.list(work2)) {
                for (Path f : files.filter(x -> x.getFileName().toString().endsWith("_errors.log")).toList()) {
                    errs += Files.readString(f, StandardCharsets.ISO_8859_1);
                }
            }
            System.out.printf("config sync: tenant limit 200 -> 5 under 20 calls/s x 2 s: usage before %s, after %s%n",
                    before.replaceAll("\\s+", " "), usage);
            assertTrue("calls rejected at the new limit: " + Started.tail(errs, 4000), errs.contains("486"));
            // every unexpected message sipp saw answers an INVITE (the new limit); none ends a call in progress
            Matcher unexpected = Pattern.compile("received '(SIP/2.0 \\d+)[^']*?CSeq:\\s*(\\d+ \\w+)").matcher(errs);
            int atInvite = 0;
            while (unexpected.find()) {
                assertEquals("a call in progress was cut: " + unexpected.group(), "1 INVITE", unexpected.group(2));
                atInvite++;
            }
            assertTrue(atInvite > 0);
            assertTrue("usage settles at the new limit: " + usage, usage.get(usage.size() - 1) <= 5);

            // the member openrm talks to is killed under load: it moves on, misses no change
            String status = console("rm:config-status");
            Matcher ep = Pattern.compile("endpoint\\s+http://127.0.0.1:(\\d+)").matcher(status);
            assertTrue(status, ep.find());
            int inUse = -1;
            for (int i = 0; i < 3; i++) {
                if (cutters.get(i).port == Integer.parseInt(ep.group(1))) {
                    inUse = i;
                }
            }
            etcd.kill(inUse);
            long killed = System.currentTimeMillis();
            etcd.awaitHealthy(30_000); // a put made during the election may hang until etcdctl's timeout
            t = putAndAwait(etcd, "resource/b", "{\"lrg\":\"default\",\"uri\":\"sip:127.0.0.1:" + mcpB + "\",\"capacity\":500}", false);
            System.out.printf("config sync: member %d killed; the next change in force %d ms after its put (%d ms after the kill)%n",
                    inUse, t[1], System.currentTimeMillis() - killed);
            status = console("rm:config-status");
            assertFalse(status, status.contains("127.0.0.1:" + cutters.get(inUse).port + "/"));
            etcd.start(inUse);
            etcd.awaitHealthy(inUse, 30_000);

            // the whole etcd cluster stopped for 30 s: calls keep flowing; it comes back and changes apply
            for (int i = 0; i < 3; i++) {
                etcd.kill(i);
            }
            Thread.sleep(30_000);
            for (int i = 0; i < 3; i++) {
                etcd.start(i);
            }
            for (int i = 0; i < 3; i++) {
                etcd.awaitHealthy(i, 30_000);
            }
            t = putAndAwait(etcd, "profile/promo", "{\"tenant\":\"small\",\"url\":\"http://apps/promo2.vxml\",\"dids\":\"5550000\"}", false);
            System.out.printf("config sync: etcd back after 30 s away; a change in force %d ms after its put%n", t[1]);

            // openrm cut off while etcd changes and compacts: it re-reads everything when it is back
            cutters.forEach(c -> {
                try {
                    c.cut();
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            });
            Thread.sleep(1000);
            put(etcd, "tenant/small", "{\"limit\":7}");
            long rev = del(etcd, "routing");
            rev = put(etcd, "resource/c", "{\"lrg\":\"default\",\"uri\":\"sip:127.0.0.1:" + mcpB + "0\",\"enabled\":false}");
            etcd.ctl("compact", Long.toString(rev));
            int from = log().length();
            for (Cutter c : cutters) {
                c.restore();
            }
            awaitLog(from, "was compacted on the config server", 15_000);
            awaitLog(from, "Config sync: model of revision " + rev + " in force \\(read of", 15_000);
            String tenants = console("rm:tenants");
            Matcher small = Pattern.compile("(?m)^\\s*small\\b[^0-9\\n]*(\\d+)\\D+(\\d+)").matcher(tenants);
            assertTrue("the change made while cut off: " + tenants, small.find() && small.group(2).equals("7"));

            // the steady load saw none of it
            uac.destroy(); // SIGTERM: sipp stops and writes its counts
            uac.waitFor(30, TimeUnit.SECONDS);
            long[] counts = sippCounts(work);
            System.out.printf("config sync: steady load of 40 calls/s: %d calls succeeded, %d failed%n", counts[0], counts[1]);
            assertTrue(counts[0] > 2000);
            assertEquals("calls of the steady load that failed", 0, counts[1]);

            // a node that dies: its entry goes with its lease; started again with etcd away, it serves the cached model
            List<ProcessHandle> jvms = new ArrayList<>(karaf.descendants().filter(h -> h.info().command().orElse("").endsWith("java")).toList());
            if (karaf.info().command().orElse("").endsWith("java")) {
                jvms.add(karaf.toHandle());
            }
            new ProcessBuilder("kill", "-9", Long.toString(jvms.get(0).pid())).inheritIO().start().waitFor();
            long died = System.currentTimeMillis();
            while (!etcd.ctl("get", PREFIX + "nodes/it-node").isBlank() && System.currentTimeMillis() - died < 15_000) {
                Thread.sleep(200);
            }
            long gone = System.currentTimeMillis() - died;
            System.out.printf("config sync: node entry gone %d ms after the node died (lease TTL 3 s)%n", gone);
            assertTrue("node entry still there " + gone + " ms after the kill", gone < 10_000);
            karaf.waitFor(10, TimeUnit.SECONDS);
            for (Cutter c : cutters) {
                c.cut();
            }
            from = log().length();
            started.start(base, env, base.resolve("bin/karaf").toString(), "server");
            ApplianceBillingIT.awaitSip(sip, 90_000);
            awaitLog(from, "starting from the last good model cached at", 30_000);
            route = console("rm:route 5551234");
            assertTrue("routes by the cached model: " + route, route.contains("welcome"));
            String all = log();
            assertFalse("config sync failed: " + Started.tail(all, 4000), all.contains("Config sync failed"));
        } finally {
            for (Cutter c : cutters) {
                c.close();
            }
            stopAll();
        }
    }
}
