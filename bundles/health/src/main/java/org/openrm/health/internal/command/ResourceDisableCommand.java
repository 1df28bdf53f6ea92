package org.openrm.health.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.health.internal.HealthMonitor;

/** rm:resource-disable — drain a media server: no new calls, calls in progress continue. */
@Service
@Command(scope = "rm", name = "resource-disable",
        description = "Takes a media server out of service: no new calls, calls in progress continue (until rm:resource-enable or a restart)")
public class ResourceDisableCommand implements Action {
    @Reference
    HealthMonitor health;

    @Argument(index = 0, name = "name", required = true, description = "The media server (resource name)")
    @Completion(MonitoredResourceCompleter.class)
    String name;

    @Override
    public Object execute() {
        return AdminState.set(health, name, true);
    }
}
