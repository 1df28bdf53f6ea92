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

/** rm:resources — every media server with its state, ports in use and group. */
@Service
@Command(scope = "rm", name = "resources", description = "Media servers: state, ports in use / capacity, group, location")
public class ResourcesCommand implements Action {
    @Reference
    CallRouter router;

    @Argument(index = 0, name = "name", description = "Show only this media server")
    @Completion(ResourceCompleter.class)
    String name;

    @Override
    public Object execute() {
        RoutingEngine e = Commands.engine(router);
        long now = System.currentTimeMillis();
        ShellTable t = new ShellTable();
        t.column("Name");
        t.column("Group");
        t.column("State");
        t.column("In use").alignRight();
        t.column("Capacity").alignRight();
        t.column("Geo");
        t.column("URI");
        for (Model.Group g : e.model().groups) {
            for (Model.Resource r : g.resources) {
                if (name != null && !name.equals(r.name())) {
                    continue;
                }
                long q = e.ledger().quarantinedUntil(r.name());
                String state = !r.enabled() ? "disabled" : q > now ? "quarantined " + (q - now) / 1000 + " s" : "in-service";
                t.addRow().addContent(r.name(), g.name, state, e.ledger().inUse(r.name()), r.capacity(),
                        r.geo() == null ? "" : r.geo(), r.uri());
            }
        }
        t.print(System.out);
        return null;
    }
}
