package org.openrm.sip.stack;

import java.nio.charset.StandardCharsets;

/**
 * The byte-level relay's validation rules as they were written on Strings (up to 2026-12-08): kept as the reference
 * that {@link RawRelayRulesTest} holds the in-place byte versions of {@link RawRelay} equal to.
 */
final class StringRules {
    private StringRules() { }

    private static final String TOKEN = "-.!%*_+`'~";
    private static final String URI_CHARS = "-_.!~*'()%;:@&=+$,/?#[]";
    static final java.util.Set<String> VIA_PARAMS = java.util.Set.of("branch", "rport", "received", "alias", "keep");
    static final java.util.Set<String> URI_PARAMS = java.util.Set.of("lr", "transport", "user", "ftag", "ob");
    static final java.util.Set<String> HEADER_PARAMS = java.util.Set.of("tag", "expires", "q");

    private static boolean alnum(int c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9';
    }

    /** One Via line's value [from, to): what {@code viasOk} checked for each Via line. */
    static boolean viaLine(byte[] b, int from, int to) {
        while (from <= to) {
            int comma = indexOf(b, from, to, (byte) ',');
            String v = trimmed(b, from, comma);
            int sp = v.indexOf(' ');
            if (sp < 0 || !v.substring(0, sp).equalsIgnoreCase("SIP/2.0/UDP") && !v.substring(0, sp).equalsIgnoreCase("SIP/2.0/TCP")) {
                return false;
            }
            String rest = v.substring(sp + 1).trim();
            int semi = rest.indexOf(';');
            String sentBy = (semi < 0 ? rest : rest.substring(0, semi)).trim();
            if (!hostPort(sentBy) || semi >= 0 && !params(rest.substring(semi), VIA_PARAMS)) {
                return false;
            }
            from = comma + 1;
        }
        return true;
    }

