package org.openrm.routing.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;
import org.openrm.api.CallRouter;
import org.openrm.routing.internal.Model;
import org.openrm.routing.internal.RoutingEngine;

/** rm:tenants — tenants with their calls in progress, limits and current burst level. */
@Service
@Command(scope = "rm", name = "tenants", description = "Tenants: calls in progress, limit, burst levels, current burst level")
public class TenantsCommand implements Action {
    @Reference
    CallRouter router;

    @Argument(index = 0, name = "name", description = "Show only this tenant")
    @Completion(TenantCompleter.class)
    String name;

    @Override
    public Object execute() {
        RoutingEngine e = Commands.engine(router);
        ShellTable t = new ShellTable();
        t.column("Tenant");
        t.column("Parent");
        t.column("Usage").alignRight();
        t.column("Limit").alignRight();
        t.column("Burst 2").alignRight();
        t.column("Burst 3").alignRight();
        t.column("Level").alignRight();
        for (Model.Tenant x : e.model().tenants.values()) {
            if (name != null && !name.equals(x.name())) {
                continue;
            }
            int usage = e.policy().count("tenant:" + x.name());
            t.addRow().addContent(x.name(), x.parent() == null ? "" : x.parent(), usage, limit(x.limit()),
                    limit(x.burst2()), limit(x.burst3()), usage == 0 ? 0 : x.burstLevel(usage));
        }
        t.print(System.out);
        return null;
    }

    private static String limit(int n) {
        return n < 0 ? "-" : Integer.toString(n);
    }
}
