package org.openrm.itest;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The processes a test started (appliances, sipp peers, dnsmasq, the console client), each writing its output to a
 * file of its own in its directory; {@link #stopAll} kills them and what they started, and waits for each.
 */
final class Started {
    private final List<Process> processes = new ArrayList<>();

    /** Starts {@code cmd} in {@code dir} with {@code env} added, its output in {@code <dir>/<command>-<nanos>.out}. */
    Process start(Path dir, Map<String, String> env, String... cmd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve(new File(cmd[0]).getName() + "-" + System.nanoTime() + ".out").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    /** Kills every process started (their children first), at most 10 s of waiting each. */
    void stopAll() throws InterruptedException {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        processes.clear();
    }

    /** The last {@code chars} characters of {@code s}, for an assertion message. */
    static String tail(String s, int chars) {
        return s.length() > chars ? s.substring(s.length() - chars) : s;
    }
}
