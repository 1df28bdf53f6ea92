package org.openrm.configsync.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The etcd client and the config handler against a real etcd (one member, then with authentication). */
class EtcdTest {
    private static EtcdCluster etcd;

    @BeforeAll
    static void start() throws Exception {
        etcd = new EtcdCluster(1);
    }

    @AfterAll
    static void stop() throws Exception {
        etcd.close();
    }

    private static Etcd client(String user, String password) {
        return new Etcd(List.of(URI.create(etcd.endpoint(0) + "/")), user, password, null, Duration.ofSeconds(3));
    }

    @Test
    void twoNodesStartingAtOnceMakeOneDefaultGroupAndTwoEntriesThatLeasesKeep() throws Exception {
        String prefix = "/openrm/two/";
        List<NodeEntry> nodes = new ArrayList<>();
        for (String id : List.of("rm-a", "rm-b")) {
            nodes.add(new NodeEntry(client(null, null), prefix, id, () -> "{\"node\":\"" + id + "\"}", 2, () -> { }, s -> { }));
        }
        nodes.forEach(NodeEntry::start);
        long end = System.currentTimeMillis() + 10_000;
        Etcd c = client(null, null);
        while (System.currentTimeMillis() < end && c.range(prefix + "nodes/").kvs().size() < 2) {
            Thread.sleep(50);
        }
        assertEquals(2, c.range(prefix + "nodes/").kvs().size(), "two node entries");
        Etcd.Range groups = c.range(prefix + "lrg/");
        assertEquals(1, groups.kvs().size());
        JsonNode g = Etcd.JSON.readTree(etcd.ctl("get", prefix + "lrg/default", "-w", "json"));
        assertEquals(1, g.path("kvs").get(0).path("version").asInt(), "the default group was written once: " + g);
        // the entries outlive their TTL while their nodes keep the leases
        Thread.sleep(3000);
        assertEquals(2, c.range(prefix + "nodes/").kvs().size());
        // a node that dies (no revoke): its entry goes when the lease expires
        nodes.get(0).stop(false);
        long died = System.currentTimeMillis();
        while (System.currentTimeMillis() - died < 10_000 && c.range(prefix + "nodes/").kvs().size() > 1) {
            Thread.sleep(100);
        }
        List<Etcd.Kv> left = c.range(prefix + "nodes/").kvs();
        assertEquals(List.of(prefix + "nodes/rm-b"), left.stream().map(Etcd.Kv::key).toList());
        long gone = System.currentTimeMillis() - died;
        assertTrue(gone <= 6000, "entry gone " + gone + " ms after the node died (TTL 2 s)");
        // a clean stop revokes at once
        nodes.get(1).stop(true);
        assertEquals(0, c.range(prefix + "nodes/").kvs().size());
    }

    @Test
    void aWatchFromACompactedRevisionSaysSo() throws Exception {
        Etcd c = client(null, null);
        long r1 = c.put("/openrm/compact/lrg/a", "{}", 0);
        c.put("/openrm/compact/lrg/a", "{\"scheme\":\"least-used\"}", 0);
        long r3 = c.put("/openrm/compact/lrg/a", "{}", 0);
        etcd.ctl("compact", Long.toString(r3));
        try (Etcd.Watch w = c.watch("/openrm/compact/", r1)) {
            JsonNode first = w.next();
            JsonNode res = first.path("compact_revision").asLong() > 0 ? first : w.next();
            assertTrue(res.path("compact_revision").asLong() >= r3 || res.path("canceled").asBoolean(), res.toString());
        }
        // and a watch from a kept revision delivers every change after it, puts and deletes
        long from = c.put("/openrm/compact/resource/x", "{\"uri\":\"sip:127.0.0.1:5070\"}", 0);
        c.delete("/openrm/compact/resource/x");
        try (Etcd.Watch w = c.watch("/openrm/compact/", from)) {
            List<String> seen = new ArrayList<>();
            while (seen.size() < 2) {
                for (JsonNode ev : w.next().path("events")) {
                    seen.add(ev.path("type").asText("PUT") + " " + Etcd.kv(ev.path("kv")).key());
                }
            }
            assertEquals(List.of("PUT /openrm/compact/resource/x", "DELETE /openrm/compact/resource/x"), seen);
        }
    }

