package org.openrm.billing.internal;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import org.openrm.api.EndReason;
import org.openrm.api.Selection;
import org.openrm.api.Session;

/**
 * The JSON of billing records (schema in the README), written and read with Jackson's streaming API (jackson-core:
 * no object mapping on the call path).
 */
final class Json {
    static final int SCHEMA = 1;
    private static final JsonFactory FACTORY = new JsonFactory();

    private Json() { }

    @FunctionalInterface
    private interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    private static String object(Body body) {
        StringWriter w = new StringWriter(768);
        try (JsonGenerator g = FACTORY.createGenerator(w)) {
            g.writeStartObject();
            body.write(g);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return w.toString();
    }

    /** The CDR of one session. */
    static String cdr(Session s, EndReason reason, int code, long endedAt, int nodeId, long seq) {
        return object(g -> {
            g.writeNumberField("schema", SCHEMA);
            g.writeStringField("type", "cdr");
            g.writeStringField("sessionId", s.id());
            g.writeNumberField("seq", seq);
            g.writeNumberField("nodeId", nodeId);
            g.writeStringField("callId", s.callId());
            g.writeStringField("from", s.from());
            g.writeStringField("to", s.to());
            g.writeStringField("dnis", s.dialled());
            g.writeStringField("ani", user(s.from()));
            Selection sel = s.selection();
            g.writeStringField("tenant", sel == null ? null : sel.tenant());
            g.writeArrayFieldStart("tenants");
            if (sel != null) {
                List<String> t = sel.tenants();
                for (int i = 0; i < t.size(); i++) {
                    g.writeStartObject();
                    g.writeStringField("name", t.get(i));
                    g.writeNumberField("usage", sel.usage().get(i));
                    g.writeNumberField("burstLevel", sel.burstLevels().get(i));
                    g.writeEndObject();
                }
            }
            g.writeEndArray();
            g.writeStringField("profile", sel == null ? null : sel.profile());
            g.writeStringField("service", sel == null ? null : sel.service());
            g.writeStringField("resourceGroup", s.group());
            g.writeStringField("resource", s.lastResource());
            g.writeNumberField("attempts", s.attempts());
            g.writeNumberField("receivedAt", s.receivedAt());
            if (s.answeredAt() == 0) {
                g.writeNullField("answeredAt");
            } else {
                g.writeNumberField("answeredAt", s.answeredAt());
            }
            g.writeNumberField("endedAt", endedAt);
            g.writeNumberField("durationMs", s.answered() ? Math.max(0, endedAt - s.answeredAt()) : 0);
            g.writeStringField("endReason", reason.name().toLowerCase(Locale.ROOT).replace('_', '-'));
            g.writeNumberField("finalCode", code);
        });
    }

    /** Operational statistics of one interval: per tenant and per profile, arrivals and peak concurrent calls. */
    static String stats(int nodeId, long seq, long from, long to, Map<String, long[]> tenants, Map<String, long[]> profiles) {
        return object(g -> {
            g.writeNumberField("schema", SCHEMA);
            g.writeStringField("type", "stats");
            g.writeNumberField("seq", seq);
            g.writeNumberField("nodeId", nodeId);
            g.writeNumberField("intervalStart", from);
            g.writeNumberField("intervalEnd", to);
            counters(g, "tenants", tenants);
            counters(g, "profiles", profiles);
        });
    }

    private static void counters(JsonGenerator g, String name, Map<String, long[]> m) throws IOException {
        g.writeObjectFieldStart(name);
        for (Map.Entry<String, long[]> e : new TreeMap<>(m).entrySet()) {
            g.writeObjectFieldStart(e.getKey());
            g.writeNumberField("arrivals", e.getValue()[0]);
            g.writeNumberField("peakConcurrent", e.getValue()[1]);
            g.writeEndObject();
        }
        g.writeEndObject();
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

    /** The top-level string field {@code key} of a record, or null (absent, null, or not JSON). */
    static String field(String json, String key) {
        try (JsonParser p = FACTORY.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                if (name.equals(key)) {
                    return v == JsonToken.VALUE_STRING ? p.getText() : null;
                }
                p.skipChildren();
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }
}
