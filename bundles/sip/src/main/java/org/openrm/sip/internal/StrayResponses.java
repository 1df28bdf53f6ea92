package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.sip.address.URI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContactHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Responses that match no client transaction: retransmitted 2xx, the 200 to a statelessly forwarded BYE, answers
 * to transactions of a SIP bundle revision that an update replaced. Relayed statelessly by Via (RFC 3261 16.11),
 * except answers on a branch openrm gave up, which are hung up.
 */
final class StrayResponses {
    private static final Logger LOG = LoggerFactory.getLogger(StrayResponses.class);
    private static final int MAX_ABANDONED = 10_000;
    private static final long ABANDONED_KEPT_MS = 64_000;

    private final Services s;
    /** Branches given up for want of an answer, by branch id, with the time: a late answer is hung up. */
    private final Map<String, Long> abandoned = new ConcurrentHashMap<>();

    StrayResponses(Services s) {
        this.s = s;
    }

    /** The branch {@code branchId} was given up: an answer on it never reaches the caller. */
    void abandon(String branchId) {
        if (abandoned.size() < MAX_ABANDONED) {
            abandoned.put(branchId, System.currentTimeMillis());
        }
    }

    /** Forgets branches given up longer ago than any answer can come (64 x T1). */
    void expire(long now) {
        abandoned.values().removeIf(at -> now - at > ABANDONED_KEPT_MS);
    }

    void relay(StackContext c, Response resp) throws Exception {
        ViaHeader top = (ViaHeader) resp.getHeader(ViaHeader.NAME);
        if (top == null || !c.isOwnHost(top.getHost(), top.getPort())) {
            return;
        }
        if (top.getBranch() != null && abandoned.containsKey(top.getBranch())) {
            // an answer on a branch given up (the call went elsewhere): never relayed to the caller
            int code = resp.getStatusCode();
            if (code >= 200 && code < 300) {
                LOG.info("Call {}: late 2xx on an abandoned branch: acknowledged and hung up", Sip.callId(resp));
                hangUp(c, resp, top.getTransport().toLowerCase(Locale.ROOT), null);
            }
            return;
        }
        resp.removeFirst(ViaHeader.NAME);
        if (resp.getHeader(ViaHeader.NAME) == null) {
            return;
        }
        if (!s.stack.isWarmup(((gov.nist.javax.sip.message.SIPMessage) resp).getRemoteAddress())) {
            s.stats.statelessResponses.incrementAndGet();
        }
        CSeqHeader cseq = (CSeqHeader) resp.getHeader(CSeqHeader.NAME);
        int code = resp.getStatusCode();
        if (cseq != null && Request.INVITE.equals(cseq.getMethod()) && code >= 200) {
            Session session = s.store.byCallId(Sip.callId(resp));
            if (session != null && code < 300) {
                s.store.answered(session, System.currentTimeMillis());
            } else if (session != null && !session.answered()) {
                s.store.end(session, EndReason.FAILED, code);
            }
        }
        c.provider.sendResponse(resp);
    }

    /**
     * A media server answered 2xx after openrm gave its branch up (no answer in time, call moved on): the
     * media server holds a call nobody will use, so openrm acknowledges it and sends BYE (RFC 3261 16.7
     * leaves a proxy no other way to free it).
     */
    void hangUp(StackContext c, Response resp, String transport, URI fallback) {
        try {
            ContactHeader contact = (ContactHeader) resp.getHeader(ContactHeader.NAME);
            URI target = contact != null ? contact.getAddress().getURI() : fallback;
            if (target == null) {
                return;
            }
            CallIdHeader callId = (CallIdHeader) resp.getHeader(CallIdHeader.NAME);
            FromHeader from = (FromHeader) resp.getHeader(FromHeader.NAME);
            ToHeader to = (ToHeader) resp.getHeader(ToHeader.NAME);
            long seq = ((CSeqHeader) resp.getHeader(CSeqHeader.NAME)).getSeqNumber();
            Request ack = c.mf.createRequest(target, Request.ACK, callId, c.hf.createCSeqHeader(seq, Request.ACK), from, to,
                    List.of(c.via(transport, Sip.newBranch())), c.hf.createMaxForwardsHeader(70));
            c.provider.sendRequest(ack);
            Request bye = c.mf.createRequest(target, Request.BYE, callId, c.hf.createCSeqHeader(seq + 1, Request.BYE), from, to,
                    List.of(c.via(transport, Sip.newBranch())), c.hf.createMaxForwardsHeader(70));
            c.provider.getNewClientTransaction(bye).sendRequest();
        } catch (Exception e) {
            LOG.info("Late 2xx on an abandoned branch not hung up: {}", e.toString());
        }
    }
}
