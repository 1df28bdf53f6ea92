package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A sipp process on loopback, started by a test and always stopped by it. */
public final class Sipp implements AutoCloseable {
    public static final Path SCENARIOS = Path.of(System.getProperty("openrm.sipp.dir", "../../bench/sipp")).toAbsolutePath();

    public final Process process;
    public final Path dir;
    public final String name;
    /** The port a UAS was told to listen on ({@link #uas}); 0 for others. */
    public int port;

    private Sipp(Process process, Path dir, String name) {
        this.process = process;
        this.dir = dir;
        this.name = name;
    }

    /** Starts sipp with the given arguments in a fresh working directory (its logs land there). */
    public static Sipp start(String name, String... args) throws IOException {
        return start(name, false, args);
    }

    /** Starts sipp at the lowest CPU priority ({@code nice -n 19}). */
    public static Sipp startNice(String name, String... args) throws IOException {
        return start(name, true, args);
    }

    private static Sipp start(String name, boolean nice, String... args) throws IOException {
        Path dir = Files.createTempDirectory("openrm-sipp-" + name);
        List<String> cmd = new ArrayList<>();
        if (nice) {
            cmd.addAll(List.of("nice", "-n", "19"));
        }
        cmd.add("sipp");
        cmd.addAll(Arrays.asList(args));
        cmd.addAll(List.of("-nostdin", "-trace_err", "-trace_stat", "-stf", dir.resolve("stat.csv").toString(), "-fd", "1"));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectOutput(dir.resolve("stdout.txt").toFile()).redirectErrorStream(true);
        return new Sipp(pb.start(), dir, name);
    }

    /** A UAS media server on {@code port} ({@code transport} u1 or t1) answering with {@code scenario}. */
    public static Sipp uas(String name, String scenario, int port, String transport) throws IOException {
        Sipp s = start(name, "-sf", SCENARIOS.resolve(scenario).toString(), "-i", "127.0.0.1", "-p",
                Integer.toString(port), "-t", transport);
        s.port = port;
        return s;
    }

    /** What a sipp shows: alive or its exit code, and the start of its screen output. */
    public static String screen(Sipp s) {
        String out;
        try {
            out = Files.readString(s.dir.resolve("stdout.txt"), java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            out = e.toString();
        }
        return s.name + " (" + (s.process.isAlive() ? "running" : "exited " + s.process.exitValue()) + ", " + s.dir + "): "
                + out.substring(0, Math.min(out.length(), 1500));
    }

    /** A UAC SIP Server placing {@code calls} calls at {@code rate}/s held {@code holdMs} each. */
    public static Sipp uac(String name, int port, int proxyPort, String transport, int calls, int rate, int holdMs)
            throws IOException {
        return start(name, "-sf", SCENARIOS.resolve("uac.xml").toString(), "-i", "127.0.0.1", "-p",
                Integer.toString(port), "-t", transport, "-s", "5551234", "-m", Integer.toString(calls), "-r",
                Integer.toString(rate), "-d", Integer.toString(holdMs), "-l", Integer.toString(rate * 10),
                "127.0.0.1:" + proxyPort);
    }

    /** Waits for sipp to exit; returns its exit code (0: every call succeeded). */
    public int await(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(name + " did not finish within " + seconds + " s; logs in " + dir);
        }
        return process.exitValue();
    }

    /** A column of the last line of sipp's statistics file, e.g. {@code SuccessfulCall(C)}. */
    public long stat(String column) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("stat.csv"));
        List<String> head = Arrays.asList(lines.get(0).split(";"));
        String[] last = lines.get(lines.size() - 1).split(";");
        int i = head.indexOf(column);
        if (i < 0) {
            throw new IllegalArgumentException(column + " not in " + head);
        }
        return Long.parseLong(last[i].trim());
    }

    public String errors() {
        try (var s = Files.list(dir)) {
            StringBuilder b = new StringBuilder();
            for (Path p : s.filter(f -> f.getFileName().toString().endsWith("errors.log")).toList()) {
                String t = Files.readString(p);
                b.append(t, 0, Math.min(t.length(), 3000));
            }
            return b.toString();
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** Freezes sipp (SIGSTOP): its socket stays bound, nothing is answered. */
    public void pause() throws IOException, InterruptedException {
        signal("-STOP");
    }

    /** Thaws a paused sipp (SIGCONT). */
    public void resume() throws IOException, InterruptedException {
        signal("-CONT");
    }

    private void signal(String sig) throws IOException, InterruptedException {
        Process k = new ProcessBuilder("kill", sig, Long.toString(process.pid())).inheritIO().start();
        if (!k.waitFor(5, TimeUnit.SECONDS) || k.exitValue() != 0) {
            throw new IOException("kill " + sig + " " + process.pid() + " failed");
        }
    }

    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(3, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(3, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits (at most 10 s) until something has bound {@code port} of loopback: UDP, or TCP for t1. */
    public static void awaitBound(int port, String transport) throws InterruptedException {
        InetAddress lo = InetAddress.getLoopbackAddress();
        long end = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < end) {
            if (transport.equals("t1")) {
                try (java.net.Socket s = new java.net.Socket(lo, port)) {
                    return;
                } catch (IOException notYet) {
                    // not listening yet
                }
            } else {
                try (DatagramSocket d = new DatagramSocket(port, lo)) {
                    // still free: not bound yet
                } catch (IOException taken) {
                    return;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("nothing bound port " + port + " within 10 s");
    }

    public static void awaitBound(int... udpPorts) throws InterruptedException {
        for (int p : udpPorts) {
            awaitBound(p, "u1");
        }
    }

    /**
     * A port free on 127.0.0.1 for both UDP and TCP, taken below the kernel's ephemeral range (32768 and up
     * on Linux) so that no outgoing socket of a running peer can grab it before the test binds it.
     */
    public static int freePort() throws IOException {
        InetAddress lo = InetAddress.getLoopbackAddress();
        java.util.concurrent.ThreadLocalRandom r = java.util.concurrent.ThreadLocalRandom.current();
        for (int i = 0; i < 500; i++) {
            int p = 20_000 + r.nextInt(12_000);
            try (ServerSocket s = new ServerSocket(p, 1, lo); DatagramSocket d = new DatagramSocket(p, lo)) {
                return p;
            } catch (IOException busy) {
                // taken: try another
            }
        }
        throw new IOException("no free port on loopback");
    }
}
