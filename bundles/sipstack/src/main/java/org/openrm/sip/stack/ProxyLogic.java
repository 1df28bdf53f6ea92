package org.openrm.sip.stack;

import java.net.InetAddress;

import javax.sip.SipListener;
import javax.sip.message.Request;

/**
 * The proxy logic (bundle {@code org.openrm.sip}) as the stack sees it: the listener it hands messages to, and what
 * the edge asks of it. The stack keeps running while one logic is replaced by another: the new one gets every new
 * request; the old one, retiring, keeps what it started (its transactions, CANCELs of its calls) until it is idle
 * or {@code proxy.retire.ms} has passed.
 */
public interface ProxyLogic extends SipListener {
    /** The configuration changed; {@code stackRestarts}: the stack is about to restart (new sockets). */
    void configured(SipConfig c, boolean stackRestarts);

    /** The SIP Server's host, a media server's, or another cluster member's: accepted outside trusted.peers. */
    boolean isKnownPeer(InetAddress a);

    /** INVITEs this logic is waiting for a final response to (the overload guard's hard bound). */
    int pendingInvites();

    /** A BYE was relayed from its bytes on the receive thread: end its session (called on a bounded worker). */
    void byeRelayed(String callId, String fromTag);

    /** True if this logic started the transaction whose application data this is. */
    boolean owns(Object applicationData);

    /** True if this CANCEL is for a call this logic is setting up. */
    boolean ownsCancel(Request cancel);

    /** True when nothing this logic started is still pending: it can go. */
    boolean idle();

    /** This logic has retired (idle, or its time is up): it gets nothing more and stops its timers. */
    void retired();
}
