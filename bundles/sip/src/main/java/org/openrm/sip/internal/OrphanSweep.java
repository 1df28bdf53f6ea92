package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.util.HashSet;
import java.util.Set;

import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends sessions that no signalling will ever end (a lost BYE, a branch lost in a bundle update): answered ones
 * older than {@code session.max.age.s}, unanswered ones with no live INVITE branch older than
 * {@code session.setup.max.s}. Runs every 10 s on the SIP timer.
 */
final class OrphanSweep {
    private static final Logger LOG = LoggerFactory.getLogger(OrphanSweep.class);

    private final Services s;
    private final InviteProxy invites;
    private final StrayResponses strays;

    OrphanSweep(Services s, InviteProxy invites, StrayResponses strays) {
        this.s = s;
        this.invites = invites;
        this.strays = strays;
    }

    void sweep(SipConfig c) {
        try {
            long now = System.currentTimeMillis();
            Set<String> live = new HashSet<>();
            for (InviteBranch b : invites.pendingCalls()) {
                live.add(b.session.id());
            }
            for (Session session : s.store.sessions()) {
                long age = now - session.receivedAt();
                if (age > c.session_max_age_s() * 1000L
                        || (!session.answered() && age > c.session_setup_max_s() * 1000L && !live.contains(session.id()))) {
                    // a session taken over from a departed cluster member: its end was never seen
                    EndReason why = session.takenOver() ? EndReason.TAKEN_OVER : EndReason.TIMEOUT;
                    if (s.store.end(session, why, session.finalCode())) {
                        LOG.info("Session {} (Call-ID {}) ended by the orphan sweep after {} s", session.id(),
                                session.callId(), age / 1000);
                    }
                }
            }
            strays.expire(now);
        } catch (RuntimeException e) {
            LOG.warn("Orphan sweep failed", e);
        }
    }
}
