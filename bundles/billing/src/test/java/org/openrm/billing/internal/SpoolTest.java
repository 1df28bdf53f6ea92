package org.openrm.billing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class SpoolTest {

    private static byte[] rec(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Reads everything durable from {@code from}, acknowledging as it goes; returns the payloads. */
    private static List<String> deliverAll(Spool s) throws Exception {
        List<String> out = new ArrayList<>();
        Spool.Position pos = s.checkpoint();
        for (int guard = 0; guard < 10_000; guard++) {
            List<Spool.Entry> b = s.read(pos, 7);
            if (b.isEmpty()) {
                return out;
            }
            for (Spool.Entry e : b) {
                if (e.type() != 0) {
                    out.add(e.text());
                }
            }
            Spool.Entry last = b.get(b.size() - 1);
            pos = new Spool.Position(last.segment(), last.end());
            s.acknowledge(pos);
        }
        throw new AssertionError("reader did not finish");
    }

    @Test
    void recordsComeBackInOrderAcrossSegmentsAndRestarts() throws Exception {
        Path dir = Files.createTempDirectory("spool");
        List<Long> seqs = new ArrayList<>();
        try (Spool s = new Spool(dir, 1000, 1 << 20)) {
            for (int i = 0; i < 100; i++) {
                int n = i;
                assertTrue(s.append((byte) 1, seq -> {
                    seqs.add(seq);
                    return rec("r" + n);
                }));
            }
            assertTrue(s.read(s.checkpoint(), 10).isEmpty(), "nothing is read before it is forced to disk");
            s.sync();
            List<String> got = deliverAll(s);
            assertEquals(100, got.size());
            for (int i = 0; i < 100; i++) {
                assertEquals("r" + i, got.get(i));
            }
            for (int i = 1; i < seqs.size(); i++) {
                assertTrue(seqs.get(i) > seqs.get(i - 1), "sequence numbers increase");
            }
            assertTrue(s.segments().size() <= 2, "delivered segments are deleted: " + s.segments());
            s.append((byte) 1, q -> rec("after"));
        }
        // a restart: the undelivered record is still there, the delivered ones are not sent again
        try (Spool s = new Spool(dir, 1000, 1 << 20)) {
            s.append((byte) 1, q -> rec("second life"));
            s.sync();
            assertEquals(List.of("after", "second life"), deliverAll(s));
        }
    }

    @Test
    void damagedAndTornRecordsAreSkippedAndTheRestDelivered() throws Exception {
        Path dir = Files.createTempDirectory("spool");
        try (Spool s = new Spool(dir, 1 << 20, 1 << 20)) {
            for (int i = 0; i < 10; i++) {
                int n = i;
                s.append((byte) 1, q -> rec("{\"n\":" + n + "}"));
            }
        }
        Path seg = Files.list(dir).filter(p -> p.toString().endsWith(".spool")).sorted().findFirst().orElseThrow();
        long size = Files.size(seg);
        try (RandomAccessFile f = new RandomAccessFile(seg.toFile(), "rw")) {
            long third = 2 * (size / 10) + Spool.HEADER + 2; // inside the payload of record 2
            f.seek(third);
            f.write('X');
            f.setLength(size - 3); // the last record torn, as by a crash mid-write
        }
        try (Spool s = new Spool(dir, 1 << 20, 1 << 20)) {
            s.append((byte) 1, q -> rec("{\"n\":10}"));
            s.sync();
            List<String> got = deliverAll(s);
            List<String> expected = new ArrayList<>();
            for (int i = 0; i <= 10; i++) {
                if (i != 2 && i != 9) {
                    expected.add("{\"n\":" + i + "}");
                }
            }
            assertEquals(expected, got);
        }
    }

    @Test
    void aFullSpoolRefusesNewRecordsAndKeepsTheOld() throws Exception {
        Path dir = Files.createTempDirectory("spool");
        try (Spool s = new Spool(dir, 1000, 2000)) {
            int accepted = 0;
            for (int i = 0; i < 100; i++) {
                int n = i;
                if (s.append((byte) 1, q -> rec("record number " + n + " padded to some length........"))) {
                    accepted++;
                }
            }
            assertTrue(accepted > 10 && accepted < 100, "accepted " + accepted);
            assertFalse(s.append((byte) 1, q -> rec("x".repeat(60))));
            s.sync();
            List<String> got = deliverAll(s);
            assertEquals(accepted, got.size());
            assertEquals("record number 0 padded to some length........", got.get(0));
            assertTrue(s.append((byte) 1, q -> rec("room again")), "delivered segments make room");
        }
    }
}
