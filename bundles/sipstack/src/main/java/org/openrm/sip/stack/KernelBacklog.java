package org.openrm.sip.stack;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The UDP listening socket's backlog in the kernel: the bytes its receive buffer holds and the datagrams the kernel
 * dropped because the buffer was full, read from {@code /proc/net/udp} and {@code /proc/net/udp6} (Linux; elsewhere
 * nothing is read and the backlog counts as none).
 *
 * <p>When the one UDP receive thread is starved of CPU, datagrams wait in the kernel, before openrm stamps them:
 * the overload guard's delay, read from openrm's own queues, stays low while callers already retransmit and the
 * kernel drops. The kernel tells how full the buffer is, not how old its head is, so {@link #delayMs} maps the fill
 * onto the guard's scale: {@code overload.kernel.backlog.percent} of the buffer counts as the target delay (on this
 * machine's loopback, 15 % of the 8 MB the kernel grants for the shipped 4 MB is about 500 datagrams, 20–40 ms of
 * traffic at 2,000–3,000 calls/s), and a datagram dropped since the last sample counts as {@link OverloadGuard#DANGER_MS},
 * which sheds at once.
 *
 * <p>Read by the guard's timer thread only (every {@link #EVERY_TICKS} ticks); the figures are published for the
 * console through volatile fields.
 */
public final class KernelBacklog {
    /** Sample every this many guard ticks (the files are a line per UDP socket of the host's network namespace). */
    public static final int EVERY_TICKS = 2;
    private static final Path[] TABLES = { Path.of("/proc/net/udp"), Path.of("/proc/net/udp6") };

    private final Path[] tables;
    private final int port;
    /** The socket's receive buffer as the kernel accounts it (SO_RCVBUF as read back: twice what was asked). */
    private final int capacity;

    private volatile long queuedBytes;
    private volatile long drops;
    /** Drops when this object first read the table: the console shows those since openrm's socket opened. */
    private long dropsBase = -1;
    private long lastDrops = -1;
    private int tick;
    private int lastDelay;
    private volatile boolean readable = true;

    public KernelBacklog(int port, int capacity) {
        this(TABLES, port, capacity);
    }

    KernelBacklog(Path[] tables, int port, int capacity) {
        this.tables = tables;
        this.port = port;
        this.capacity = Math.max(1, capacity);
    }

    /** Bytes waiting in the socket's receive buffer at the last sample. */
    public long queuedBytes() {
        return queuedBytes;
    }

    /** Datagrams the kernel dropped on this port (buffer full) since this object's first sample. */
    public long drops() {
        return drops;
    }

    /** False once the tables could not be read (not Linux, or /proc hidden): the guard then sees openrm's queues only. */
    public boolean readable() {
        return readable;
    }

    /**
     * The backlog on the guard's scale, ms: {@code targetMs} when {@code percent} % of the buffer is full (0 turns the
     * signal off), {@link OverloadGuard#DANGER_MS} when the kernel dropped since the last sample.
     */
    public int delayMs(int targetMs, int percent) {
        if (percent <= 0 || !readable) {
            return 0;
        }
        if (tick++ % EVERY_TICKS != 0) {
            return lastDelay;
        }
        long[] got = read();
        if (got == null) {
            return lastDelay = 0;
        }
        queuedBytes = got[0];
        boolean dropped = lastDrops >= 0 && got[1] > lastDrops;
        if (dropsBase < 0) {
            dropsBase = got[1];
        }
        lastDrops = got[1];
        drops = got[1] - dropsBase;
        int d = scale(got[0], capacity, targetMs, percent);
        return lastDelay = dropped ? Math.max(d, OverloadGuard.DANGER_MS) : d;
    }

    /** {@code queued} bytes of a {@code capacity}-byte buffer on the guard's scale (see {@link #delayMs}). */
    static int scale(long queued, int capacity, int targetMs, int percent) {
        double full = queued / (capacity * (percent / 100.0));
        return (int) Math.min(60_000, Math.round(full * targetMs));
    }

    /** {rx_queue bytes, drops} summed over the sockets bound to the port, or null when nothing could be read. */
    private long[] read() {
        long[] sum = new long[2];
        boolean any = false;
        for (Path t : tables) {
            String text;
            try {
                text = new String(Files.readAllBytes(t), StandardCharsets.US_ASCII);
            } catch (IOException | RuntimeException e) {
                continue;
            }
            any = true;
            parse(text, port, sum);
        }
        if (!any) {
            readable = false;
            return null;
        }
        return sum;
    }

    /**
     * Adds the rx_queue bytes and drops of every socket in {@code table} (the text of /proc/net/udp or udp6) whose
     * local port is {@code port} to {@code sum}. Lines it cannot read are skipped.
     */
    static void parse(String table, int port, long[] sum) {
        int at = table.indexOf('\n');
        while (at >= 0 && at < table.length() - 1) {
            int end = table.indexOf('\n', at + 1);
            if (end < 0) {
                end = table.length();
            }
            line(table, at + 1, end, port, sum);
            at = end;
        }
    }

    private static void line(String s, int from, int to, int port, long[] sum) {
        // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode ref pointer drops"
        String[] f = s.substring(from, to).trim().split("\\s+");
        if (f.length < 13) {
            return;
        }
        try {
            int colon = f[1].lastIndexOf(':');
            if (colon < 0 || Integer.parseInt(f[1].substring(colon + 1), 16) != port) {
                return;
            }
            int q = f[4].indexOf(':');
            if (q < 0) {
                return;
            }
            long rx = Long.parseLong(f[4].substring(q + 1), 16);
            long dr = Long.parseLong(f[f.length - 1]);
            sum[0] += rx;
            sum[1] += dr;
        } catch (NumberFormatException e) {
            // a line of another shape: not ours
        }
    }
}
