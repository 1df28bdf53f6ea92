package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class KernelBacklogTest {

    private static final String TABLE = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
            + "  123: 0100007F:3AFC 00000000:0000 07 00000000:0001F400 00:00000000 00000000  1000        0 41234 2 0000000000000000 17\n"
            + "  456: 0100007F:3AFD 00000000:0000 07 00000000:00000900 00:00000000 00000000  1000        0 41235 2 0000000000000000 4\n"
            + "  789: 00000000:3AFC 00000000:0000 07 00000000:00000100 00:00000000 00000000  1000        0 41236 2 0000000000000000 0\n"
            + "  bad line\n";

    @Test
    void sumsTheQueueAndDropsOfThePortOnly() {
        long[] sum = new long[2];
        KernelBacklog.parse(TABLE, 0x3AFC, sum);
        assertEquals(0x1F400 + 0x100, sum[0]);
        assertEquals(17, sum[1]);
        long[] other = new long[2];
        KernelBacklog.parse(TABLE, 0x3AFD, other);
        assertEquals(0x900, other[0]);
        assertEquals(4, other[1]);
        long[] none = new long[2];
        KernelBacklog.parse(TABLE, 5060, none);
        assertEquals(0, none[0] + none[1]);
    }

    @Test
    void fillMapsOntoTheTargetAndDropsShedAtOnce() throws Exception {
        assertEquals(0, KernelBacklog.scale(0, 8_000_000, 30, 15));
        assertEquals(30, KernelBacklog.scale(1_200_000, 8_000_000, 30, 15));
        assertEquals(60, KernelBacklog.scale(2_400_000, 8_000_000, 30, 15));

        Path t = Files.createTempFile("udp", ".txt");
        try {
            Files.writeString(t, TABLE);
            KernelBacklog k = new KernelBacklog(new Path[] { t }, 0x3AFC, 1_000_000);
            int first = k.delayMs(30, 15);
            assertEquals(KernelBacklog.scale(0x1F500, 1_000_000, 30, 15), first, "the first sample: fill only");
            assertEquals(0, k.drops(), "drops counted from the first sample on");
            assertEquals(first, k.delayMs(30, 15), "between samples the last figure holds");
            Files.writeString(t, TABLE.replace(" 17\n", " 20\n"));
            assertEquals(OverloadGuard.DANGER_MS, k.delayMs(30, 15), "a drop since the last sample sheds at once");
            assertEquals(3, k.drops());
            k.delayMs(30, 15);
            assertEquals(first, k.delayMs(30, 15), "no new drop: back to the fill");
            assertEquals(0, k.delayMs(30, 0), "0 percent turns the signal off");
        } finally {
            Files.deleteIfExists(t);
        }
    }

    @Test
    void missingTablesReadAsNoBacklog() {
        KernelBacklog k = new KernelBacklog(new Path[] { Path.of("/nonexistent/udp") }, 5060, 1000);
        assertEquals(0, k.delayMs(30, 15));
        assertFalse(k.readable());
    }

    /** The real kernel: a socket nobody reads fills, then drops; the backlog sees both. */
    @Test
    void seesARealSocketFillAndDrop() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/net/udp")), "Linux only");
        InetAddress lo = InetAddress.getByName("127.0.0.1");
        try (DatagramSocket unread = new DatagramSocket(0, lo); DatagramSocket sender = new DatagramSocket(0, lo)) {
            unread.setReceiveBufferSize(16384);
            KernelBacklog k = new KernelBacklog(unread.getLocalPort(), unread.getReceiveBufferSize());
            assertEquals(0, k.delayMs(30, 15), "an empty buffer is no backlog");
            k.delayMs(30, 15);
            byte[] msg = new byte[600];
            for (int i = 0; i < 200; i++) {
                sender.send(new DatagramPacket(msg, msg.length, lo, unread.getLocalPort()));
            }
            int d = 0;
            for (int i = 0; i < 100 && d < OverloadGuard.DANGER_MS; i++) {
                d = k.delayMs(30, 15);
                k.delayMs(30, 15);
                Thread.sleep(10);
            }
            assertTrue(k.queuedBytes() > 0, "bytes queued: " + k.queuedBytes());
            assertTrue(k.drops() > 0, "drops: " + k.drops());
            assertTrue(d >= OverloadGuard.DANGER_MS, "a full buffer that drops sheds at once: " + d);
        }
    }
}
