package org.openrm.routing.internal.command;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.RouteResult;

/**
 * rm:route — which profile, tenant and media server a call would get, without placing it: the port and
 * policy counts the dry run takes are given back at once.
 */
@Service
@Command(scope = "rm", name = "route", description = "Shows the IVR profile and media server a call would get, without placing it")
public class RouteCommand implements Action {
    @Reference
    CallRouter router;

    @Argument(index = 0, name = "number", description = "The dialled number", required = true)
    String number;

    @Argument(index = 1, name = "headers", description = "Headers of the INVITE, as 'Name: value'", multiValued = true)
    List<String> headers;

    @Option(name = "--ruri-params", description = "Request-URI parameters, e.g. 'gvp-tenant-id=welcome'")
    String ruriParams;

    @Option(name = "--profile", description = "Name the IVR profile as a gvp-tenant-id Request-URI parameter would")
    @Completion(ProfileCompleter.class)
    String profile;

    @Override
    public Object execute() {
        Map<String, String> h = new HashMap<>();
        if (headers != null) {
            for (String x : headers) {
                int colon = x.indexOf(':');
                if (colon <= 0) {
                    System.out.println("Ignored '" + x + "': headers are 'Name: value'");
                    continue;
                }
                h.put(x.substring(0, colon).trim().toLowerCase(Locale.ROOT), x.substring(colon + 1).trim());
            }
        }
        String ruri = "sip:" + number + "@openrm" + (ruriParams == null || ruriParams.isEmpty() ? "" : ";" + ruriParams)
                + (profile == null || profile.isEmpty() ? "" : ";gvp-tenant-id=" + profile);
        CallRequest call = new CallRequest("rm-route-" + System.nanoTime(), ruri, number, "sip:console@openrm", ruri, h, "console");
        RouteResult r = router.route(call);
        if (r instanceof RouteResult.Target t) {
            try {
                if (t.selection() != null) {
                    System.out.println("Profile:     " + t.selection().profile() + " (" + t.selection().service() + ")");
                    System.out.println("Tenants:     " + t.selection().tenants() + " usage " + t.selection().usage()
                            + " burst levels " + t.selection().burstLevels());
                }
                System.out.println("Resource:    " + t.resource() + " in group " + t.group());
                System.out.println("Request-URI: " + (t.requestUri() != null ? t.requestUri() : t.uri()));
            } finally {
                Commands.engine(router).ledger().release(t.resource());
                if (t.selection() != null) {
                    Commands.engine(router).policy().release(t.selection().policyKeys());
                }
            }
        } else {
            RouteResult.Rejection x = (RouteResult.Rejection) r;
            System.out.println("Rejected:    " + x.code() + " " + x.reason()
                    + (x.retryAfterS() > 0 ? " (Retry-After " + x.retryAfterS() + ")" : ""));
        }
        return null;
    }
}
