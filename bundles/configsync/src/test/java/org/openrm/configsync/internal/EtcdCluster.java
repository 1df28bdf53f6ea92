package org.openrm.configsync.internal;

import java.io.File;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Real etcd members (Debian {@code etcd-server}) on free loopback ports, each with its own data directory, started and
 * stopped by a test. Members can be killed and started again on the same ports and data.
 */
public final class EtcdCluster implements AutoCloseable {
    private final Path dir;
    private final int size;
    private final int[] client;
    private final int[] peer;
    private final Process[] procs;

    public EtcdCluster(int size) throws Exception {
        this.size = size;
        this.dir = Files.createTempDirectory("openrm-etcd");
        this.client = new int[size];
        this.peer = new int[size];
        this.procs = new Process[size];
        for (int i = 0; i < size; i++) {
            client[i] = freePort();
            peer[i] = freePort();
        }
        for (int i = 0; i < size; i++) {
            start(i);
        }
        for (int i = 0; i < size; i++) {
            awaitHealthy(i, 30_000);
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private String initialCluster() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < size; i++) {
            b.append(i == 0 ? "" : ",").append("m").append(i).append("=http://127.0.0.1:").append(peer[i]);
        }
        return b.toString();
    }

    /** Starts (or restarts) member i on its ports and data directory. */
    public void start(int i) throws IOException {
        Path data = dir.resolve("m" + i);
        ProcessBuilder pb = new ProcessBuilder("etcd", "--name", "m" + i, "--data-dir", data.toString(),
                "--listen-client-urls", "http://127.0.0.1:" + client[i], "--advertise-client-urls", "http://127.0.0.1:" + client[i],
                "--listen-peer-urls", "http://127.0.0.1:" + peer[i], "--initial-advertise-peer-urls", "http://127.0.0.1:" + peer[i],
                "--initial-cluster", initialCluster(), "--initial-cluster-token", dir.getFileName().toString(),
                "--initial-cluster-state", "new", "--heartbeat-interval", "50", "--election-timeout", "500")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("m" + i + ".log").toFile()));
        procs[i] = pb.start();
    }

    /** SIGKILL of member i. */
    public void kill(int i) throws InterruptedException {
        if (procs[i] != null) {
            procs[i].destroyForcibly();
            procs[i].waitFor(10, TimeUnit.SECONDS);
            procs[i] = null;
        }
    }

    public void awaitHealthy(int i, long maxMs) throws Exception {
        long end = System.currentTimeMillis() + maxMs;
        while (System.currentTimeMillis() < end) {
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + client[i] + "/health").toURL().openConnection();
                c.setConnectTimeout(500);
                c.setReadTimeout(1000);
                if (c.getResponseCode() == 200
                        && new String(c.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).contains("true")) {
                    return; // a member that has a leader
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError("etcd member " + i + " not healthy in " + maxMs + " ms; log: " + dir.resolve("m" + i + ".log"));
    }

    public int clientPort(int i) {
        return client[i];
    }

    /** Waits until every running member is healthy (has a leader): after a kill, the election is over. */
    public void awaitHealthy(long maxMs) throws Exception {
        for (int i = 0; i < size; i++) {
            if (procs[i] != null) {
                awaitHealthy(i, maxMs);
            }
        }
    }

    public String endpoint(int i) {
        return "http://127.0.0.1:" + client[i];
    }

    /** Every member's endpoint, comma-separated. */
    public String endpoints() {
        List<String> l = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            l.add(endpoint(i));
        }
        return String.join(",", l);
    }

    /** Runs etcdctl against the members that are up; its output. */
    public String ctl(String... args) throws Exception {
        return ctlInput(null, args);
    }

    public String ctlInput(String stdin, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("etcdctl", "--endpoints=" + endpoints(), "--dial-timeout=2s", "--command-timeout=5s"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("ETCDCTL_API", "3");
        Process p = pb.start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("etcdctl " + String.join(" ", args) + " failed: " + out);
        }
        return out;
    }

    public Path dir() {
        return dir;
    }

    @Override
    public void close() throws Exception {
        for (int i = 0; i < size; i++) {
            kill(i);
        }
        try (var w = Files.walk(dir)) {
            w.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }
}
