package org.openrm.api;

import java.util.Map;

/**
 * The SIP path as operators watch it (published by the sip bundle; read by ops, SNMP and the console). Every
 * method is cheap and never blocks: probes and scrapes call it.
 */
public interface SipStatus {

    /** True while the SIP stack runs with its listening points bound. */
    boolean listening();

    /**
     * How long the SIP path has made no progress, in ms: the longest time one SIP worker has been inside openrm's
     * handler of one message right now (handlers never block: seconds mean a stuck or deadlocked worker), or how
     * late the SIP timer runs (a stuck event loop), whichever is larger; 0 when all is well.
     */
    long stalledMs();

    /** True once the SIP code paths are warmed up after the stack's last start (the node may take full load). */
    boolean warm();

    /** INVITEs waiting for a final response. */
    int pendingInvites();

    /**
     * Monotonic counters since the sip bundle started, by stable name (documented in the README): {@code invites},
     * {@code overload.rejected}, {@code failovers}, {@code stateless.responses}, {@code mcp.originated},
     * {@code undeliverable}, {@code request.errors}, and edge refusals as {@code edge.<reason>}.
     */
    Map<String, Long> counters();

    /**
     * SIP messages received, by method (responses as {@code response}) and transport: {@code udp.INVITE} -> n. Those
     * the proxy handled, including those answered or relayed from their bytes on the receive thread; not those the
     * edge refused or the stack absorbed as retransmissions.
     */
    Map<String, Long> received();

    /**
     * SIP messages sent on the wire, by method (responses as {@code response}) and transport, retransmissions
     * included: {@code tcp.BYE} -> n.
     */
    default Map<String, Long> sent() {
        return Map.of();
    }
}
