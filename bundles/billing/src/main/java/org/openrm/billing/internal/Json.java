package org.openrm.billing.internal;

import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.openrm.api.EndReason;
import org.openrm.api.Selection;
import org.openrm.api.Session;

/** The JSON of billing records (schema in the README), written by hand: no library on the call path. */
final class Json {
    static final int SCHEMA = 1;

    private Json() { }

    /** The CDR of one session. */
    static String cdr(Session s, EndReason reason, int code, long endedAt, int nodeId, long seq) {
        StringBuilder b = new StringBuilder(768);
        b.append("{\"schema\":").append(SCHEMA).append(",\"type\":\"cdr\"");
        str(b, "sessionId", s.id());
        b.append(",\"seq\":").append(seq);
        b.append(",\"nodeId\":").append(nodeId);
        str(b, "callId", s.callId());
        str(b, "from", s.from());
        str(b, "to", s.to());
        str(b, "dnis", s.dialled());
        str(b, "ani", user(s.from()));
        Selection sel = s.selection();
        str(b, "tenant", sel == null ? null : sel.tenant());
        b.append(",\"tenants\":[");
        if (sel != null) {
            List<String> t = sel.tenants();
            for (int i = 0; i < t.size(); i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append('{');
                b.append("\"name\":");
                quote(b, t.get(i));
                b.append(",\"usage\":").append(sel.usage().get(i));
                b.append(",\"burstLevel\":").append(sel.burstLevels().get(i));
                b.append('}');
            }
        }
        b.append(']');
        str(b, "profile", sel == null ? null : sel.profile());
        str(b, "service", sel == null ? null : sel.service());
        str(b, "resourceGroup", s.group());
        str(b, "resource", s.lastResource());
        b.append(",\"attempts\":").append(s.attempts());
        b.append(",\"receivedAt\":").append(s.receivedAt());
        b.append(",\"answeredAt\":").append(s.answeredAt() == 0 ? "null" : Long.toString(s.answeredAt()));
        b.append(",\"endedAt\":").append(endedAt);
        b.append(",\"durationMs\":").append(s.answered() ? Math.max(0, endedAt - s.answeredAt()) : 0);
        str(b, "endReason", reason.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        b.append(",\"finalCode\":").append(code);
        b.append('}');
        return b.toString();
    }

    /** Operational statistics of one interval: per tenant and per profile, arrivals and peak concurrent calls. */
    static String stats(int nodeId, long seq, long from, long to, Map<String, long[]> tenants, Map<String, long[]> profiles) {
        StringBuilder b = new StringBuilder(256);
        b.append("{\"schema\":").append(SCHEMA).append(",\"type\":\"stats\"");
        b.append(",\"seq\":").append(seq);
        b.append(",\"nodeId\":").append(nodeId);
        b.append(",\"intervalStart\":").append(from).append(",\"intervalEnd\":").append(to);
        counters(b, "tenants", tenants);
        counters(b, "profiles", profiles);
        b.append('}');
        return b.toString();
    }

    private static void counters(StringBuilder b, String name, Map<String, long[]> m) {
        b.append(",\"").append(name).append("\":{");
        boolean first = true;
        for (Map.Entry<String, long[]> e : new java.util.TreeMap<>(m).entrySet()) {
            if (!first) {
                b.append(',');
            }
            first = false;
            quote(b, e.getKey());
            b.append(":{\"arrivals\":").append(e.getValue()[0]).append(",\"peakConcurrent\":").append(e.getValue()[1]).append('}');
        }
        b.append('}');
    }

    /** The user part of a SIP URI in a From/To value ({@code "A" <sip:5551234@host>;tag=x} gives 5551234). */
    static String user(String nameAddr) {
        if (nameAddr == null) {
            return null;
        }
        boolean tel = false;
        int start = nameAddr.indexOf("sip:");
        if (start >= 0) {
            start += 4;
        } else if ((start = nameAddr.indexOf("sips:")) >= 0) {
            start += 5;
        } else if ((start = nameAddr.indexOf("tel:")) >= 0) {
            start += 4;
            tel = true;
        } else {
            return null;
        }
        int end = start;
        while (end < nameAddr.length() && "@;>?".indexOf(nameAddr.charAt(end)) < 0) {
            end++;
        }
        boolean hasUser = end < nameAddr.length() && nameAddr.charAt(end) == '@';
        return tel || hasUser ? nameAddr.substring(start, end) : null;
    }

    private static void str(StringBuilder b, String key, String value) {
        b.append(",\"").append(key).append("\":");
        if (value == null) {
            b.append("null");
        } else {
            quote(b, value);
        }
    }

    static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }

    /** The value of string field {@code key} in a record written by this class, or null. */
    static String field(String json, String key) {
        String k = "\"" + key + "\":\"";
        int i = json.indexOf(k);
        if (i < 0) {
            return null;
        }
        int start = i + k.length();
        int end = json.indexOf('"', start);
        return end < 0 ? null : json.substring(start, end);
    }
}
