package org.openrm.ops.internal;

import java.util.List;
import java.util.Map;

import org.openrm.api.SipStatus;

/**
 * The status page on {@code GET /}: one self-contained HTML document (no script, no external asset), in the
 * spirit of HAProxy's stats page: resources, tenants and profiles, the SIP path, readiness.
 */
final class StatusPage {
    private StatusPage() { }

    static String render(NodeView v, String nodeId, double callsPerSecond) {
        StringBuilder b = new StringBuilder(8192);
        Map<String, String> notReady = v.notReady();
        String notAlive = v.notAlive();
        b.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>openrm ")
                .append(esc(nodeId)).append("</title><style>")
                .append("body{font:13px sans-serif;margin:1em;background:#fafafa}table{border-collapse:collapse;margin:.5em 0 1.5em}")
                .append("th,td{border:1px solid #bbb;padding:2px 8px;text-align:left}th{background:#dde}")
                .append("td.n{text-align:right}.in-service{background:#cfc}.suspect{background:#ffc}.down{background:#fcc}")
                .append(".quarantined{background:#fdb}.out-of-service{background:#ddd}.b2{background:#ffc}.b3{background:#fcc}")
                .append("</style></head><body>");
        b.append("<h1>openrm node ").append(esc(nodeId)).append("</h1>");
        b.append("<p id=\"summary\">").append(notAlive == null ? "alive" : "NOT ALIVE: " + esc(notAlive)).append(" &middot; ")
                .append(notReady.isEmpty() ? "ready" : "not ready").append(" &middot; ")
                .append(v.sessions.size()).append(" calls in progress &middot; ")
                .append(String.format(java.util.Locale.ROOT, "%.1f", callsPerSecond)).append(" calls/s admitted</p>");
        if (!notReady.isEmpty()) {
            b.append("<table id=\"readiness\"><tr><th>condition</th><th>failing because</th></tr>");
            notReady.forEach((k, why) -> b.append("<tr><td>").append(esc(k)).append("</td><td>").append(esc(why)).append("</td></tr>"));
            b.append("</table>");
        }
        List<NodeView.Resource> rs = v.resources();
        b.append("<h2>Media servers</h2><table id=\"resources\"><tr><th>resource</th><th>group</th><th>URI</th><th>state</th>")
                .append("<th>in use</th><th>capacity</th><th>probe latency ms</th><th>last probe</th></tr>");
        for (NodeView.Resource r : rs) {
            b.append("<tr class=\"").append(esc(r.state())).append("\"><td>").append(esc(r.name())).append("</td><td>")
                    .append(esc(r.group())).append("</td><td>").append(esc(r.uri())).append("</td><td>").append(esc(r.state()))
                    .append("</td><td class=\"n\">").append(r.inUse()).append("</td><td class=\"n\">").append(r.capacity())
                    .append("</td><td class=\"n\">").append(r.latencyMs() < 0 ? "" : Long.toString(r.latencyMs()))
                    .append("</td><td>").append(esc(r.lastProbe() == null ? "" : r.lastProbe())).append("</td></tr>");
        }
        b.append("</table>");
        List<NodeView.Usage> us = v.usage();
        b.append("<h2>Tenants and profiles</h2><table id=\"tenants\"><tr><th>kind</th><th>name</th><th>usage</th>")
                .append("<th>limit</th><th>hard limit</th><th>burst level</th></tr>");
        for (NodeView.Usage u : us) {
            b.append("<tr class=\"b").append(u.burstLevel()).append("\"><td>").append(esc(u.kind())).append("</td><td>")
                    .append(esc(u.name())).append("</td><td class=\"n\">").append(u.usage()).append("</td><td class=\"n\">")
                    .append(u.limit() < 0 ? "" : Integer.toString(u.limit())).append("</td><td class=\"n\">")
                    .append(u.hardLimit() < 0 ? "none" : Integer.toString(u.hardLimit())).append("</td><td class=\"n\">")
                    .append(u.burstLevel()).append("</td></tr>");
        }
        b.append("</table>");
        SipStatus sip = v.sip();
        b.append("<h2>SIP</h2><table id=\"sip\">");
        if (sip == null) {
            b.append("<tr><td>the SIP bundle is not active</td></tr>");
        } else {
            row(b, "listening", Boolean.toString(sip.listening()));
            row(b, "warm", Boolean.toString(sip.warm()));
            row(b, "INVITEs pending", Integer.toString(sip.pendingInvites()));
            sip.counters().forEach((k, n) -> row(b, k, Long.toString(n)));
        }
        b.append("</table><h2>Billing</h2><table id=\"billing\">");
        org.openrm.api.BillingStatus bs = v.billing();
        if (bs == null) {
            b.append("<tr><td>the billing bundle is not active</td></tr>");
        } else {
            row(b, "broker", bs.brokerConnected() ? "connected" : "NOT connected");
            row(b, "records waiting", Long.toString(bs.pendingRecords()));
            row(b, "delivery lag s", Long.toString(bs.deliveryLagMs() / 1000));
            row(b, "spool KB", Long.toString(bs.spoolBytes() / 1024));
            row(b, "delivered", Long.toString(bs.delivered()));
            row(b, "dropped (spool full)", Long.toString(bs.dropped()));
        }
        b.append("</table></body></html>");
        return b.toString();
    }

    private static void row(StringBuilder b, String k, String v) {
        b.append("<tr><th>").append(esc(k)).append("</th><td class=\"n\">").append(esc(v)).append("</td></tr>");
    }

    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
