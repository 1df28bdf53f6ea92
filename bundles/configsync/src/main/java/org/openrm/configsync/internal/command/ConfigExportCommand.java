package org.openrm.configsync.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.configsync.internal.ConfigSync;

/** {@code rm:config-export}: the running model as etcdctl commands, to seed a config server from a node. */
@Service
@Command(scope = "rm", name = "config-export", description = "The running model in the config server's key layout, as etcdctl put commands")
public class ConfigExportCommand implements Action {
    @Reference
    ConfigSync sync;

    @Override
    public Object execute() throws Exception {
        sync.export().forEach(System.out::println);
        return null;
    }
}
