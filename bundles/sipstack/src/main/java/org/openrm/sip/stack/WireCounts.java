package org.openrm.sip.stack;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * SIP messages counted by transport and method, on the hot path: every message in and out passes here, so a count
 * costs one lookup in a fixed table and one {@link LongAdder} increment, never an allocation. Methods outside the
 * known set count as {@code other}, responses as {@code response}: the labels stay bounded whatever peers send.
 */
public final class WireCounts {
    /** The kinds, in table order: the methods the edge knows ({@link EdgeGuard#KNOWN}), then response and other. */
    public static final String[] KINDS = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK",
        "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH", "response", "other"};
    public static final int INVITE_KIND = 0;
    public static final int ACK_KIND = 1;
    public static final int RESPONSE = 14;
    public static final int OTHER = 15;
    public static final String[] TRANSPORTS = {"udp", "tcp", "other"};
    public static final int UDP = 0;
    public static final int TCP = 1;
    private static final byte[][] METHOD_BYTES = new byte[RESPONSE][];
    private static final byte[] SIP_SLASH = "SIP/".getBytes(StandardCharsets.US_ASCII);

    static {
        for (int i = 0; i < RESPONSE; i++) {
            METHOD_BYTES[i] = KINDS[i].getBytes(StandardCharsets.US_ASCII);
        }
    }

    /**
     * Benchmarks only ({@code -Dopenrm.bench.uninstrumented=true}, with the ops and SNMP session counters): nothing is
     * counted, to measure what counting costs per call (bench/README.md). Not a setting for production.
     */
    public static final boolean OFF = Boolean.getBoolean("openrm.bench.uninstrumented");

    private final LongAdder[] n = new LongAdder[TRANSPORTS.length * KINDS.length];

    public WireCounts() {
        for (int i = 0; i < n.length; i++) {
            n[i] = new LongAdder();
        }
    }

    /** The kind of a parsed message's method (null: a response). */
    public static int kindOf(String method) {
        if (method == null) {
            return RESPONSE;
        }
        for (int i = 0; i < RESPONSE; i++) {
            if (KINDS[i].equals(method)) {
                return i;
            }
        }
        return OTHER;
    }

    /**
     * The kind of the message whose bytes start at {@code off}: the token before the first space, or response for
     * a status line; -1 for no message at all (keep-alive CRLFs, an empty datagram).
     */
    public static int kindOf(byte[] b, int off, int len) {
        int end = off + len;
        int i = off;
        while (i < end && (b[i] == '\r' || b[i] == '\n')) {
            i++;
        }
        if (i == end) {
            return -1;
        }
        if (startsWith(b, i, end, SIP_SLASH)) {
            return RESPONSE;
        }
        for (int k = 0; k < RESPONSE; k++) {
            byte[] m = METHOD_BYTES[k];
            if (startsWith(b, i, end, m) && i + m.length < end && b[i + m.length] == ' ') {
                return k;
            }
        }
        return OTHER;
    }

    private static boolean startsWith(byte[] b, int i, int end, byte[] prefix) {
        if (end - i < prefix.length) {
            return false;
        }
        for (int j = 0; j < prefix.length; j++) {
            if (b[i + j] != prefix[j]) {
                return false;
            }
        }
        return true;
    }

    public static int transportOf(String transport) {
        if (transport == null || "UDP".equalsIgnoreCase(transport)) {
            return UDP;
        }
        return "TCP".equalsIgnoreCase(transport) ? TCP : 2;
    }

    public void count(int transport, int kind) {
        if (kind >= 0 && !OFF) {
            n[transport * KINDS.length + kind].increment();
        }
    }

    /** Counts the message in {@code b} (nothing for keep-alive CRLFs). */
    public void count(int transport, byte[] b, int off, int len) {
        if (!OFF) {
            count(transport, kindOf(b, off, len));
        }
    }

    /** The counts that are not zero, as {@code udp.INVITE -> n} (read at scrape time). */
    public Map<String, Long> snapshot() {
        Map<String, Long> out = new TreeMap<>();
        for (int t = 0; t < TRANSPORTS.length; t++) {
            for (int k = 0; k < KINDS.length; k++) {
                long v = n[t * KINDS.length + k].sum();
                if (v > 0) {
                    out.put(TRANSPORTS[t] + "." + KINDS[k], v);
                }
            }
        }
        return out;
    }
}
