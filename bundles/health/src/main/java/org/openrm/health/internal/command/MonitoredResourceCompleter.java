package org.openrm.health.internal.command;

import java.util.List;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;
import org.openrm.health.internal.HealthMonitor;

/** Completes media server names. */
@Service
public class MonitoredResourceCompleter implements Completer {
    @Reference
    HealthMonitor health;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        return new StringsCompleter(new java.util.TreeSet<>(health.names())).complete(session, line, candidates);
    }
}
