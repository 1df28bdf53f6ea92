package gov.nist.javax.sip.stack;

import java.net.InetAddress;

/**
 * openrm's one reach into the reference stack's connection state (this package, embedded privately in the
 * openrm sip bundle): a stream connection answers on itself, whatever the request's Via claimed. The stack
 * otherwise takes the transport and the fallback address from the Via of the first request on a connection,
 * and would open a new connection to a name a stranger wrote there.
 */
public final class OpenrmChannels {
    private OpenrmChannels() { }

    /** Pins a connection-oriented channel's peer to the socket's own address and port. */
    public static void pinToSocket(MessageChannel ch, String transport, InetAddress address, int port) {
        if (ch instanceof ConnectionOrientedMessageChannel c) {
            c.peerProtocol = transport;
            c.peerAddressAdvertisedInHeaders = address.getHostAddress();
            c.peerPortAdvertisedInHeaders = port;
        }
    }
}
