package org.openrm.api;

/**
 * The CDR path as operators watch it (published by the billing bundle; read by ops and SNMP). Cheap, never blocks.
 */
public interface BillingStatus {

    /** True while a connection to the broker is open. */
    boolean brokerConnected();

    /** Bytes the durable spool holds on disk (records not yet delivered, and delivered ones of an open segment). */
    long spoolBytes();

    /** Records written since this bundle started and not yet delivered to the broker. */
    long pendingRecords();

    /** How long CDRs have waited for the broker: time since the last delivery while records are pending, else 0 (ms). */
    long deliveryLagMs();

    /** Records delivered to the broker since this bundle started. */
    long delivered();

    /** Records dropped because the spool was full, since this bundle started. */
    long dropped();
}
