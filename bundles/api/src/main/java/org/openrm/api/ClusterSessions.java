package org.openrm.api;

/**
 * The sessions of the other members of a cluster, as the SIP path needs them (published by the cluster bundle
 * while the node is clustered). Every member holds a replica of the minimal record of every live session the
 * others own; when a member is gone, a survivor that receives an in-dialog request for one of its sessions takes
 * the session over: it joins this node's {@link SessionStore}, its port and policy counts counted here (above this
 * node's share if need be: the call holds them already, and the cluster counts this node at no less than its
 * count), and ends there, with its one CDR, like any other.
 *
 * <p>Every method is cheap and never blocks: the SIP workers call them.
 */
public interface ClusterSessions {

    /** A cluster member that owns the SIP address a request's top Route names. */
    record Peer(String node, boolean alive) { }

    /**
     * The SIP address this node record-routes with (the sip bundle tells it whenever its stack starts), so that
     * the other members know which Route entries name this node.
     */
    void advertise(String host, int port);

    /** True if a member in the view advertised this host: its requests are trusted like the SIP Server's. */
    boolean isMemberHost(String host);

    /**
     * The SIP addresses ({@code host:port}) of the members in the view, this node excluded: the sip bundle keeps the
     * last set while the cluster bundle is away (an update), to go on forwarding their dialogs to them.
     */
    default java.util.Set<String> memberAddresses() {
        return java.util.Set.of();
    }

    /** The member whose advertised SIP address is {@code host:port} (this node excluded), or null. */
    Peer peerAt(String host, int port);

    /**
     * Takes over the session with this Call-ID if a departed member owned it: the session is opened in this node's
     * store with its port and policy counts and the others are told this node owns it now.
     *
     * @return the session, now in this node's store, or null when no departed member's replica has this Call-ID
     */
    Session takeOver(String callId);
}
