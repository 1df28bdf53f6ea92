package gov.nist.javax.sip.stack;

import java.lang.reflect.Field;
import java.net.DatagramSocket;
import java.net.InetAddress;

/**
 * openrm's one reach into the reference stack's connection state (this package, embedded privately in the
 * openrm sip bundle): a stream connection answers on itself, whatever the request's Via claimed. The stack
 * otherwise takes the transport and the fallback address from the Via of the first request on a connection,
 * and would open a new connection to a name a stranger wrote there.
 */
public final class OpenrmChannels {
    private OpenrmChannels() { }

    /**
     * Pins a connection-oriented channel's peer to the socket's own address and port, and makes sure the stack's
     * connection table knows the socket before any answer is sent on it. The reference stack marks a new connection
     * cached before it enters it in that table; with TCP messages handled by a pool, the second message of a new
     * connection (a SIP Server that opens with two INVITEs) can be answered in between, the answer finds no
     * connection and the stack opens a second one to the peer's Via address, which breaks the peer's own.
     */
    public static void pinToSocket(MessageChannel ch, String transport, InetAddress address, int port) {
        if (ch instanceof ConnectionOrientedMessageChannel c) {
            c.peerProtocol = transport;
            c.peerAddressAdvertisedInHeaders = address.getHostAddress();
            c.peerPortAdvertisedInHeaders = port;
            java.net.Socket s = c.mySock;
            if (s != null && !(c.messageProcessor instanceof NioTcpMessageProcessor) && c.sipStack != null
                    && s.getRemoteSocketAddress() instanceof java.net.InetSocketAddress r) {
                String key = IOHandler.makeKey(s.getInetAddress(), r.getPort());
                IOHandler io = c.sipStack.ioHandler;
                if (io != null && io.getSocket(key) == null) {
                    io.putSocket(key, s);
                }
            }
        }
    }

    /**
     * Makes a UDP processor's per-datagram receive buffer one byte long, when its socket is of the given class: a
     * socket that receives into a buffer of its own and hands over an array of the datagram's exact length. Returns
     * whether it did (false on another stack version: the processor then keeps its 64 KB buffer per datagram).
     */
    public static boolean shrinkReceiveBuffer(MessageProcessor mp, Class<? extends DatagramSocket> ownBuffer) {
        if (!(mp instanceof UDPMessageProcessor u) || !ownBuffer.isInstance(u.sock)) {
            return false;
        }
        try {
            Field f = UDPMessageProcessor.class.getDeclaredField("maxMessageSize");
            f.setAccessible(true);
            f.setInt(u, 1);
            return true;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }
}
