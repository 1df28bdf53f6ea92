package org.openrm.billing.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.function.LongFunction;
import java.util.zip.CRC32;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable local spool of billing records: append-only segment files in one folder, and a checkpoint of
 * what the broker has acknowledged.
 *
 * <p>{@link #append} writes the record into the current segment with one {@code write} before it returns, so a
 * record is in the operating system's hands before the call that produced it is over: a killed JVM loses
 * nothing. {@link #sync} (the spool thread, every {@code spool.fsync.ms}) forces written segments to disk and
 * moves the <em>durable</em> mark; only records behind that mark are read for delivery. A record is
 * {@code [magic:int][type:byte][length:int][crc32:int][payload]}; a torn or damaged record is skipped with one
 * log line naming the segment and offset, and reading resumes at the next intact record. A segment is deleted
 * once every record in it was acknowledged; a new process never appends to an old segment (its tail may be torn).
 */
final class Spool implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Spool.class);
    static final int MAGIC = 0x0C0DE5EC;
    static final int HEADER = 13;
    static final int MAX_RECORD = 1 << 20;
    /** Records per segment are below this, so that (segment, index) makes a sequence number. */
    static final long INDEX_BITS = 24;

    /** One record read back. */
    record Entry(byte type, byte[] payload, long segment, long end) {
        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }
    }

    /** A place in the spool: a segment and a byte offset in it. */
    record Position(long segment, long offset) implements Comparable<Position> {
        @Override
        public int compareTo(Position o) {
            return segment != o.segment ? Long.compare(segment, o.segment) : Long.compare(offset, o.offset);
        }
    }

    private final Path dir;
    private final long segmentBytes;
    private final long maxBytes;
    /** Bytes of every segment on disk, delivered or not. */
    private long totalBytes;
    private long writeSegment;
    private FileChannel writeChannel;
    private long writeOffset;
    private long writeIndex;
    /** Segments whose writes are not yet forced to disk. */
    private final List<FileChannel> unsynced = new ArrayList<>();
    private volatile Position durable;
    private volatile boolean closed;
    private final CRC32 crc = new CRC32();

    Spool(Path dir, long segmentBytes, long maxBytes) throws IOException {
        this.dir = dir;
        this.segmentBytes = segmentBytes;
        this.maxBytes = maxBytes;
        Files.createDirectories(dir);
        long last = 0;
        for (long s : segments().keySet()) {
            last = Math.max(last, s);
        }
        for (Path p : segments().values()) {
            totalBytes += Files.size(p);
        }
        openSegment(last + 1);
        durable = new Position(writeSegment, 0);
    }

    /** Segment files by number. */
    TreeMap<Long, Path> segments() throws IOException {
        TreeMap<Long, Path> out = new TreeMap<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith("seg-") && n.endsWith(".spool")) {
                    try {
                        out.put(Long.parseLong(n.substring(4, n.length() - 6)), p);
                    } catch (NumberFormatException e) {
                        // not ours
                    }
                }
            }
        }
        return out;
    }

    Path segmentPath(long n) {
        return dir.resolve(String.format("seg-%016d.spool", n));
    }

    private void openSegment(long n) throws IOException {
        writeSegment = n;
        writeChannel = FileChannel.open(segmentPath(n), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        writeOffset = 0;
        writeIndex = 0;
        unsynced.add(writeChannel);
    }

    /**
     * Appends one record whose payload is made from its sequence number (unique and increasing for this spool).
     *
     * @return false if the spool is full (the record is not written) or closed
     * @throws IOException when the disk refuses the write
     */
    synchronized boolean append(byte type, LongFunction<byte[]> payload) throws IOException {
        if (closed) {
            return false;
        }
        if (writeOffset >= segmentBytes || writeIndex >= (1L << INDEX_BITS) - 1) {
            rotate();
        }
        byte[] body = payload.apply((writeSegment << INDEX_BITS) | writeIndex);
        if (body.length > MAX_RECORD) {
            throw new IOException("record of " + body.length + " bytes exceeds " + MAX_RECORD);
        }
        int size = HEADER + body.length;
        if (totalBytes + size > maxBytes) {
            if (writeOffset == 0) {
                return false;
            }
            // full: start a new segment, so that the current one can be deleted once delivered
            rotate();
            if (totalBytes + size > maxBytes) {
                return false;
            }
        }
        crc.reset();
        crc.update(type);
        crc.update(body);
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(MAGIC).put(type).putInt(body.length).putInt((int) crc.getValue()).put(body).flip();
        while (b.hasRemaining()) {
            writeChannel.write(b);
        }
        writeOffset += size;
        writeIndex++;
        totalBytes += size;
        return true;
    }

    private void rotate() throws IOException {
        // the old channel stays in unsynced until sync() forced and closed it
        openSegment(writeSegment + 1);
    }

    /** Forces what was written to disk and moves the durable mark; returns true if it moved. */
    boolean sync() throws IOException {
        List<FileChannel> toForce;
        Position mark;
        FileChannel current;
        synchronized (this) {
            if (closed) {
                return false;
            }
            mark = new Position(writeSegment, writeOffset);
            if (mark.equals(durable)) {
                return false;
            }
            toForce = new ArrayList<>(unsynced);
            current = writeChannel;
            unsynced.clear();
            unsynced.add(current);
        }
        for (FileChannel c : toForce) {
            c.force(false);
            if (c != current) {
                c.close();
            }
        }
        durable = mark;
        return true;
    }

    /** Everything up to here is on disk. */
    Position durable() {
        return durable;
    }

    synchronized long totalBytes() {
        return totalBytes;
    }

    long maxBytes() {
        return maxBytes;
    }

    // ------------------------------------------------------------------------------------ reading

    /** The delivery checkpoint: the first position not yet acknowledged. */
    Position checkpoint() throws IOException {
        Path f = dir.resolve("delivered");
        if (Files.exists(f)) {
            String[] v = Files.readString(f).trim().split("\\s+");
            try {
                return new Position(Long.parseLong(v[0]), Long.parseLong(v[1]));
            } catch (RuntimeException e) {
                LOG.warn("Spool checkpoint {} unreadable ({}): delivering from the oldest segment (the consumer "
                        + "de-duplicates by sessionId)", f, e.toString());
            }
        }
        return new Position(0, 0);
    }

    /** Records everything before {@code p} as acknowledged and deletes segments wholly before it. */
    void acknowledge(Position p) throws IOException {
        Path f = dir.resolve("delivered");
        Path tmp = dir.resolve("delivered.tmp");
        try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            c.write(ByteBuffer.wrap((p.segment() + " " + p.offset() + "\n").getBytes(StandardCharsets.US_ASCII)));
            c.force(false);
        }
        try {
            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
        }
        for (var e : segments().entrySet()) {
            long n = e.getKey();
            boolean current;
            synchronized (this) {
                current = n >= writeSegment;
            }
            if (n < p.segment() && !current) {
                long size = Files.size(e.getValue());
                Files.deleteIfExists(e.getValue());
                synchronized (this) {
                    totalBytes -= size;
                }
            }
        }
    }

    /**
     * Reads up to {@code max} records from {@code from}, never past the durable mark; returns them (the last
     * one's {@code end} is where to go on). Damaged records are skipped and logged.
     */
    List<Entry> read(Position from, int max) throws IOException {
        List<Entry> out = new ArrayList<>();
        Position mark = durable;
        TreeMap<Long, Path> segs = segments();
        long seg = from.segment();
        long off = from.offset();
        if (!segs.containsKey(seg)) {
            Long next = segs.ceilingKey(seg);
            if (next == null) {
                return out;
            }
            seg = next;
            off = 0;
        }
        while (out.size() < max && seg <= mark.segment()) {
            Path p = segs.get(seg);
            long limit = seg == mark.segment() ? mark.offset() : (p == null ? 0 : Files.size(p));
            if (p != null && off < limit) {
                try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
                    off = readSegment(c, seg, off, limit, max, out);
                }
            }
            if (out.size() >= max || seg == mark.segment()) {
                break;
            }
            Long next = segs.higherKey(seg);
            if (next == null) {
                break;
            }
            if (!out.isEmpty() || off >= limit) {
                // a segment read to its end: a marker entry moves the reader past it even if it held nothing valid
                out.add(new Entry((byte) 0, new byte[0], next, 0));
            }
            seg = next;
            off = 0;
        }
        return out;
    }

    private long readSegment(FileChannel c, long seg, long off, long limit, int max, List<Entry> out) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(HEADER);
        while (off < limit && out.size() < max) {
            head.clear();
            if (limit - off < HEADER || c.read(head, off) < HEADER) {
                LOG.warn("Spool segment {}: torn record at offset {} ({} bytes to the end) skipped", segmentPath(seg), off, limit - off);
                return limit;
            }
            head.flip();
            int magic = head.getInt();
            byte type = head.get();
            int len = head.getInt();
            int sum = head.getInt();
            if (magic == MAGIC && len >= 0 && len <= MAX_RECORD && off + HEADER + len <= limit) {
                ByteBuffer body = ByteBuffer.allocate(len);
                c.read(body, off + HEADER);
                CRC32 k = new CRC32();
                k.update(type);
                k.update(body.array());
                if ((int) k.getValue() == sum) {
                    out.add(new Entry(type, body.array(), seg, off + HEADER + len));
                    off += HEADER + len;
                    continue;
                }
            }
            long next = resync(c, off + 1, limit);
            LOG.warn("Spool segment {}: damaged record at offset {} skipped ({} bytes); the records after it are delivered",
                    segmentPath(seg), off, next - off);
            off = next;
        }
        return off;
    }

    /** The offset of the next intact record after {@code from}, or {@code limit}. */
    private static long resync(FileChannel c, long from, long limit) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4);
        for (long o = from; o + HEADER <= limit; o++) {
            b.clear();
            c.read(b, o);
            b.flip();
            if (b.remaining() == 4 && b.getInt() == MAGIC) {
                ByteBuffer head = ByteBuffer.allocate(HEADER);
                c.read(head, o);
                head.flip();
                head.getInt();
                byte type = head.get();
                int len = head.getInt();
                int sum = head.getInt();
                if (len >= 0 && len <= MAX_RECORD && o + HEADER + len <= limit) {
                    ByteBuffer body = ByteBuffer.allocate(len);
                    c.read(body, o + HEADER);
                    CRC32 k = new CRC32();
                    k.update(type);
                    k.update(body.array());
                    if ((int) k.getValue() == sum) {
                        return o;
                    }
                }
            }
        }
        return limit;
    }

    @Override
    public void close() throws IOException {
        sync();
        synchronized (this) {
            closed = true;
            for (FileChannel c : unsynced) {
                c.close();
            }
            unsynced.clear();
        }
    }
}
