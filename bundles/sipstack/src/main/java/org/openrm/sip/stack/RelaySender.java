package org.openrm.sip.stack;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends what the byte-level relay ({@link RawRelay}) decided on the UDP receive thread, off that thread: the
 * receive thread only screens, scans and hands over, so it stays ahead of the kernel's socket buffer, and the
 * backlog of relayed messages waits here, in a bounded queue whose entries carry their reception time, where the
 * overload guard reads its delay ({@link #headDelayMs}) as it reads the SIP workers' queues. One sender thread by
 * default ({@code raw.relay.threads}): a {@code sendto} on loopback is a few microseconds, and one thread keeps a
 * dialog's messages in the order they came.
 *
 * <p>When the queue is full, {@link #offer} says so and the receive thread sends the message itself (as before this
 * class existed): nothing relayed is dropped here.
 */
public final class RelaySender {
    private static final Logger LOG = LoggerFactory.getLogger(RelaySender.class);

    /** One message to send: the relay's output, the socket it leaves by, when its datagram was received. */
    record Item(DatagramSocket socket, DatagramPacket packet, long receivedMs) { }

    private final ArrayBlockingQueue<Item> queue;
    private final Thread[] senders;
    private volatile boolean closed;

    private final int capacity;

    public RelaySender(int capacity, int threads) {
        this.capacity = capacity;
        queue = new ArrayBlockingQueue<>(Math.max(1, capacity));
        senders = new Thread[Math.max(1, Math.min(8, threads))];
        for (int i = 0; i < senders.length; i++) {
            Thread t = new Thread(this::run, "openrm-sip-relay-" + i);
            t.setDaemon(true);
            senders[i] = t;
            t.start();
        }
    }

    /** Queues {@code p} to leave by {@code socket}; false when the queue is full or closed (the caller sends it). */
    public boolean offer(DatagramSocket socket, DatagramPacket p, long receivedMs) {
        return !closed && queue.offer(new Item(socket, p, receivedMs));
    }

    /** True when this sender is what {@code capacity} and {@code threads} ask for (no new pool needed). */
    public boolean is(int capacity, int threads) {
        return this.capacity == capacity && senders.length == Math.max(1, Math.min(8, threads));
    }

    /** Messages waiting to be sent. */
    public int depth() {
        return queue.size();
    }

    /** How long the oldest waiting message has waited since its datagram was received, ms; 0 when none waits. */
    public int headDelayMs(long nowMs) {
        Item head = queue.peek();
        return head == null ? 0 : (int) Math.max(0, Math.min(Integer.MAX_VALUE, nowMs - head.receivedMs()));
    }

    private void run() {
        while (!closed || !queue.isEmpty()) {
            Item it;
            try {
                it = queue.poll(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                if (closed) {
                    break;
                }
                continue;
            }
            if (it == null) {
                continue;
            }
            try {
                it.socket().send(it.packet());
            } catch (IOException | RuntimeException e) {
                // the socket closed under it (a stack restart), or the kernel refused: the peer retransmits
                LOG.debug("relay to {}:{} failed: {}", it.packet().getAddress(), it.packet().getPort(), e.toString());
            }
        }
    }

    /** Sends what is queued (up to {@code waitMs}), then stops the senders. */
    public void close(long waitMs) {
        closed = true;
        for (Thread t : senders) {
            try {
                t.join(waitMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
