package org.openrm.configsync.internal;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import javax.net.ssl.SSLContext;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A client of etcd's v3 API through its HTTP/JSON gateway ({@code /v3/kv/range}, {@code /v3/watch}, leases,
 * transactions, {@code /v3/auth/authenticate}). It talks to one endpoint at a time and moves to the next of the list
 * when that one fails. The password is held here only, never logged nor put into an exception message.
 */
final class Etcd {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A key-value pair; {@code key} is the whole key. */
    record Kv(String key, String value, long modRevision, long createRevision) { }

    /** The result of a range read: the store's revision at the read, and the pairs. */
    record Range(long revision, List<Kv> kvs) { }

    /** The config server refused the request itself (not a transport failure): authentication, permission, a bad request. */
    static final class RefusedException extends IOException {
        RefusedException(String message) {
            super(message);
        }
    }

    private final List<URI> endpoints;
    private final String user;
    private final String password;
    private final HttpClient http;
    private final Duration timeout;
    private volatile int current;
    private volatile String token;

    Etcd(List<URI> endpoints, String user, String password, SSLContext tls, Duration timeout) {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("no endpoint");
        }
        this.endpoints = List.copyOf(endpoints);
        this.user = user == null || user.isEmpty() ? null : user;
        this.password = password;
        this.timeout = timeout;
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout);
        if (tls != null) {
            b.sslContext(tls);
        }
        this.http = b.build();
    }

    /** The endpoint requests go to now. */
    URI endpoint() {
        return endpoints.get(current);
    }

    /** Moves to the next endpoint of the list (after a failure of the current one). */
    synchronized void rotate(URI failed) {
        if (endpoints.get(current).equals(failed)) {
            current = (current + 1) % endpoints.size();
            token = null;
        }
    }

    static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    static String unb64(JsonNode n) {
        return n == null || n.isNull() ? "" : new String(Base64.getDecoder().decode(n.asText()), StandardCharsets.UTF_8);
    }

    /** The end of the range of keys that start with {@code prefix}. */
    static String prefixEnd(String prefix) {
        byte[] b = prefix.getBytes(StandardCharsets.UTF_8);
        for (int i = b.length - 1; i >= 0; i--) {
            if (b[i] != (byte) 0xff) {
                b[i]++;
                return Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(b, i + 1));
            }
        }
        return Base64.getEncoder().encodeToString(new byte[] {0});
    }

    private HttpRequest.Builder request(URI base, String path, JsonNode body, boolean withToken) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        String t = token;
        if (withToken && t != null) {
            b.header("Authorization", t);
        }
        return b;
    }

    /** Logs in (when a user is configured) on {@code base}; wrong credentials are a {@link RefusedException}. */
    private void authenticate(URI base) throws IOException {
        if (user == null) {
            return;
        }
        ObjectNode body = JSON.createObjectNode().put("name", user).put("password", password == null ? "" : password);
        JsonNode r = send(request(base, "v3/auth/authenticate", body, false).timeout(timeout).build());
        JsonNode t = r.get("token");
        if (t == null || t.asText().isEmpty()) {
            throw new RefusedException("etcd at " + base + " gave no token to user " + user);
        }
        token = t.asText();
    }

    private JsonNode send(HttpRequest req) throws IOException {
        HttpResponse<byte[]> resp;
        try {
            resp = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
        JsonNode n;
        try {
            n = JSON.readTree(resp.body());
        } catch (IOException e) {
            throw new IOException("etcd at " + req.uri() + " answered " + resp.statusCode() + " with no JSON");
        }
        if (resp.statusCode() != 200 || (n.has("error") && !n.has("header"))) {
            String msg = n.path("message").asText(n.path("error").asText("HTTP " + resp.statusCode()));
            throw new RefusedException(msg);
        }
        return n;
    }

    private static boolean authProblem(RefusedException e) {
        String m = e.getMessage();
        return m.contains("auth token") || m.contains("user name is empty") || m.contains("invalid auth");
    }

    /** What is tried on one endpoint. */
    @FunctionalInterface
    private interface Attempt<T> {
        T on(URI base) throws IOException, InterruptedException;
    }

    /**
     * Runs {@code attempt} on the current endpoint, logged in first when a user is configured; on a transport failure
     * it moves to the next endpoint and tries each once. A refusal by etcd is not retried.
     */
    private <T> T onSomeEndpoint(Attempt<T> attempt) throws IOException {
        IOException last = null;
        for (int tries = 0; tries < endpoints.size(); tries++) {
            URI base = endpoint();
            try {
                if (user != null && token == null) {
                    authenticate(base);
                }
                return attempt.on(base);
            } catch (RefusedException e) {
                throw e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            } catch (IOException e) {
                last = new IOException(base + ": " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
                rotate(base);
            }
        }
        throw last;
    }

    /** One request (an expired token is renewed once). */
    JsonNode call(String path, JsonNode body) throws IOException {
        return onSomeEndpoint(base -> {
            try {
                return send(request(base, path, body, true).timeout(timeout).build());
            } catch (RefusedException e) {
                if (user == null || !authProblem(e)) {
                    throw e;
                }
                authenticate(base);
                return send(request(base, path, body, true).timeout(timeout).build());
            }
        });
    }

    /** Every key that starts with {@code prefix}, in one range read. */
    Range range(String prefix) throws IOException {
        ObjectNode body = JSON.createObjectNode().put("key", b64(prefix)).put("range_end", prefixEnd(prefix));
        JsonNode r = call("v3/kv/range", body);
        List<Kv> out = new ArrayList<>();
        for (JsonNode kv : r.path("kvs")) {
            out.add(kv(kv));
        }
        return new Range(r.path("header").path("revision").asLong(), out);
    }

    static Kv kv(JsonNode kv) {
        return new Kv(unb64(kv.get("key")), unb64(kv.get("value")), kv.path("mod_revision").asLong(),
                kv.path("create_revision").asLong());
    }

    long put(String key, String value, long lease) throws IOException {
        ObjectNode body = JSON.createObjectNode().put("key", b64(key)).put("value", b64(value));
        if (lease != 0) {
            body.put("lease", Long.toString(lease));
        }
        return call("v3/kv/put", body).path("header").path("revision").asLong();
    }

    void delete(String key) throws IOException {
        call("v3/kv/deleterange", JSON.createObjectNode().put("key", b64(key)));
    }

    /** Writes {@code key} only if it does not exist, in one transaction; true when this call created it. */
    boolean putIfAbsent(String key, String value, long lease) throws IOException {
        ObjectNode body = JSON.createObjectNode();
        ArrayNode compare = body.putArray("compare");
        compare.addObject().put("key", b64(key)).put("result", "EQUAL").put("target", "CREATE").put("create_revision", "0");
        ObjectNode put = body.putArray("success").addObject().putObject("request_put").put("key", b64(key)).put("value", b64(value));
        if (lease != 0) {
            put.put("lease", Long.toString(lease));
        }
        return call("v3/kv/txn", body).path("succeeded").asBoolean(false);
    }

    /** A lease of {@code ttlS} seconds; its id. */
    long grant(long ttlS) throws IOException {
        JsonNode r = call("v3/lease/grant", JSON.createObjectNode().put("TTL", Long.toString(ttlS)));
        long id = r.path("ID").asLong();
        if (id == 0) {
            throw new RefusedException("etcd granted no lease: " + r.path("error").asText(""));
        }
        return id;
    }

    /** Renews a lease; false when etcd no longer knows it (it expired). */
    boolean keepAlive(long id) throws IOException {
        JsonNode r = call("v3/lease/keepalive", JSON.createObjectNode().put("ID", Long.toString(id)));
        JsonNode res = r.has("result") ? r.get("result") : r;
        return res.path("TTL").asLong(0) > 0;
    }

    void revoke(long id) throws IOException {
        call("v3/lease/revoke", JSON.createObjectNode().put("ID", Long.toString(id)));
    }

    /** A watch stream on the keys under a prefix, from a revision. */
    final class Watch implements AutoCloseable {
        private final InputStream in;
        private final MappingIterator<JsonNode> it;
        final URI endpoint;

        private Watch(URI endpoint, InputStream in) throws IOException {
            this.endpoint = endpoint;
            this.in = in;
            this.it = JSON.readerFor(JsonNode.class).readValues(in);
        }

        /** The next response ({@code result} object), or null when the stream ended. */
        JsonNode next() throws IOException {
            try {
                if (!it.hasNextValue()) {
                    return null;
                }
                JsonNode n = it.nextValue();
                if (n.has("error")) {
                    throw new RefusedException("watch: " + n.path("error").path("message").asText(n.path("error").toString()));
                }
                return n.path("result");
            } catch (RuntimeException e) {
                throw new IOException("watch stream from " + endpoint + " broke: " + e.getMessage());
            }
        }

        @Override
        public void close() {
            try {
                in.close();
            } catch (IOException ignored) {
                // closing a stream whose connection already failed
            }
        }
    }

    Watch watch(String prefix, long fromRevision) throws IOException {
        ObjectNode body = JSON.createObjectNode();
        body.putObject("create_request").put("key", b64(prefix)).put("range_end", prefixEnd(prefix))
                .put("start_revision", Long.toString(fromRevision)).put("progress_notify", true);
        return onSomeEndpoint(base -> {
            // the timeout bounds the wait for the response head (an endpoint that accepts and never answers),
            // not the stream that follows
            HttpResponse<InputStream> resp = http.send(request(base, "v3/watch", body, true).timeout(timeout).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            if (resp.statusCode() != 200) {
                String text = new String(resp.body().readAllBytes(), StandardCharsets.UTF_8);
                token = null;
                throw new RefusedException("watch refused by " + base + ": " + text);
            }
            return new Watch(base, resp.body());
        });
    }
}
