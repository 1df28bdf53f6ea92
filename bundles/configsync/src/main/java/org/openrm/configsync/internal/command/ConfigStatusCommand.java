package org.openrm.configsync.internal.command;

import java.util.Map;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.configsync.internal.ConfigSync;

/** {@code rm:config-status}: where the model comes from, and how current it is. */
@Service
@Command(scope = "rm", name = "config-status", description = "Config server in use, revision, last change applied, last refusal, lease")
public class ConfigStatusCommand implements Action {
    @Reference
    ConfigSync sync;

    @Override
    public Object execute() {
        for (Map.Entry<String, String> e : sync.status().entrySet()) {
            System.out.printf("%-14s %s%n", e.getKey(), e.getValue());
        }
        return null;
    }
}
