package org.openrm.configsync.internal;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.openrm.api.ModelValidator;

/**
 * The key layout under the prefix: {@code tenant/<name>}, {@code profile/<name>}, {@code lrg/<name>},
 * {@code resource/<name>} and {@code routing}, each one flat JSON object with the keys of its etc/ PID;
 * {@code nodes/<node.id>} are the nodes' own entries (not model). Model keys are named here as
 * {@code <factory PID>~<name>}, as {@link ModelValidator} takes them.
 */
final class Layout {
    private Layout() { }

    static final String NODES = "nodes/";

    private static final Map<String, String> KINDS = Map.of(
            "tenant/", ModelValidator.TENANT,
            "profile/", ModelValidator.PROFILE,
            "lrg/", ModelValidator.GROUP,
            "resource/", ModelValidator.RESOURCE);

    /** A value that is not a model configuration. */
    static final class BadValue extends Exception {
        BadValue(String why) {
            super(why);
        }
    }

    /**
     * The model key of a key relative to the prefix ({@code resource/mcp1} gives {@code org.openrm.resource~mcp1}),
     * null for a key outside the model ({@code nodes/...}).
     */
    static String modelKey(String rel) throws BadValue {
        if (rel.startsWith(NODES)) {
            return null;
        }
        if (rel.equals("routing")) {
            return ModelValidator.ROUTING;
        }
        for (Map.Entry<String, String> k : KINDS.entrySet()) {
            if (rel.startsWith(k.getKey())) {
                String name = rel.substring(k.getKey().length());
                if (name.isEmpty() || name.contains("/") || name.contains("~") || name.isBlank()) {
                    throw new BadValue("'" + name + "' is not a name (no '/', '~' or blanks)");
                }
                return k.getValue() + "~" + name;
            }
        }
        throw new BadValue("is not a key of the layout (tenant/, profile/, lrg/, resource/, routing, nodes/)");
    }

    /** The key relative to the prefix of a model key. */
    static String relKey(String modelKey) {
        if (ModelValidator.ROUTING.equals(modelKey)) {
            return "routing";
        }
        int tilde = modelKey.indexOf('~');
        String factory = modelKey.substring(0, tilde);
        for (Map.Entry<String, String> k : KINDS.entrySet()) {
            if (k.getValue().equals(factory)) {
                return k.getKey() + modelKey.substring(tilde + 1);
            }
        }
        return modelKey;
    }

    /** The properties of one JSON value: a flat object of strings, numbers, booleans, or arrays of those (joined by commas). */
    static Map<String, Object> props(String json) throws BadValue {
        JsonNode n;
        try {
            n = Etcd.JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new BadValue("is not JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) {
            throw new BadValue("is not a JSON object");
        }
        Map<String, Object> out = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode v = f.getValue();
            Object value;
            if (v.isTextual()) {
                value = v.asText();
            } else if (v.isBoolean()) {
                value = v.asBoolean();
            } else if (v.isIntegralNumber() && v.canConvertToInt()) {
                value = v.asInt();
            } else if (v.isIntegralNumber() && v.canConvertToLong()) {
                value = v.asLong();
            } else if (v.isArray()) {
                StringBuilder b = new StringBuilder();
                for (JsonNode x : v) {
                    if (!x.isValueNode() || x.isNull()) {
                        throw new BadValue(f.getKey() + ": an array may hold only strings and numbers");
                    }
                    b.append(b.length() == 0 ? "" : ",").append(x.asText());
                }
                value = b.toString();
            } else if (v.isNull()) {
                continue;
            } else {
                throw new BadValue(f.getKey() + ": must be a string, a whole number, a boolean or an array of those");
            }
            if (f.getKey().equals("name") || f.getKey().startsWith("openrm.") || f.getKey().startsWith("service.")
                    || f.getKey().startsWith("felix.")) {
                throw new BadValue(f.getKey() + ": is set by openrm, not by the config server");
            }
            out.put(f.getKey(), value);
        }
        return out;
    }

    /** The JSON of a configuration's own keys (for {@code rm:config-export}). */
    static String json(Map<String, Object> props) {
        ObjectNode o = Etcd.JSON.createObjectNode();
        for (Map.Entry<String, Object> e : new TreeMap<>(props).entrySet()) {
            String k = e.getKey();
            if (k.equals("name") || k.startsWith("openrm.") || k.startsWith("service.") || k.startsWith("felix.")
                    || k.startsWith("component.")) {
                continue;
            }
            Object v = e.getValue();
            if (v instanceof Integer i) {
                o.put(k, i);
            } else if (v instanceof Long l) {
                o.put(k, l);
            } else if (v instanceof Boolean b) {
                o.put(k, b);
            } else if (v instanceof String[] a) {
                o.put(k, String.join(",", a));
            } else if (v != null) {
                o.put(k, v.toString());
            }
        }
        return o.toString();
    }

    /** Model keys to properties, for the keys of a view (relative key to JSON text); the first bad key fails it. */
    static Map<String, Map<String, Object>> model(Map<String, String> view) throws BadValue {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : new TreeMap<>(view).entrySet()) {
            try {
                String mk = modelKey(e.getKey());
                if (mk != null) {
                    out.put(mk, props(e.getValue()));
                }
            } catch (BadValue b) {
                throw new BadValue(e.getKey() + ": " + b.getMessage());
            }
        }
        return out;
    }
}
