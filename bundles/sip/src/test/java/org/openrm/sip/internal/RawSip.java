package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** A UDP socket on loopback that sends hand-written SIP and reads what comes back. */
final class RawSip implements AutoCloseable {
    final DatagramSocket socket;

    RawSip() throws IOException {
        this(0);
    }

    RawSip(int port) throws IOException {
        this(port, InetAddress.getLoopbackAddress());
    }

    /** Bound to {@code address}, e.g. 127.0.0.2: a stranger on loopback, neither the SIP Server nor a media server. */
    RawSip(int port, InetAddress address) throws IOException {
        socket = new DatagramSocket(port, address);
        socket.setSoTimeout(3000);
    }

    static RawSip stranger() throws IOException {
        return new RawSip(0, InetAddress.getByName("127.0.0.2"));
    }

    int port() {
        return socket.getLocalPort();
    }

    void send(String text, int port) throws IOException {
        byte[] b = text.replace("\n", "\r\n").getBytes(StandardCharsets.UTF_8);
        socket.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), port));
    }

    /** The next message received, or null after {@code millis}. */
    String receive(int millis) throws IOException {
        socket.setSoTimeout(millis);
        byte[] buf = new byte[65535];
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        try {
            socket.receive(p);
        } catch (SocketTimeoutException e) {
            return null;
        }
        return new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8);
    }

    /** Receives until a message whose first line contains {@code status}; fails after 5 s. */
    String expect(String status) throws IOException {
        long end = System.currentTimeMillis() + 5000;
        StringBuilder seen = new StringBuilder();
        while (System.currentTimeMillis() < end) {
            String m = receive(500);
            if (m == null) {
                continue;
            }
            String first = m.substring(0, m.indexOf('\r'));
            if (first.contains(status)) {
                return m;
            }
            seen.append(first).append('\n');
        }
        throw new AssertionError("no '" + status + "' received; got:\n" + seen);
    }

    static String request(String method, String ruri, int from, int maxForwards, String extra) {
        return request(method, ruri, "127.0.0.1", from, maxForwards, extra);
    }

    static String request(String method, String ruri, String host, int from, int maxForwards, String extra) {
        return method + " " + ruri + " SIP/2.0\n"
                + "Via: SIP/2.0/UDP " + host + ":" + from + ";branch=z9hG4bK-raw-" + System.nanoTime() + "\n"
                + "From: <sip:test@127.0.0.1:" + from + ">;tag=t" + System.nanoTime() + "\n"
                + "To: <" + ruri + ">\n"
                + "Call-ID: raw-" + System.nanoTime() + "@127.0.0.1\n"
                + "CSeq: 1 " + method + "\n"
                + "Contact: <sip:test@127.0.0.1:" + from + ">\n"
                + "Max-Forwards: " + maxForwards + "\n"
                + extra
                + "Content-Length: 0\n\n";
    }

    @Override
    public void close() {
        socket.close();
    }
}
