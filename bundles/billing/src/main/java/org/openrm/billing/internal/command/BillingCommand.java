package org.openrm.billing.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.billing.internal.BillingService;

/** rm:billing — broker connection, records produced and delivered, spool fill. */
@Service
@Command(scope = "rm", name = "billing", description = "CDR delivery: broker connection, records spooled, delivered, dropped; spool fill")
public class BillingCommand implements Action {
    @Reference
    BillingService billing;

    @Override
    public Object execute() {
        BillingService.Status s = billing.status();
        System.out.println("Broker:      " + (s.connected() ? "connected" : "not connected" + (s.lastError() == null ? "" : " (" + s.lastError() + ")")));
        System.out.println("CDRs:        " + s.cdrs() + " spooled since start");
        System.out.println("Statistics:  " + s.stats() + " records spooled since start");
        System.out.println("Delivered:   " + s.delivered() + " since start");
        System.out.println("Connects:    " + s.connectAttempts() + " attempts since start");
        System.out.println("Dropped:     " + s.dropped() + (s.dropped() > 0 ? " (spool was full)" : ""));
        System.out.printf("Spool:       %d KB of %d MB%s%n", s.spoolBytes() / 1024, s.spoolMaxBytes() / (1024 * 1024),
                s.spoolFull() ? " FULL" : "");
        return null;
    }
}
