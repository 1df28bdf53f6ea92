package org.openrm.sip.stack;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Checks the header block of a request as it came off the wire, before the stack parses it: what the stack's
 * lenient parser would let through or silently drop. A request missing a required header, repeating a
 * single-value header (two CSeq, two Content-Length ...), carrying a malformed From or To, or another SIP version
 * is answered here (400 or 505) and never reaches a transaction. Responses and keep-alives pass untouched.
 */
public final class RawScreen {
    private static final Map<String, String> COMPACT = Map.of("v", "via", "f", "from", "t", "to", "i", "call-id",
            "l", "content-length", "m", "contact");
    private static final String TOKEN_CHARS = "-.!%*_+`'~";

    private RawScreen() { }

    /** The verdict on one message: null to let it pass, else the status line's code and reason. */
    public record Refusal(int code, String reason) { }

    /**
     * Screens the message in {@code b[off..off+len)}; {@code maxSize} bounds its length. Returns null to pass it on.
     */
    public static Refusal check(byte[] b, int off, int len, int maxSize) {
        int end = off + len;
        // responses and keep-alives pass without a look (the stack drops what is not for openrm)
        int start = off;
        while (start < end && (b[start] == '\r' || b[start] == '\n' || b[start] == ' ')) {
            start++;
        }
        if (start >= end || (end - start >= 4 && b[start] == 'S' && b[start + 1] == 'I' && b[start + 2] == 'P'
                && b[start + 3] == '/')) {
            return null;
        }
        if (len > maxSize) {
            return new Refusal(513, "Message Too Large");
        }
        int headEnd = indexOfBlankLine(b, start, end);
        int lineEnd = indexOf(b, start, headEnd, (byte) '\n');
        String requestLine = ascii(b, start, lineEnd).trim();
        String[] parts = words(requestLine, false);
        if (parts.length == 3 && parts[2].toUpperCase(Locale.ROOT).startsWith("SIP/") && !parts[2].equals("SIP/2.0")) {
            return new Refusal(505, "Version Not Supported");
        }
        if (parts.length != 3) {
            // LWS inside the Request-URI (RFC 4475 3.1.2.8) or a line that is no request line at all
            return new Refusal(400, "Malformed Request Line");
        }
        if (parts[1].startsWith("<")) {
            return new Refusal(400, "Request-URI In Angle Brackets"); // RFC 4475 3.1.2.7: never forward the <>
        }
        if (bareIpv6(parts[1])) {
            return new Refusal(400, "IPv6 Reference Without Brackets");
        }
        int via = 0, from = 0, to = 0, callId = 0, cseq = 0, maxForwards = 0, contentLength = 0;
        String cseqValue = null;
        int pos = lineEnd + 1;
        while (pos < headEnd) {
            int eol = indexOf(b, pos, headEnd, (byte) '\n');
            // fold continuation lines into this header
            int next = eol + 1;
            while (next < headEnd && (b[next] == ' ' || b[next] == '\t')) {
                next = indexOf(b, next, headEnd, (byte) '\n') + 1;
            }
            int colon = indexOf(b, pos, Math.min(eol, pos + 64), (byte) ':');
            if (colon < Math.min(eol, pos + 64)) {
                int nameEnd = colon;
                while (nameEnd > pos && (b[nameEnd - 1] == ' ' || b[nameEnd - 1] == '\t')) {
                    nameEnd--;
                }
                switch (name(b, pos, nameEnd)) {
                    case "via", "v" -> {
                        via++;
                        if (!viaSeparatorsOk(b, colon + 1, Math.min(next, headEnd))) {
                            return new Refusal(400, "Malformed Via: empty parameter or value"); // RFC 4475 3.1.2.1
                        }
                    }
                    case "from", "f" -> {
                        from++;
                        String why = nameAddr(unfolded(b, colon + 1, Math.min(next, headEnd)));
                        if (why != null) {
                            return new Refusal(400, "Malformed From: " + why);
                        }
                    }
                    case "to", "t" -> {
                        to++;
                        String why = nameAddr(unfolded(b, colon + 1, Math.min(next, headEnd)));
                        if (why != null) {
                            return new Refusal(400, "Malformed To: " + why);
                        }
                    }
                    case "call-id", "i" -> callId++;
                    case "cseq" -> {
                        cseq++;
                        cseqValue = unfolded(b, colon + 1, Math.min(next, headEnd));
                    }
                    case "max-forwards" -> maxForwards++;
                    case "content-length", "l" -> {
                        contentLength++;
                        if (!digits(b, colon + 1, Math.min(next, headEnd))) {
                            return new Refusal(400, "Malformed Content-Length"); // RFC 4475 3.1.2.5: negative, or no number
                        }
                    }
                    default -> { }
                }
            }
            pos = next;
        }
        if (cseqValue != null) {
            String[] c = words(cseqValue, true);
            if (c.length != 2 || !cseqNumberOk(c[0])) {
                return new Refusal(400, "Malformed CSeq"); // RFC 3261 8.1.1.5: a number below 2**31, then the method
            }
            if (c.length == 2 && !c[1].equals(parts[0])) {
                return EdgeGuard.KNOWN.contains(parts[0]) ? new Refusal(400, "CSeq Method Mismatch")
                        : new Refusal(501, "Not Implemented");
            }
        }
        if (via == 0) {
            return new Refusal(400, "Missing via Header");
        }
        if (from == 0 || to == 0 || callId == 0 || cseq == 0) {
            return new Refusal(400, "Missing " + (from == 0 ? "from" : to == 0 ? "to" : callId == 0 ? "call-id" : "cseq") + " Header");
        }
        if (from > 1 || to > 1 || callId > 1 || cseq > 1 || maxForwards > 1 || contentLength > 1) {
            return new Refusal(400, "Duplicate " + (from > 1 ? "from" : to > 1 ? "to" : callId > 1 ? "call-id"
                    : cseq > 1 ? "cseq" : maxForwards > 1 ? "max-forwards" : "content-length") + " Header");
        }
        return null;
    }