    static boolean callIdOk(byte[] b, int from, int to) {
        String v = trimmed(b, from, to);
        if (v.isEmpty()) {
            return false;
        }
        int at = 0;
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (c == '@') {
                if (++at > 1 || i == 0 || i == v.length() - 1) {
                    return false;
                }
            } else if (!alnum(c) && "-.!%*_+`'~()<>:\\\"/[]?{}".indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }


    static boolean hostPort(String hp) {
        int colon = hp.indexOf(':');
        String host = colon < 0 ? hp : hp.substring(0, colon);
        if (host.isEmpty() || colon >= 0 && parsePort(hp.substring(colon + 1)) <= 0) {
            return false;
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (!alnum(c) && c != '.' && c != '-') {
                return false;
            }
        }
        return true;
    }

    /** The parameters the relay passes (others: the stack's): Via, URI and header parameters. */

    /** {@code (;token[=token|host|quoted])*} of known names, with optional blanks around the separators. */
    static boolean params(String p, java.util.Set<String> known) {
        if (p.isEmpty()) {
            return true;
        }
        for (String prm : p.substring(1).split(";", -1)) {
            String t = prm.trim();
            int eq = t.indexOf('=');
            String k = (eq < 0 ? t : t.substring(0, eq)).trim();
            if (!isToken(k) || !known.contains(k.toLowerCase(java.util.Locale.ROOT))) {
                return false; // a parameter the relay does not know how the stack reads
            }
            if (eq >= 0) {
                String v = t.substring(eq + 1).trim();
                boolean ok = k.equalsIgnoreCase("received") ? isIpv4(v) : isToken(v);
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }

    static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!alnum(c) && TOKEN.indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Comma-separated name-addrs as the stack reads them without doubt: [token display name or quoted string
     * without escapes] {@code <sip:uri>} params. Anything else (a bare addr-spec, escapes, odd characters) is refused.
     */
    static boolean nameAddrs(byte[] b, int from, int to) {
        String v = trimmed(b, from, to);
        int i = 0;
        while (true) {
            int lt = v.indexOf('<', i);
            if (lt < 0) {
                return false;
            }
            String raw = v.substring(i, lt);
            String display = raw.trim();
            if (!display.isEmpty() && !(raw.endsWith(" ") || raw.endsWith("\t"))) {
                return false; // a display name glued to its <: read differently by the stack
            }
            if (!display.isEmpty()) {
                if (display.startsWith("\"")) {
                    if (display.length() < 2 || !display.endsWith("\"") || display.indexOf('"', 1) != display.length() - 1
                            || display.indexOf('\\') >= 0) {
                        return false;
                    }
                } else {
                    for (String w : display.split("[ \t]+")) {
                        if (w.isEmpty() || !w.chars().allMatch(c -> alnum(c)) || w.equalsIgnoreCase("sip")
                                || w.equalsIgnoreCase("sips") || w.equalsIgnoreCase("tel")) {
                            return false; // plain words only, none a URI scheme's look-alike
                        }
                    }
                }
            }
            int gt = v.indexOf('>', lt);
            if (gt < 0) {
                return false;
            }
            String uri = v.substring(lt + 1, gt);
            if (!uri.regionMatches(true, 0, "sip:", 0, 4) || uri.length() < 5) {
                return false;
            }
            for (int k = 4; k < uri.length(); k++) {
                char c = uri.charAt(k);
                if (!alnum(c) && URI_CHARS.indexOf(c) < 0 || c == '#' || c == '[' || c == ']') {
                    return false;
                }
            }
            if (!uriOk(uri.substring(4))) {
                return false;
            }
            int comma = v.indexOf(',', gt);
            String params = (comma < 0 ? v.substring(gt + 1) : v.substring(gt + 1, comma)).trim();
            if (!params.isEmpty() && params.charAt(0) != ';' || !params(params, HEADER_PARAMS)) {
                return false;
            }
            if (comma < 0) {
                return true;
            }
            i = comma + 1;
        }
    }

    /** user@host:port;params of a sip: URI: a host the relay can read and token parameters. */
    static boolean uriOk(String u) {
        int q = u.indexOf('?');
        if (q >= 0) {
            return false;
        }
        int at = u.indexOf('@');
        String hp = at >= 0 ? u.substring(at + 1) : u;
        if (at == 0) {
            return false;
        }
        if (at >= 0) {
            String user = u.substring(0, at);
            for (int k = 0; k < user.length(); k++) {
                char c = user.charAt(k);
                if (c == '@' || c == ';' || c == '%' && (k + 2 >= user.length())) {
                    return false;
                }
            }
        }
        int semi = hp.indexOf(';');
        return hostPort(semi < 0 ? hp : hp.substring(0, semi)) && (semi < 0 || params(hp.substring(semi), URI_PARAMS));
    }

    static boolean isIpv4(String h) {
        int dots = 0, digits = 0;
        for (int i = 0; i < h.length(); i++) {
            char c = h.charAt(i);
            if (c == '.') {
                if (digits == 0) {
                    return false;
                }
                dots++;
                digits = 0;
            } else if (c >= '0' && c <= '9' && ++digits <= 3) {
                continue;
            } else {
                return false;
            }
        }
        return dots == 3 && digits > 0;
    }

    static int parsePort(String s) {
        int v = digits(s, 5);
        return v > 65535 ? -1 : v;
    }

    static int parseInt(byte[] b, int from, int to, int digits) {
        return digits(trimmed(b, from, to), digits);
    }

    /** The value of {@code s} if it is 1 to {@code max} decimal digits, else -1. */
    static int digits(String s, int max) {
        if (s.isEmpty() || s.length() > max) {
            return -1;
        }
        int v = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    static String trimmed(byte[] b, int from, int to) {
        int s = from, e = to;
        while (s < e && (b[s] == ' ' || b[s] == '\t')) {
            s++;
        }
        while (e > s && (b[e - 1] == ' ' || b[e - 1] == '\t')) {
            e--;
        }
        return new String(b, s, e - s, StandardCharsets.ISO_8859_1);
    }

    static int indexOf(byte[] b, int from, int to, byte c) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return to;
    }
}
