package org.openrm.routing.internal.command;

import org.openrm.api.CallRouter;
import org.openrm.routing.internal.RoutingEngine;

/** Shared helpers of the rm: console commands. */
final class Commands {
    private Commands() { }

    /** The routing engine behind the published router, or an explanation. */
    static RoutingEngine engine(CallRouter router) {
        if (router instanceof RoutingEngine e) {
            return e;
        }
        throw new IllegalStateException("openrm routing is not active");
    }

    static String age(long sinceMillis) {
        long s = Math.max(0, (System.currentTimeMillis() - sinceMillis) / 1000);
        return s < 3600 ? String.format("%d:%02d", s / 60, s % 60) : String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
