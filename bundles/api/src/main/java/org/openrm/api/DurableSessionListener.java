package org.openrm.api;

/**
 * A {@link SessionListener} that must hear of every ending (billing). The session store guarantees it: while
 * no durable listener is registered (the billing bundle is being updated or restarted), endings are held in
 * the api bundle, up to a bound, and handed to the next durable listener that registers, in order, before any
 * new one. {@link #ended} must make the record durable before it returns and must not block on the network.
 */
public interface DurableSessionListener extends SessionListener {
}
