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
