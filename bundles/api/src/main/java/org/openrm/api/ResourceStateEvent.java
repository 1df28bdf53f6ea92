package org.openrm.api;

/**
 * One transition of a media server's state, published once to every {@link ResourceStateListener}.
 *
 * @param resource the resource name
 * @param group    its resource group
 * @param uri      its SIP URI
 * @param from     the state before
 * @param to       the state after
 * @param reason   why, in words ("2 probes failed: timeout", "rm:resource-disable", "503 Retry-After 30 s")
 * @param at       epoch ms
 */
public record ResourceStateEvent(String resource, String group, String uri, ResourceState from, ResourceState to,
                                 String reason, long at) { }
