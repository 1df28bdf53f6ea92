package org.openrm.routing.internal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Request-URIs towards media servers in the forms of RFC 4240 (and the equivalents for MSML and CCXML):
 * {@code sip:dialog@mcp;voicexml=<url>}, {@code sip:annc@mcp;play=<url>}, {@code sip:conf=<id>@mcp},
 * {@code sip:msml@mcp}, {@code sip:ccxml@mcp;ccxml=<url>}, then the profile's service parameters.
 */
final class RequestUris {
    private RequestUris() { }

    /**
     * @param resourceUri the media server, e.g. {@code sip:10.0.0.5:5070;transport=tcp}
     * @param conferenceId for the conference service: the conference id (the dialled number if no other)
     */
    static String build(String resourceUri, Model.Profile p, String conferenceId) {
        String scheme = resourceUri.startsWith("sips:") ? "sips:" : "sip:";
        String rest = resourceUri.substring(scheme.length());
        int at = rest.indexOf('@');
        if (at >= 0) {
            rest = rest.substring(at + 1); // a user part in the resource URI is replaced by the service's
        }
        StringBuilder b = new StringBuilder(scheme);
        switch (p.service()) {
            case "voicexml" -> b.append("dialog@").append(rest).append(";voicexml=").append(escapeParam(p.url()));
            case "announcement" -> b.append("annc@").append(rest).append(";play=").append(escapeParam(p.url()));
            case "conference" -> b.append("conf=").append(escapeUser(conferenceId)).append('@').append(rest);
            case "msml" -> b.append("msml@").append(rest);
            case "ccxml" -> b.append("ccxml@").append(rest).append(";ccxml=").append(escapeParam(p.url()));
            default -> throw new IllegalArgumentException("service " + p.service());
        }
        for (Map.Entry<String, String> e : p.params().entrySet()) {
            b.append(';').append(escapeParam(e.getKey())).append('=').append(escapeParam(e.getValue()));
        }
        return b.toString();
    }

    // RFC 3261 25.1: paramchar = param-unreserved / unreserved / escaped
    private static final String PARAM_OK = "[]/:&+$" + "-_.!~*'()";
    // user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = & = + $ , ; ? /
    private static final String USER_OK = "&=+$,;?/" + "-_.!~*'()";

    static String escapeParam(String s) {
        return escape(s, PARAM_OK);
    }

    static String escapeUser(String s) {
        return escape(s, USER_OK);
    }

    private static String escape(String s, String allowed) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (byte x : s.getBytes(StandardCharsets.UTF_8)) {
            int c = x & 0xFF;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || (c < 128 && allowed.indexOf(c) >= 0)) {
                b.append((char) c);
            } else {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xF, 16)));
            }
        }
        return b.toString();
    }

    static String unescape(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%' && i + 2 < s.length()) {
                int hi = Character.digit(s.charAt(i + 1), 16);
                int lo = Character.digit(s.charAt(i + 2), 16);
                if (hi >= 0 && lo >= 0) {
                    out.write(hi * 16 + lo);
                    i += 2;
                    continue;
                }
            }
            out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
