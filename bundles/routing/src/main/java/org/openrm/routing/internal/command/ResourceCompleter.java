package org.openrm.routing.internal.command;

import java.util.List;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.openrm.api.CallRouter;

/** Tab completion of resource names. */
@Service
public class ResourceCompleter implements Completer {
    @Reference
    CallRouter router;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        return NameCompleter.complete(Commands.engine(router), m -> m.resources.keySet(), session, line, candidates);
    }
}