    @Test
    void authenticationWithItsUserAndAClearErrorForAWrongPassword() throws Exception {
        EtcdCluster secure = new EtcdCluster(1);
        try {
            secure.ctl("user", "add", "root", "--new-user-password=root-pw-1");
            secure.ctl("role", "add", "root");
            secure.ctl("user", "grant-role", "root", "root");
            secure.ctl("user", "add", "openrm", "--new-user-password=s3cret-Pw");
            secure.ctl("role", "add", "openrm");
            secure.ctl("role", "grant-permission", "openrm", "--prefix=true", "readwrite", "/openrm/");
            secure.ctl("user", "grant-role", "openrm", "openrm");
            secure.ctl("auth", "enable");
            URI ep = URI.create(secure.endpoint(0) + "/");
            Etcd anonymous = new Etcd(List.of(ep), null, null, null, Duration.ofSeconds(3));
            Etcd.RefusedException noUser = assertThrows(Etcd.RefusedException.class, () -> anonymous.range("/openrm/"));
            assertTrue(noUser.getMessage().contains("user name is empty"), noUser.getMessage());
            Etcd good = new Etcd(List.of(ep), "openrm", "s3cret-Pw", null, Duration.ofSeconds(3));
            good.put("/openrm/auth/lrg/default", "{}", 0);
            assertEquals(1, good.range("/openrm/auth/").kvs().size());
            long lease = good.grant(5);
            assertTrue(good.keepAlive(lease));
            try (Etcd.Watch w = good.watch("/openrm/auth/", 1)) {
                assertNotNull(w.next());
            }
            Etcd bad = new Etcd(List.of(ep), "openrm", "wrong-Pw-9", null, Duration.ofSeconds(3));
            Etcd.RefusedException e = assertThrows(Etcd.RefusedException.class, () -> bad.range("/openrm/"));
            assertTrue(e.getMessage().contains("authentication failed"), e.getMessage());
            assertFalse(e.getMessage().contains("wrong-Pw-9"), "no password in the error: " + e.getMessage());
        } finally {
            secure.close();
        }
    }

    @Test
    void movesToTheNextEndpointWhenOneIsDown() throws Exception {
        int dead = EtcdCluster.freePort();
        Etcd c = new Etcd(List.of(URI.create("http://127.0.0.1:" + dead + "/"), URI.create(etcd.endpoint(0) + "/")), null, null,
                null, Duration.ofSeconds(2));
        c.put("/openrm/failover/lrg/x", "{}", 0);
        assertEquals(URI.create(etcd.endpoint(0) + "/"), c.endpoint());
        assertEquals(1, c.range("/openrm/failover/").kvs().size());
    }

    private static void run(java.nio.file.Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ": " + out);
    }

    @Test
    void mutualTlsWithPemFiles() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("openrm-etcd-tls");
        run(dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
                "-subj", "/CN=openrm-test-ca");
        // etcd's JSON gateway dials its own gRPC server with the server certificate: it needs clientAuth too
        java.nio.file.Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
        java.nio.file.Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        for (String who : List.of("server", "client")) {
            run(dir, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", who + ".key", "-out", who + ".csr", "-subj",
                    "/CN=" + (who.equals("server") ? "127.0.0.1" : "openrm"));
            run(dir, "openssl", "x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", who + ".pem", "-days", "1", "-extfile", who + ".ext");
        }
        int client = EtcdCluster.freePort(), peer = EtcdCluster.freePort();
        Process etcdTls = new ProcessBuilder("etcd", "--name", "tls", "--data-dir", dir.resolve("data").toString(),
                "--listen-client-urls", "https://127.0.0.1:" + client, "--advertise-client-urls", "https://127.0.0.1:" + client,
                "--listen-peer-urls", "http://127.0.0.1:" + peer, "--initial-advertise-peer-urls", "http://127.0.0.1:" + peer,
                "--initial-cluster", "tls=http://127.0.0.1:" + peer, "--cert-file", dir.resolve("server.pem").toString(),
                "--key-file", dir.resolve("server.key").toString(), "--trusted-ca-file", dir.resolve("ca.pem").toString(),
                "--client-cert-auth").redirectErrorStream(true).redirectOutput(dir.resolve("etcd.log").toFile()).start();
        try {
            URI ep = URI.create("https://127.0.0.1:" + client + "/");
            Etcd tls = new Etcd(List.of(ep), null, null, Tls.context(dir.resolve("ca.pem").toString(),
                    dir.resolve("client.pem").toString(), dir.resolve("client.key").toString()), Duration.ofSeconds(3));
            long end = System.currentTimeMillis() + 30_000;
            Etcd.Range r = null;
            java.io.IOException last = null;
            while (r == null && System.currentTimeMillis() < end) {
                try {
                    tls.put("/openrm/tls/lrg/default", "{}", 0);
                    r = tls.range("/openrm/tls/");
                } catch (java.io.IOException e) {
                    last = e;
                    Thread.sleep(200);
                }
            }
            assertNotNull(r, "no TLS answer from etcd: " + last);
            assertEquals(1, r.kvs().size());
            // without the client certificate etcd refuses the handshake
            Etcd noCert = new Etcd(List.of(ep), null, null, Tls.context(dir.resolve("ca.pem").toString(), "", ""), Duration.ofSeconds(3));
            assertThrows(java.io.IOException.class, () -> noCert.range("/openrm/tls/"));
        } finally {
            etcdTls.destroyForcibly();
            etcdTls.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            try (var w = java.nio.file.Files.walk(dir)) {
                w.sorted(java.util.Comparator.reverseOrder()).map(java.nio.file.Path::toFile).forEach(java.io.File::delete);
            }
        }
    }
}
