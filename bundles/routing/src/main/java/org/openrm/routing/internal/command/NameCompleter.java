package org.openrm.routing.internal.command;

import java.util.Collection;
import java.util.List;
import java.util.function.Function;

import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;
import org.openrm.routing.internal.Model;
import org.openrm.routing.internal.RoutingEngine;

/** Completes names from the routing model in force. */
abstract class NameCompleter {
    static int complete(RoutingEngine e, Function<Model, Collection<String>> names, Session session,
                        CommandLine line, List<String> candidates) {
        StringsCompleter delegate = new StringsCompleter();
        delegate.getStrings().addAll(names.apply(e.model()));
        return delegate.complete(session, line, candidates);
    }
}
