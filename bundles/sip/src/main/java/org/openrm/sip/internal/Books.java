package org.openrm.sip.internal;

import java.util.function.Supplier;

import org.openrm.api.CallRouter;
import org.openrm.api.PolicyLedger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.SessionStore;

/**
 * Where a call's bookkeeping goes: the node's own session store, ledgers and router, or the warm-up's scratch copies
 * of them ({@link SessionStore#scratch}, {@link CallRouter#scratch}). {@link InviteProxy} runs every call by the same
 * code against its branch's books; only the node's own books feed health.
 */
final class Books {
    final SessionStore store;
    final ResourceLedger ledger;
    final PolicyLedger policy;
    private final Supplier<CallRouter> router;
    /** The node's own books (a failed media server is reported); false for the warm-up's scratch books. */
    final boolean own;

    Books(SessionStore store, ResourceLedger ledger, PolicyLedger policy, Supplier<CallRouter> router, boolean own) {
        this.store = store;
        this.ledger = ledger;
        this.policy = policy;
        this.router = router;
        this.own = own;
    }

    /** The router of these books, or null (routing being replaced, or none for the warm-up yet). */
    CallRouter router() {
        return router.get();
    }
}
