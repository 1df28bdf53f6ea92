package org.openrm.ops.internal.command;

import java.util.Map;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.ops.internal.OpsService;

/** {@code rm:stats}: the key counters at a glance. */
@Service
@Command(scope = "rm", name = "stats", description = "Key counters at a glance: calls, rejections, SIP path, readiness")
public class StatsCommand implements Action {
    @Reference
    OpsService ops;

    @Override
    public Object execute() {
        for (Map.Entry<String, String> e : ops.stats().entrySet()) {
            System.out.printf("%-28s %s%n", e.getKey(), e.getValue());
        }
        return null;
    }
}
