package org.openrm.billing.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Billing's copy for the warm-up's synthetic calls ({@link SessionListener#scratch}): each ending is encoded as the
 * CDR it would be and written to a spool of its own, as the real ending is on the call path, and never sent. Closed when
 * the warm-up ends: the folder is removed. Bounded by its spool (full: the rest are counted, not written).
 */
final class ScratchCdrs implements SessionListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ScratchCdrs.class);
    private static final long SEGMENT = 4L << 20;
    private static final long MAX = 64L << 20;

    private final Path dir;
    private final Spool spool;
    private final int nodeId;
    final AtomicLong written = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();

    ScratchCdrs(Path dir, int nodeId) throws IOException {
        this.dir = dir;
        this.nodeId = nodeId;
        this.spool = new Spool(dir, SEGMENT, MAX);
    }

    /** Scratch spools a killed process left next to {@code spoolDir} (they hold only synthetic CDRs): removed. */
    static void removeLeftovers(Path spoolDir) {
        Path parent = spoolDir.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            return;
        }
        String prefix = spoolDir.getFileName() + "-warmup-";
        try (Stream<Path> s = Files.list(parent)) {
            s.filter(p -> p.getFileName().toString().startsWith(prefix)).forEach(ScratchCdrs::delete);
        } catch (IOException e) {
            LOG.debug("leftover scratch spools", e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("Warm-up's scratch spool {} not removed: {}", dir, e.toString());
        }
    }

    @Override
    public void ended(Session s, EndReason reason, int finalCode, long endedAt) {
        try {
            // as the real ending does on the call path: encode, append (the real spool's fsync runs on billing's timer,
            // off the call path, and is not what the warm-up is for)
            if (spool.append(Sender.CDR, seq -> Json.cdr(s, reason, finalCode, endedAt, nodeId, seq).getBytes(StandardCharsets.UTF_8))) {
                written.incrementAndGet();
            } else {
                skipped.incrementAndGet();
            }
        } catch (IOException e) {
            skipped.incrementAndGet();
        }
    }

    @Override
    public void close() {
        try {
            spool.close();
        } catch (IOException e) {
            LOG.debug("scratch spool", e);
        }
        delete(dir);
        LOG.info("Warm-up: {} synthetic CDRs encoded and written to a scratch spool (removed, never sent){}", written.get(),
                skipped.get() > 0 ? ", " + skipped.get() + " not written (scratch spool full)" : "");
    }

    @Override
    public String toString() {
        return "billing's warm-up copy (" + dir + ")";
    }
}
