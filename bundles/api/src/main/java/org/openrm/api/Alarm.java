package org.openrm.api;

/**
 * An operational alarm raised or cleared by a bundle (the CDR spool is full, ...), for SNMP notifications,
 * metrics and logs.
 *
 * @param source the bundle concern raising it ("billing")
 * @param name   what is wrong ("spool-full")
 * @param raised true when raised, false when cleared
 * @param text   what the operator should know
 * @param at     epoch ms
 */
public record Alarm(String source, String name, boolean raised, String text, long at) { }
