package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class RelaySenderTest {

    /** A socket whose sends wait for a latch: the sender thread stands, as it would behind a slow kernel. */
    static final class HeldSocket extends DatagramSocket {
        final CountDownLatch go = new CountDownLatch(1);

        HeldSocket() throws SocketException {
            super(0, InetAddress.getLoopbackAddress());
        }

        @Override
        public void send(DatagramPacket p) throws IOException {
            try {
                go.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            super.send(p);
        }
    }

    @Test
    void aStandingBacklogShowsAsDelayAndAFullQueueSendsOnTheCaller() throws Exception {
        try (DatagramSocket peer = new DatagramSocket(0, InetAddress.getLoopbackAddress());
             HeldSocket out = new HeldSocket()) {
            peer.setSoTimeout(5000);
            RelaySender s = new RelaySender(3, 1);
            try {
                long t0 = System.currentTimeMillis();
                assertEquals(0, s.headDelayMs(t0), "nothing waits");
                for (int i = 0; i < 4; i++) { // one taken by the (held) sender thread, three wait
                    assertTrue(s.offer(out, packet("m" + i, peer), t0 - 100), "queued " + i);
                    if (i == 0) {
                        waitUntilEmpty(s);
                    }
                }
                assertEquals(3, s.depth());
                assertFalse(s.offer(out, packet("m4", peer), t0), "a full queue refuses: the receive thread sends");
                assertTrue(s.headDelayMs(t0 + 50) >= 150, "the oldest waiting message's age since its reception");
                out.go.countDown();
                for (int i = 0; i < 4; i++) {
                    DatagramPacket in = new DatagramPacket(new byte[100], 100);
                    peer.receive(in);
                    assertArrayEquals(("m" + i).getBytes(StandardCharsets.US_ASCII),
                            java.util.Arrays.copyOf(in.getData(), in.getLength()), "sent in the order received");
                }
                assertEquals(0, s.depth());
            } finally {
                s.close(2000);
            }
            assertFalse(s.offer(out, packet("late", peer), System.currentTimeMillis()), "closed: the caller sends");
        }
    }

    @Test
    void theOverloadGuardsSignalCountsTheRelayBacklog() throws Exception {
        TcpGuard tcp = new TcpGuard(new TcpGuard.Limits(10, 10, 1000, 1000, 65535));
        StackRuntime rt = new StackRuntime(null, tcp);
        assertEquals(0, rt.headDelayMs());
        try (DatagramSocket peer = new DatagramSocket(0, InetAddress.getLoopbackAddress());
             HeldSocket out = new HeldSocket()) {
            RelaySender s = new RelaySender(10, 1);
            tcp.relaySender = s;
            try {
                long then = System.currentTimeMillis() - 400;
                s.offer(out, packet("a", peer), then); // taken by the held sender
                waitUntilEmpty(s);
                s.offer(out, packet("b", peer), then);
                s.offer(out, packet("c", peer), then);
                assertTrue(rt.headDelayMs() >= 400, "delay " + rt.headDelayMs());
                assertEquals(2, rt.waiting());
                out.go.countDown();
            } finally {
                s.close(2000);
            }
            assertEquals(0, rt.headDelayMs());
        }
    }

    @Test
    void closeSendsWhatIsQueued() throws Exception {
        try (DatagramSocket peer = new DatagramSocket(0, InetAddress.getLoopbackAddress());
             DatagramSocket out = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            peer.setSoTimeout(5000);
            RelaySender s = new RelaySender(100, 2);
            for (int i = 0; i < 50; i++) {
                assertTrue(s.offer(out, packet("x" + i, peer), System.currentTimeMillis()));
            }
            s.close(5000);
            for (int i = 0; i < 50; i++) {
                peer.receive(new DatagramPacket(new byte[100], 100));
            }
            assertEquals(0, s.depth());
        }
    }

    private static DatagramPacket packet(String text, DatagramSocket to) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        return new DatagramPacket(b, b.length, to.getLocalAddress(), to.getLocalPort());
    }

    private static void waitUntilEmpty(RelaySender s) throws InterruptedException {
        for (int i = 0; i < 500 && s.depth() > 0; i++) {
            Thread.sleep(10);
        }
        assertEquals(0, s.depth(), "the sender took the first message");
    }
}
