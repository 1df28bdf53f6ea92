package org.openrm.sip.stack;

import java.nio.charset.StandardCharsets;

/**
 * The overload guard's hands on the UDP receive thread: finds a new INVITE in a datagram's bytes, writes the 503 that
 * sheds it from its own header lines, and recognises the ACK of such a 503, so that neither ever costs the stack a
 * parse. Works on bytes only and allocates nothing but the answer's array.
 */
public final class ShedScreen {
    /** The To tag of every 503 the guard writes: its ACK is absorbed here. */
    public static final String TAG_PREFIX = "rm-ovl-";
    private static final byte[] TAG = (";tag=" + TAG_PREFIX).getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] STATUS = "SIP/2.0 503 Overloaded\r\n".getBytes(StandardCharsets.ISO_8859_1);

    public static final int OTHER = 0;
    public static final int NEW_INVITE = 1;
    public static final int SHED_ACK = 2;

    private ShedScreen() { }

    /** What one datagram is, for the guard. {@code callIdHash} is set for {@link #NEW_INVITE}. */
    public static final class Verdict {
        public int kind;
        public int callIdHash;
        // header line spans [start, end) without the line break, continuation lines included
        final int[] via = new int[32];
        int vias;
        int from = -1, fromEnd, to = -1, toEnd, callId = -1, callIdEnd, cseq = -1, cseqEnd;
    }

    /** Classifies {@code b[0..len)} into {@code v}; returns its kind. */
    public static int classify(byte[] b, int len, Verdict v) {
        v.kind = OTHER;
        boolean invite = startsWith(b, len, "INVITE ");
        boolean ack = !invite && startsWith(b, len, "ACK ");
        if (!invite && !ack) {
            return OTHER;
        }
        v.vias = 0;
        v.from = v.to = v.callId = v.cseq = -1;
        int pos = indexOf(b, 0, len, (byte) '\n') + 1;
        while (pos < len) {
            int eol = lineEnd(b, pos, len);
            int next = eol < len ? eol + 1 : len;
            while (next < len && (b[next] == ' ' || b[next] == '\t')) {
                eol = lineEnd(b, next, len);
                next = eol < len ? eol + 1 : len;
            }
            int end = eol > pos && b[eol - 1] == '\r' ? eol - 1 : eol;
            if (end == pos) {
                break; // the blank line: end of the header block
            }
            int colon = indexOf(b, pos, Math.min(end, pos + 32), (byte) ':');
            if (colon < end) {
                int nameEnd = colon;
                while (nameEnd > pos && (b[nameEnd - 1] == ' ' || b[nameEnd - 1] == '\t')) {
                    nameEnd--;
                }
                int n = nameEnd - pos;
                if (is(b, pos, n, "via") || is(b, pos, n, "v")) {
                    if (v.vias == v.via.length / 2) {
                        return OTHER; // more Via lines than any 503 of ours copies: the stack's business
                    }
                    v.via[2 * v.vias] = pos;
                    v.via[2 * v.vias + 1] = end;
                    v.vias++;
                } else if (is(b, pos, n, "from") || is(b, pos, n, "f")) {
                    v.from = pos;
                    v.fromEnd = end;
                } else if (is(b, pos, n, "to") || is(b, pos, n, "t")) {
                    v.to = pos;
                    v.toEnd = end;
                } else if (is(b, pos, n, "call-id") || is(b, pos, n, "i")) {
                    v.callId = colon + 1;
                    v.callIdEnd = end;
                } else if (is(b, pos, n, "cseq")) {
                    v.cseq = pos;
                    v.cseqEnd = end;
                }
            }
            pos = next;
        }
        if (v.vias == 0 || v.from < 0 || v.to < 0 || v.callId < 0 || v.cseq < 0) {
            return OTHER;
        }
        int tag = toTag(b, v.to, v.toEnd);
        if (ack) {
            v.kind = tag >= 0 && regionMatches(b, tag, v.toEnd, TAG, 5) ? SHED_ACK : OTHER;
            return v.kind;
        }
        if (tag >= 0) {
            return OTHER; // in a dialog
        }
        int s = v.callId, e = v.callIdEnd;
        while (s < e && (b[s] == ' ' || b[s] == '\t')) {
            s++;
        }
        while (e > s && (b[e - 1] == ' ' || b[e - 1] == '\t')) {
            e--;
        }
        v.callIdHash = OverloadGuard.hash(b, s, e);
        v.kind = NEW_INVITE;
        return NEW_INVITE;
    }

    /** The 503 + Retry-After that sheds the INVITE classified in {@code v}. */
    public static byte[] overloaded(byte[] b, Verdict v, int retryAfterS) {
        int size = STATUS.length + 64 + TAG.length + 8 + (v.fromEnd - v.from) + (v.toEnd - v.to)
                + (v.callIdEnd - v.callId) + (v.cseqEnd - v.cseq) + 128;
        for (int i = 0; i < v.vias; i++) {
            size += v.via[2 * i + 1] - v.via[2 * i] + 2;
        }
        byte[] out = new byte[size];
        int o = put(out, 0, STATUS, 0, STATUS.length);
        for (int i = 0; i < v.vias; i++) {
            o = line(out, o, b, v.via[2 * i], v.via[2 * i + 1]);
        }
        o = line(out, o, b, v.from, v.fromEnd);
        o = put(out, o, b, v.to, v.toEnd - v.to);
        o = put(out, o, TAG, 0, TAG.length);
        o = ascii(out, o, Integer.toHexString(v.callIdHash));
        o = ascii(out, o, "\r\nCall-ID:");
        o = line(out, o, b, v.callId, v.callIdEnd);
        o = line(out, o, b, v.cseq, v.cseqEnd);
        o = ascii(out, o, "Retry-After: " + Math.max(0, retryAfterS) + "\r\nContent-Length: 0\r\n\r\n");
        return java.util.Arrays.copyOf(out, o);
    }

    /** Where the To header's tag value starts (after {@code ;tag=}), or -1 when it has none. */
    private static int toTag(byte[] b, int from, int to) {
        int colon = indexOf(b, from, to, (byte) ':');
        int gt = -1;
        for (int i = colon; i < to; i++) {
            if (b[i] == '<') {
                gt = indexOf(b, i, to, (byte) '>');
                break;
            }
        }
        int i = gt >= 0 ? gt : colon;
        for (; i + 4 < to; i++) {
            if (b[i] == ';') {
                int j = i + 1;
                while (j < to && (b[j] == ' ' || b[j] == '\t')) {
                    j++;
                }
                if (j + 3 < to && is(b, j, 3, "tag")) {
                    j += 3;
                    while (j < to && (b[j] == ' ' || b[j] == '\t')) {
                        j++;
                    }
                    if (j < to && b[j] == '=') {
                        j++;
                        while (j < to && (b[j] == ' ' || b[j] == '\t')) {
                            j++;
                        }
                        return j;
                    }
                }
            }
        }
        return -1;
    }

    private static boolean regionMatches(byte[] b, int at, int end, byte[] what, int from) {
        int n = what.length - from;
        if (end - at < n) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            if (b[at + i] != what[from + i]) {
                return false;
            }
        }
        return true;
    }

    private static int line(byte[] out, int o, byte[] b, int from, int to) {
        o = put(out, o, b, from, to - from);
        out[o++] = '\r';
        out[o++] = '\n';
        return o;
    }

    private static int put(byte[] out, int o, byte[] b, int from, int n) {
        System.arraycopy(b, from, out, o, n);
        return o + n;
    }

    private static int ascii(byte[] out, int o, String s) {
        for (int i = 0; i < s.length(); i++) {
            out[o++] = (byte) s.charAt(i);
        }
        return o;
    }

    private static boolean startsWith(byte[] b, int len, String s) {
        if (len < s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** Case-insensitive: is {@code b[from..from+n)} the lower-case name {@code lower}? */
    private static boolean is(byte[] b, int from, int n, String lower) {
        if (n != lower.length()) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            int x = b[from + i] & 0xff;
            if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static int lineEnd(byte[] b, int from, int len) {
        return indexOf(b, from, len, (byte) '\n');
    }

    private static int indexOf(byte[] b, int from, int to, byte c) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return to;
    }
}