    /**
     * The words of {@code s} split at runs of spaces (and of tabs when {@code tabs}: the request line has single
     * spaces only); no regular expression, this runs per datagram.
     */
    public static String[] words(String s, boolean tabs) {
        List<String> out = new ArrayList<>(3);
        int i = 0, n = s.length();
        while (i < n) {
            while (i < n && (s.charAt(i) == ' ' || tabs && s.charAt(i) == '\t')) {
                i++;
            }
            int start = i;
            while (i < n && s.charAt(i) != ' ' && !(tabs && s.charAt(i) == '\t')) {
                i++;
            }
            if (i > start) {
                out.add(s.substring(start, i));
            }
        }
        return out.toArray(new String[0]);
    }

    private static int indexOf(byte[] b, int from, int to, byte c) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return to;
    }

    /** Where the header block ends (the blank line), or {@code end}. */
    private static int indexOfBlankLine(byte[] b, int from, int end) {
        for (int i = from; i + 1 < end; i++) {
            if (b[i] == '\n' && (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < end && b[i + 2] == '\n'))) {
                return i + 1;
            }
        }
        return end;
    }

    private static String ascii(byte[] b, int from, int to) {
        return new String(b, from, Math.max(0, to - from), StandardCharsets.ISO_8859_1);
    }

    /** The header names the screen counts, long and compact forms; {@link #name} returns one of them or "". */
    private static final String[] NAMES = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "max-forwards",
        "content-length", "l"};

    /** A header name, lower case, if it is one the screen counts; else "" (no allocation per header). */
    public static String name(byte[] b, int from, int to) {
        int n = to - from;
        for (String k : NAMES) {
            if (k.length() == n && equalsLower(b, from, k)) {
                return k;
            }
        }
        return "";
    }

    private static boolean equalsLower(byte[] b, int from, String lower) {
        for (int i = 0; i < lower.length(); i++) {
            int x = b[from + i] & 0xff;
            if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** A header value with its continuation lines joined (line break and leading blanks become one space). */
    public static String unfolded(byte[] b, int from, int to) {
        StringBuilder out = new StringBuilder(Math.max(0, to - from));
        int i = from;
        while (i < to) {
            byte c = b[i];
            if (c == '\r' || c == '\n') {
                int j = i;
                if (b[j] == '\r' && j + 1 < to && b[j + 1] == '\n') {
                    j++;
                }
                if (b[j] == '\n' && j + 1 < to && (b[j + 1] == ' ' || b[j + 1] == '\t')) {
                    j++;
                    while (j < to && (b[j] == ' ' || b[j] == '\t')) {
                        j++;
                    }
                    out.append(' ');
                    i = j;
                    continue;
                }
            }
            out.append((char) (c & 0xff));
            i++;
        }
        return out.toString().trim();
    }

    /** True for a sip: or sips: URI whose host is an IPv6 address without [] (RFC 5118 4.2). */
    public static boolean bareIpv6(String uri) {
        String u = uri.toLowerCase(Locale.ROOT);
        int start = u.startsWith("sip:") ? 4 : u.startsWith("sips:") ? 5 : -1;
        if (start < 0) {
            return false;
        }
        int at = u.indexOf('@', start);
        int from = at >= 0 ? at + 1 : start;
        int end = from;
        while (end < u.length() && ";?>".indexOf(u.charAt(end)) < 0) {
            end++;
        }
        String hostport = u.substring(from, end);
        return !hostport.startsWith("[") && hostport.indexOf(':') != hostport.lastIndexOf(':');
    }

    /** Header lines with continuation lines folded in. */
    private static List<String> unfold(String[] lines) {
        List<String> out = new ArrayList<>(lines.length);
        for (int i = 1; i < lines.length; i++) {
            String l = lines[i];
            if (!l.isEmpty() && (l.charAt(0) == ' ' || l.charAt(0) == '\t') && !out.isEmpty()) {
                out.set(out.size() - 1, out.get(out.size() - 1) + " " + l.trim());
            } else {
                out.add(l);
            }
        }
        return out;
    }

    /** True when {@code b[from..to)} is 1 to 10 decimal digits between white space. */
    public static boolean digits(byte[] b, int from, int to) {
        int n = 0;
        boolean after = false;
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                after = n > 0;
                continue;
            }
            if (c < '0' || c > '9' || after || ++n > 10) {
                return false;
            }
        }
        return n > 0;
    }

    /** A CSeq sequence number: 1 to 10 digits, below 2**31. */
    public static boolean cseqNumberOk(String n) {
        if (n.isEmpty() || n.length() > 10) {
            return false;
        }
        for (int i = 0; i < n.length(); i++) {
            if (n.charAt(i) < '0' || n.charAt(i) > '9') {
                return false;
            }
        }
        return Long.parseLong(n) < (1L << 31);
    }

    /**
     * True unless a Via value in {@code b[from..to)} has an empty element: a ';' or ',' at its start or end, or two of
     * them with only white space between (outside quoted strings). Scans the bytes; no allocation.
     */
    public static boolean viaSeparatorsOk(byte[] b, int from, int to) {
        byte last = ','; // the value starts as after a separator: a leading one is empty
        boolean quoted = false;
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (quoted) {
                if (c == '\\' && i + 1 < to) {
                    i++;
                } else if (c == '"') {
                    quoted = false;
                }
                last = 'x';
                continue;
            }
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                continue;
            }
            if (c == '"') {
                quoted = true;
            } else if ((c == ';' || c == ',') && (last == ';' || last == ',')) {
                return false;
            }
            last = c;
        }
        return !quoted && last != ';' && last != ',';
    }

    /** Why a From/To value is not a name-addr or addr-spec of RFC 3261, or null if it is fine. */
    public static String nameAddr(String v) {
        boolean quoted = false;
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (quoted && c == '\\') {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            }
        }
        if (quoted) {
            return "unterminated quoted string"; // RFC 4475 3.1.2.6
        }
        int lt = v.indexOf('<');
        if (lt < 0) {
            return null; // a bare addr-spec: the stack's parser judges it
        }
        int gt = v.indexOf('>', lt);
        if (gt < 0) {
            return "unclosed <";
        }
        if (gt > lt + 1 && (Character.isWhitespace(v.charAt(lt + 1)) || Character.isWhitespace(v.charAt(gt - 1)))) {
            return "spaces inside <>";
        }
        String display = v.substring(0, lt).trim();
        if (display.isEmpty() || display.startsWith("\"")) {
            return null; // quoted strings are the parser's business
        }
        for (int i = 0; i < display.length(); i++) {
            char c = display.charAt(i);
            if (!(Character.isLetterOrDigit(c) || c == ' ' || c == '\t' || TOKEN_CHARS.indexOf(c) >= 0)) {
                return "display name '" + display + "' is neither tokens nor a quoted string";
            }
        }
        return null;
    }

    /** A stateless response to the message, from its own Via, From, To, Call-ID and CSeq lines. */
    public static byte[] response(byte[] b, int off, int len, Refusal r) {
        String text = new String(b, off, Math.min(len, 65536), StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        String head = end < 0 ? text : text.substring(0, end);
        String[] lines = head.split("\r?\n");
        if (lines[0].trim().startsWith("ACK ")) {
            return new byte[0]; // never answered
        }
        StringBuilder out = new StringBuilder(256);
        out.append("SIP/2.0 ").append(r.code()).append(' ').append(r.reason()).append("\r\n");
        boolean via = false;
        java.util.Set<String> copied = new java.util.HashSet<>();
        for (String h : unfold(lines)) {
            int colon = h.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            name = COMPACT.getOrDefault(name, name);
            if (name.equals("via")) {
                out.append(h).append("\r\n");
                via = true;
            } else if ((name.equals("from") || name.equals("to") || name.equals("call-id") || name.equals("cseq"))
                    && copied.add(name)) {
                out.append(h).append("\r\n");
            }
        }
        if (!via) {
            return new byte[0]; // nowhere a response could belong
        }
        out.append("Content-Length: 0\r\n\r\n");
        return out.toString().getBytes(StandardCharsets.ISO_8859_1);
    }
}
