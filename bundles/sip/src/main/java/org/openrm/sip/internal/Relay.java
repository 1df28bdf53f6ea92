package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.header.ViaHeader;
import javax.sip.message.Response;

/**
 * A request forwarded statefully without a call of openrm's own (a media server's INVITE to the SIP Server, an
 * in-dialog re-INVITE, INFO, UPDATE...): its responses go back through the caller's server transaction.
 */
record Relay(ServerTransaction st) {

    /** Relays {@code resp} (100 Trying is hop by hop: openrm sent its own). */
    void relay(Response resp) throws SipException, javax.sip.InvalidArgumentException {
        int code = resp.getStatusCode();
        if (code >= 101 || code < 100) {
            resp.removeFirst(ViaHeader.NAME);
            st.sendResponse(resp);
        }
    }
}
