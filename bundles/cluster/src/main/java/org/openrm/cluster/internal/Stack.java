package org.openrm.cluster.internal;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.jgroups.JChannel;

/**
 * The JGroups stack of connection 6: TCP on {@code bind.port}, discovery by a static list (TCPPING) or DNS
 * (DNS_PING, for orchestrated deployments), failure detection by socket (FD_SOCK2, a crash seen at once) and
 * heartbeat (FD_ALL3, a frozen or cut-off node), merges after partitions (MERGE3), acknowledged multicasts (RSVP).
 * Passed to JGroups as a stream: a resource name in this bundle would not be found from JGroups' class loader.
 */
final class Stack {
    private Stack() {
    }

    /** host:port entries of {@code peers}, with {@code defaultPort} where a port is missing. */
    static List<String> peers(String peers, int defaultPort) {
        List<String> out = new ArrayList<>();
        for (String p : peers.split("[,\\s]+")) {
            if (p.isBlank()) {
                continue;
            }
            int colon = p.lastIndexOf(':');
            if (colon > 0 && p.indexOf(']') < colon) {
                int port = Integer.parseInt(p.substring(colon + 1));
                if (port <= 0 || port > 65535) {
                    throw new IllegalArgumentException("peer " + p + ": port out of range");
                }
                out.add(p);
            } else {
                out.add(p + ":" + defaultPort);
            }
        }
        return out;
    }

    static String xml(String bindAddress, int bindPort, List<String> peers, String dnsQuery, long failureMs) {
        return xml(bindAddress, bindPort, peers, dnsQuery, null, failureMs);
    }

    /** The stack; {@code dnsAddress} (host or host:port) is the DNS server DNS_PING asks, null or blank: the system's. */
    static String xml(String bindAddress, int bindPort, List<String> peers, String dnsQuery, String dnsAddress,
                      long failureMs) {
        StringBuilder hosts = new StringBuilder();
        for (String p : peers) {
            int colon = p.lastIndexOf(':');
            if (hosts.length() > 0) {
                hosts.append(',');
            }
            hosts.append(p, 0, colon).append('[').append(p.substring(colon + 1)).append(']');
        }
        String discovery = dnsQuery == null || dnsQuery.isBlank()
                ? "<TCPPING initial_hosts=\"" + hosts + "\" port_range=\"0\"/>"
                : "<dns.DNS_PING dns_query=\"" + escape(dnsQuery) + "\" dns_record_type=\"A\""
                + (dnsAddress == null || dnsAddress.isBlank() ? "" : " dns_address=\"" + escape(dnsAddress.trim()) + "\"")
                + "/>";
        long heartbeat = Math.max(200, failureMs / 3);
        return "<config xmlns=\"urn:org:jgroups\">"
                + "<TCP bind_addr=\"" + escape(bindAddress) + "\" bind_port=\"" + bindPort + "\" port_range=\"0\""
                + " diag.enabled=\"false\" thread_pool.min_threads=\"1\" thread_pool.max_threads=\"8\"/>"
                + discovery
                + "<MERGE3 min_interval=\"1000\" max_interval=\"3000\"/>"
                + "<FD_SOCK2 bind_addr=\"" + escape(bindAddress) + "\"/>"
                + "<FD_ALL3 timeout=\"" + failureMs + "\" interval=\"" + heartbeat + "\"/>"
                + "<VERIFY_SUSPECT2 timeout=\"" + Math.max(500, failureMs / 3) + "\"/>"
                + "<pbcast.NAKACK2 use_mcast_xmit=\"false\"/>"
                + "<UNICAST3/>"
                + "<pbcast.STABLE desired_avg_gossip=\"5000\" max_bytes=\"1m\"/>"
                + "<pbcast.GMS join_timeout=\"2000\" print_local_addr=\"false\"/>"
                + "<RSVP timeout=\"" + Math.max(1000, failureMs) + "\" resend_interval=\"200\" ack_on_delivery=\"true\"/>"
                + "<MFC max_credits=\"2m\" min_threshold=\"0.4\"/>"
                + "<FRAG4 frag_size=\"60000\"/>"
                + "</config>";
    }

    static JChannel channel(String xml) {
        try {
            return new JChannel(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new IllegalStateException("JGroups stack not built: " + e.getMessage(), e);
        }
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("\"", "&quot;").replace("<", "&lt;");
    }
}
