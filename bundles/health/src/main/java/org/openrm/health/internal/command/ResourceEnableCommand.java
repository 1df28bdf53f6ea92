package org.openrm.health.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.health.internal.HealthMonitor;

/** rm:resource-enable — take a drained media server back into service. */
@Service
@Command(scope = "rm", name = "resource-enable", description = "Takes a media server disabled with rm:resource-disable back into service")
public class ResourceEnableCommand implements Action {
    @Reference
    HealthMonitor health;

    @Argument(index = 0, name = "name", required = true, description = "The media server (resource name)")
    @Completion(MonitoredResourceCompleter.class)
    String name;

    @Override
    public Object execute() {
        return AdminState.set(health, name, false);
    }
}
