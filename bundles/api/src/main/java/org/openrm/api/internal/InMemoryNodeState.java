package org.openrm.api.internal;

import org.openrm.api.NodeState;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The node's draining flag; one immutable value behind a volatile field. */
@Component(service = NodeState.class)
public class InMemoryNodeState implements NodeState {
    private static final Logger LOG = LoggerFactory.getLogger(InMemoryNodeState.class);

    private record Drain(int retryAfterS, String why, long since) { }

    private volatile Drain drain;

    @Override
    public boolean draining() {
        return drain != null;
    }

    @Override
    public int drainRetryAfterS() {
        Drain d = drain;
        return d == null ? 0 : d.retryAfterS();
    }

    @Override
    public synchronized void draining(boolean on, int retryAfterS, String why) {
        if (on) {
            drain = new Drain(Math.max(1, retryAfterS), why, System.currentTimeMillis());
            LOG.warn("Node draining ({}): new calls get 503 with Retry-After {} s, calls in progress go on", why, retryAfterS);
        } else if (drain != null) {
            drain = null;
            LOG.warn("Node takes new calls again ({})", why);
        }
    }

    @Override
    public String drainReason() {
        Drain d = drain;
        return d == null ? null : d.why() + " since " + java.time.Instant.ofEpochMilli(d.since());
    }
}
