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
@Command(scope = "rm", name = "resources", description = "Media servers: state, time in state, last probe, ports in use / capacity, group")
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
        t.column("In state").alignRight();
        t.column("Last probe");
        t.column("Latency").alignRight();
        t.column("In use").alignRight();
        t.column("Capacity").alignRight();
        t.column("Geo");
        t.column("URI");
        for (Model.Group g : e.model().groups) {
            for (Model.Resource r : g.resources) {
                if (name != null && !name.equals(r.name())) {
                    continue;
                }
                org.openrm.api.ResourceStatus s = e.states().get(r.name());
                long q = Math.max(e.ledger().quarantinedUntil(r.name()), s == null ? 0 : s.quarantinedUntil());
                String state = !r.enabled() ? "disabled (config)"
                        : s != null && s.state() != org.openrm.api.ResourceState.IN_SERVICE ? s.state().label()
                        : q > now ? "quarantined" : "in-service";
                if (q > now && (s == null || !s.disabled())) {
                    state += " " + ((q - now + 999) / 1000) + " s left";
                }
                String inState = s == null ? "" : age(now - s.since());
                String probe = s == null || s.lastProbe() == null ? "" : s.lastProbe() + " " + age(now - s.lastProbeAt()) + " ago";
                String latency = s == null || s.lastLatencyMs() < 0 ? "" : s.lastLatencyMs() + " ms";
                t.addRow().addContent(r.name(), g.name, state, inState, probe, latency, e.ledger().inUse(r.name()),
                        r.capacity(), r.geo() == null ? "" : r.geo(), r.uri());
            }
        }
        t.print(System.out);
        return null;
    }

    static String age(long ms) {
        long s = Math.max(0, ms) / 1000;
        return s < 120 ? s + " s" : s < 7200 ? s / 60 + " min" : s / 3600 + " h";
    }
}
