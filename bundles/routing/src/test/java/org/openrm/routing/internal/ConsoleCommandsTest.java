package org.openrm.routing.internal;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;

import org.junit.jupiter.api.Test;
import org.openrm.routing.internal.command.CommandsAccess;

/** The rm: console commands against a configured engine. */
class ConsoleCommandsTest {

    private static String capture(Callable<Object> action) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            action.call();
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void routeShowsTheChoiceAndHoldsNothing() throws Exception {
        ServiceSelectionTest t = new ServiceSelectionTest();
        RoutingEngine e = t.engine(ServiceSelectionTest.platform(), "");
        String out = capture(CommandsAccess.route(e, "5551234", List.of("X-Genesys-geo-location: east")));
        assertTrue(out.contains("Profile:     welcome (voicexml)") && out.contains("Resource:    mcp")
                && out.contains("sip:dialog@10.0.0.5:5070"), out);
        assertTrue(t.policy.snapshot().isEmpty() && t.ledger.inUse("mcp") == 0, "the dry run held counts");
        String rejected = capture(CommandsAccess.route(e, "999", List.of()));
        assertTrue(rejected.contains("Rejected:    404"), rejected);
        String resources = capture(CommandsAccess.resources(e));
        assertTrue(resources.contains("mcp") && resources.contains("in-service") && resources.contains("1000"), resources);
        String tenants = capture(CommandsAccess.tenants(e));
        assertTrue(tenants.contains("acme-sales") && tenants.contains("acme"), tenants);
        // tab completion offers the configured names
        List<String> profiles = CommandsAccess.complete(e, "profile");
        assertTrue(profiles.stream().anyMatch(x -> x.trim().equals("welcome")) && profiles.size() == 4, profiles.toString());
        assertTrue(CommandsAccess.complete(e, "tenant").stream().anyMatch(x -> x.trim().equals("acme-sales")));
        assertTrue(CommandsAccess.complete(e, "resource").stream().anyMatch(x -> x.trim().equals("mcp")));
    }
}
