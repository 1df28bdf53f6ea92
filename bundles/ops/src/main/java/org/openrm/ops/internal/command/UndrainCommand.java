package org.openrm.ops.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.ops.internal.OpsService;

/** {@code rm:undrain}: take new calls again. */
@Service
@Command(scope = "rm", name = "undrain", description = "Take new calls again after rm:drain")
public class UndrainCommand implements Action {
    @Reference
    OpsService ops;

    @Override
    public Object execute() {
        boolean was = ops.draining();
        ops.undrain("rm:undrain");
        System.out.println(was ? "Taking new calls again" : "The node was not draining");
        return null;
    }
}
