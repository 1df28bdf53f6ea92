package org.openrm.sip.internal;

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
final class RawScreen {
    private static final Map<String, String> COMPACT = Map.of("v", "via", "f", "from", "t", "to", "i", "call-id",
            "l", "content-length", "m", "contact");
    private static final List<String> REQUIRED = List.of("via", "from", "to", "call-id", "cseq");
    private static final List<String> SINGLE = List.of("from", "to", "call-id", "cseq", "max-forwards", "content-length");
    private static final String TOKEN_CHARS = "-.!%*_+`'~";

    private RawScreen() { }

    /** The verdict on one message: null to let it pass, else the status line's code and reason. */
    record Refusal(int code, String reason) { }

    /**
     * Screens the message in {@code b[off..off+len)}; {@code maxSize} bounds its length. Returns null to pass it on.
     */
    static Refusal check(byte[] b, int off, int len, int maxSize) {
        String text = new String(b, off, Math.min(len, 65536), StandardCharsets.ISO_8859_1);
        if (text.startsWith("SIP/") || text.isBlank()) {
            return null; // a response (the stack drops what is not for it) or a keep-alive
        }
        int end = text.indexOf("\r\n\r\n");
        if (end < 0) {
            end = text.indexOf("\n\n");
        }
        String head = end < 0 ? text : text.substring(0, end);
        String[] lines = head.split("\r?\n");
        String requestLine = lines[0];
        if (len > maxSize) {
            return new Refusal(513, "Message Too Large");
        }
        String[] parts = requestLine.trim().split(" +");
        if (parts.length == 3 && parts[2].toUpperCase(Locale.ROOT).startsWith("SIP/") && !parts[2].equals("SIP/2.0")) {
            return new Refusal(505, "Version Not Supported");
        }
        if (parts.length == 3 && bareIpv6(parts[1])) {
            return new Refusal(400, "IPv6 Reference Without Brackets");
        }
        Map<String, Integer> seen = new java.util.HashMap<>();
        List<String> headers = unfold(lines);
        for (String h : headers) {
            int colon = h.indexOf(':');
            if (colon <= 0) {
                continue; // not a header line: the stack's parser decides
            }
            String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            name = COMPACT.getOrDefault(name, name);
            seen.merge(name, 1, Integer::sum);
            if (name.equals("from") || name.equals("to")) {
                String why = nameAddr(h.substring(colon + 1).trim());
                if (why != null) {
                    return new Refusal(400, "Malformed " + (name.equals("from") ? "From" : "To") + ": " + why);
                }
            }
        }
        String cseq = firstValue(headers, "cseq");
        if (parts.length == 3 && cseq != null) {
            String[] c = cseq.trim().split("\\s+");
            if (c.length == 2 && !c[1].equals(parts[0])) {
                return EdgeGuard.KNOWN.contains(parts[0]) ? new Refusal(400, "CSeq Method Mismatch")
                        : new Refusal(501, "Not Implemented");
            }
        }
        for (String r : REQUIRED) {
            if (!seen.containsKey(r)) {
                return new Refusal(400, "Missing " + r + " Header");
            }
        }
        for (String s : SINGLE) {
            if (seen.getOrDefault(s, 0) > 1) {
                return new Refusal(400, "Duplicate " + s + " Header");
            }
        }
        return null;
    }

    /** True for a sip: or sips: URI whose host is an IPv6 address without [] (RFC 5118 4.2). */
    static boolean bareIpv6(String uri) {
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

    private static String firstValue(List<String> headers, String wanted) {
        for (String h : headers) {
            int colon = h.indexOf(':');
            if (colon > 0) {
                String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                if (COMPACT.getOrDefault(name, name).equals(wanted)) {
                    return h.substring(colon + 1);
                }
            }
        }
        return null;
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

    /** Why a From/To value is not a name-addr or addr-spec of RFC 3261, or null if it is fine. */
    static String nameAddr(String v) {
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
    static byte[] response(byte[] b, int off, int len, Refusal r) {
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
