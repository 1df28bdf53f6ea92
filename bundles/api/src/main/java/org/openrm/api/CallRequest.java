package org.openrm.api;

import java.util.Map;
import java.util.Objects;

/**
 * What routing needs to know about a new call: read from the INVITE by the SIP bundle, free of SIP
 * library types so that routing can be tested and updated on its own.
 *
 * @param callId     the Call-ID of the INVITE
 * @param requestUri the Request-URI as received
 * @param dialled    the dialled number (Request-URI user, else To user); may be empty
 * @param from       the From URI
 * @param to         the To URI
 * @param headers    selected headers by lower-case name (the {@code X-Genesys-*} family), never null
 * @param source     the address the INVITE came from, {@code host:port}
 */
public record CallRequest(String callId, String requestUri, String dialled, String from, String to,
                          Map<String, String> headers, String source) {
    public CallRequest {
        Objects.requireNonNull(callId, "callId");
        headers = headers == null ? Map.of() : Map.copyOf(headers);
        dialled = dialled == null ? "" : dialled;
    }

    /** A header value by case-insensitive name, or null. */
    public String header(String name) {
        return headers.get(name.toLowerCase(java.util.Locale.ROOT));
    }
}
