package org.openrm.routing.internal.command;

import java.util.List;
import java.util.concurrent.Callable;

import org.openrm.routing.internal.RoutingEngine;

/** Builds the console commands with their injected fields, as Karaf's shell does. */
public final class CommandsAccess {
    private CommandsAccess() { }

    public static Callable<Object> route(RoutingEngine e, String number, List<String> headers) {
        RouteCommand c = new RouteCommand();
        c.router = e;
        c.number = number;
        c.headers = headers;
        return c::execute;
    }

    /** What tab completion offers for an empty word: kind is profile, tenant or resource. */
    public static java.util.List<String> complete(RoutingEngine e, String kind) {
        java.util.List<String> out = new java.util.ArrayList<>();
        org.apache.karaf.shell.api.console.CommandLine line = (org.apache.karaf.shell.api.console.CommandLine)
                java.lang.reflect.Proxy.newProxyInstance(CommandsAccess.class.getClassLoader(),
                        new Class<?>[] {org.apache.karaf.shell.api.console.CommandLine.class}, (p, m, a) -> switch (m.getName()) {
                            case "getCursorArgument", "getBuffer" -> "";
                            case "getArgumentPosition", "getBufferPosition", "getCursorArgumentIndex" -> 0;
                            case "getArguments" -> new String[0];
                            default -> null;
                        });
        switch (kind) {
            case "profile" -> {
                ProfileCompleter c = new ProfileCompleter();
                c.router = e;
                c.complete(null, line, out);
            }
            case "tenant" -> {
                TenantCompleter c = new TenantCompleter();
                c.router = e;
                c.complete(null, line, out);
            }
            default -> {
                ResourceCompleter c = new ResourceCompleter();
                c.router = e;
                c.complete(null, line, out);
            }
        }
        return out;
    }

    public static Callable<Object> resources(RoutingEngine e) {
        ResourcesCommand c = new ResourcesCommand();
        c.router = e;
        return c::execute;
    }

    public static Callable<Object> tenants(RoutingEngine e) {
        TenantsCommand c = new TenantsCommand();
        c.router = e;
        return c::execute;
    }
}
