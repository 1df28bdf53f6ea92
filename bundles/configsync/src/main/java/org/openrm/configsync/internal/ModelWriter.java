package org.openrm.configsync.internal;

import java.io.IOException;
import java.util.Dictionary;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.Map;
import java.util.Objects;

import org.openrm.api.ModelValidator;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * Writes a checked model into Configuration Admin as the difference from what sync wrote before, between two writes
 * of the marker ({@code state=applying}, then {@code applied}), so that routing rebuilds once, with the whole change.
 * Factory configurations are named {@code etcd.<name>} (PID {@code org.openrm.resource~etcd.mcp1}) so that they never
 * collide with a configuration of an etc/ file, which file install would rewrite.
 */
final class ModelWriter {
    static final String ETCD = "etcd";
    static final String KEY_PROP = "openrm.etcd.key";

    private final ConfigurationAdmin cm;

    ModelWriter(ConfigurationAdmin cm) {
        this.cm = cm;
    }

    /** What one write changed. */
    record Result(int written, int deleted) {
        int changes() {
            return written + deleted;
        }
    }

    private static Map<String, Object> map(Dictionary<String, Object> d) {
        Map<String, Object> m = new HashMap<>();
        if (d != null) {
            for (Enumeration<String> k = d.keys(); k.hasMoreElements(); ) {
                String key = k.nextElement();
                m.put(key, d.get(key));
            }
        }
        return m;
    }

    /** The configurations sync wrote, by model key. */
    Map<String, Configuration> synced() throws IOException {
        Map<String, Configuration> out = new HashMap<>();
        try {
            Configuration[] cs = cm.listConfigurations("(" + ModelValidator.SOURCE_KEY + "=" + ETCD + ")");
            if (cs != null) {
                for (Configuration c : cs) {
                    Object k = c.getProperties() == null ? null : c.getProperties().get(KEY_PROP);
                    if (k != null) {
                        out.put(k.toString(), c);
                    }
                }
            }
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    private static Hashtable<String, Object> props(String modelKey, Map<String, Object> own) {
        Hashtable<String, Object> h = new Hashtable<>(own);
        h.put(ModelValidator.SOURCE_KEY, ETCD);
        h.put(KEY_PROP, modelKey);
        int tilde = modelKey.indexOf('~');
        if (tilde > 0) {
            h.put("name", modelKey.substring(tilde + 1));
        }
        return h;
    }

    /** True when a configuration holds exactly these properties (Configuration Admin's own keys aside). */
    private static boolean same(Configuration c, Hashtable<String, Object> want) {
        Map<String, Object> have = map(c.getProperties());
        have.keySet().removeIf(k -> k.startsWith("service.") || k.startsWith("felix."));
        if (have.size() != want.size()) {
            return false;
        }
        for (Map.Entry<String, Object> e : want.entrySet()) {
            if (!Objects.equals(String.valueOf(have.get(e.getKey())), String.valueOf(e.getValue()))) {
                return false;
            }
        }
        return true;
    }

    /** Writes {@code model} (model key to own properties), all of it or, on an I/O failure, leaves the marker at applying. */
    Result write(Map<String, Map<String, Object>> model, long revision) throws IOException {
        Map<String, Configuration> old = synced();
        Map<String, Hashtable<String, Object>> put = new HashMap<>();
        for (Map.Entry<String, Map<String, Object>> e : model.entrySet()) {
            Hashtable<String, Object> want = props(e.getKey(), e.getValue());
            Configuration c = old.remove(e.getKey());
            if (c == null || !same(c, want)) {
                put.put(e.getKey(), want);
            }
        }
        Configuration marker = cm.getConfiguration(ModelValidator.SYNC_MARKER_PID, "?");
        boolean firstTime = marker.getProperties() == null;
        if (put.isEmpty() && old.isEmpty() && !firstTime) {
            markApplied(marker, revision);
            return new Result(0, 0);
        }
        Hashtable<String, Object> applying = new Hashtable<>(map(marker.getProperties()));
        applying.put("state", "applying");
        applying.put("owner", "configsync");
        marker.update(applying);
        for (Map.Entry<String, Hashtable<String, Object>> e : put.entrySet()) {
            String key = e.getKey();
            Configuration c;
            if (ModelValidator.ROUTING.equals(key)) {
                c = cm.getConfiguration(ModelValidator.ROUTING, "?");
            } else {
                int tilde = key.indexOf('~');
                c = cm.getFactoryConfiguration(key.substring(0, tilde), ETCD + "." + key.substring(tilde + 1), "?");
            }
            c.update(e.getValue());
        }
        int deleted = 0;
        for (Map.Entry<String, Configuration> e : old.entrySet()) {
            if (ModelValidator.ROUTING.equals(e.getKey())) {
                continue; // a routing key removed from etcd leaves the last routing configuration in force
            }
            e.getValue().delete();
            deleted++;
        }
        markApplied(marker, revision);
        return new Result(put.size(), deleted);
    }

    private static void markApplied(Configuration marker, long revision) throws IOException {
        Hashtable<String, Object> applied = new Hashtable<>();
        applied.put("state", "applied");
        applied.put("owner", "configsync");
        applied.put("revision", revision);
        if (!same(marker, applied)) {
            marker.update(applied);
        }
    }

    /** Hands the model back to etc/ files: deletes every configuration sync wrote, and the marker. */
    int release() throws IOException {
        int n = 0;
        for (Map.Entry<String, Configuration> e : synced().entrySet()) {
            if (!ModelValidator.ROUTING.equals(e.getKey())) {
                e.getValue().delete();
                n++;
            }
        }
        try {
            Configuration[] m = cm.listConfigurations("(service.pid=" + ModelValidator.SYNC_MARKER_PID + ")");
            if (m != null) {
                for (Configuration c : m) {
                    c.delete();
                }
            }
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        return n;
    }
}
