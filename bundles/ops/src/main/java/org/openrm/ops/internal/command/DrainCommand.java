package org.openrm.ops.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.ops.internal.OpsService;

/** {@code rm:drain}: no new calls, the calls in progress end, the CDR spool is flushed; the node stays drained. */
@Service
@Command(scope = "rm", name = "drain", description = "Stop taking new calls (503 + Retry-After, OPTIONS 503, readiness 503), "
        + "wait for the calls in progress to end and the CDRs to reach the broker; undone by rm:undrain")
public class DrainCommand implements Action {
    @Reference
    OpsService ops;

    @Option(name = "-t", aliases = "--timeout", description = "Seconds to wait for calls in progress (default drain.timeout.s)")
    int timeoutS = -1;

    @Option(name = "-n", aliases = "--no-wait", description = "Start draining and return at once")
    boolean noWait;

    @Override
    public Object execute() {
        if (noWait) {
            ops.drain(0, false, line -> { }, "rm:drain");
            System.out.println("Draining: new calls get 503; rm:stats shows the calls in progress; rm:undrain takes calls again");
            return null;
        }
        OpsService.DrainResult r = ops.drain(timeoutS >= 0 ? timeoutS : ops.drainTimeoutS(), System.out::println, "rm:drain");
        System.out.println(r.callsLeft() == 0 && r.recordsLeft() == 0 ? "Drained: no call in progress, every CDR delivered"
                : "Drained with " + r.callsLeft() + " calls in progress and " + r.recordsLeft() + " CDRs waiting");
        return null;
    }
}
