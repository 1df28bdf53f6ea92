package org.openrm.sip.internal;

import org.openrm.sip.stack.*;

/** The sip bundle's wire counters for benchmarks in other packages (they are package-private in the bundle). */
public final class WireCountsAccess {
    private final WireCounts sent = new WireCounts();
    private final WireCounts received = new WireCounts();

    /** As the dispatcher counts a message it hands over (null: a response). */
    public void received(String method) {
        received.count(WireCounts.UDP, WireCounts.kindOf(method));
    }

    /** As the socket counts a message it writes. */
    public void sent(byte[] message) {
        sent.count(WireCounts.UDP, message, 0, message.length);
    }
}
