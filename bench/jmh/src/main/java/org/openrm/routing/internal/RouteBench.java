package org.openrm.routing.internal;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openrm.api.CallRequest;
import org.openrm.api.RouteResult;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryRegistrations;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.openrm.api.internal.InMemoryResourceStates;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * One call's routing decision, as the SIP thread makes it per INVITE: service selection by DID, admission against
 * the profile and a two-level tenant tree, media server selection by the group's scheme among {@code resources}
 * servers, the RFC 4240 Request-URI; then the ports and policy counts given back as the call's end does.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RouteBench {
    @Param({"round-robin", "least-used", "least-percent"})
    public String scheme;

    @Param({"2", "50"})
    public int resources;

    /** alone: shares unlimited (no cluster); clustered: every limit under cluster shares, as on a clustered node. */
    @Param({"alone", "clustered"})
    public String shares;

    private final InMemoryResourceLedger ledger = new InMemoryResourceLedger();
    private final InMemoryPolicyLedger policy = new InMemoryPolicyLedger();
    private RoutingEngine engine;
    private CallRequest call;

    @Setup
    public void setUp() {
        RoutingEngine.Config c = (RoutingEngine.Config) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {RoutingEngine.Config.class}, (p, m, a) -> m.getName().equals("embedded_defaults")
                        ? Boolean.FALSE : m.getDefaultValue());
        ConfigurationAdmin none = (ConfigurationAdmin) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (p, m, a) -> null);
        engine = new RoutingEngine(ledger, policy, new InMemoryResourceStates(), new InMemoryRegistrations(), none, c);
        Map<String, Model.ConfigEntry> m = new HashMap<>();
        for (Model.ConfigEntry e : List.of(
                entry(Model.TENANT_PID, "acme", Map.of("limit", 100_000, "burst.2", 110_000, "burst.3", 120_000)),
                entry(Model.TENANT_PID, "acme-sales", Map.of("parent", "acme", "limit", 100_000)),
                entry(Model.PROFILE_PID, "welcome", Map.of("tenant", "acme-sales", "service", "voicexml",
                        "url", "http://apps.example/welcome.vxml?lang=en&x=1", "dids", "5551234, 5551235",
                        "did.prefixes", "555", "param.language", "en")),
                entry(Model.PROFILE_PID, "promo", Map.of("tenant", "acme", "service", "announcement",
                        "url", "http://apps.example/promo.wav", "did.prefixes", "55512")),
                entry(Model.GROUP_PID, "default", Map.of("scheme", scheme)))) {
            m.put(e.pid(), e);
        }
        for (int i = 0; i < resources; i++) {
            Model.ConfigEntry r = entry(Model.RESOURCE_PID, "mcp" + i, Map.of("uri", "sip:10.0." + (i / 250) + "." + (i % 250)
                    + ":5070", "capacity", 1000));
            m.put(r.pid(), r);
        }
        engine.apply(m);
        if ("clustered".equals(shares)) {
            ledger.shares().manage(true);
            policy.shares().manage(true);
            for (int i = 0; i < resources; i++) {
                ledger.shares().grant("mcp" + i, 1000);
            }
            for (String k : List.of("profile:welcome", "profile:promo", "tenant:acme", "tenant:acme-sales")) {
                policy.shares().grant(k, 100_000);
            }
        }
        call = new CallRequest("bench-call", "sip:5551234@10.1.1.1", "5551234", "sip:caller@10.2.2.2",
                "sip:5551234@10.1.1.1", Map.of(), "");
        if (!(engine.route(call) instanceof RouteResult.Target t)) {
            throw new IllegalStateException("the benchmark's call is not routed");
        }
        release(t);
    }

    private static Model.ConfigEntry entry(String factory, String name, Map<String, Object> props) {
        return new Model.ConfigEntry(factory + "~" + name, factory, name, props);
    }

    private void release(RouteResult.Target t) {
        ledger.release(t.resource());
        policy.release(t.selection().policyKeys());
    }

    @Benchmark
    public RouteResult routeAndRelease() {
        RouteResult r = engine.route(call);
        release((RouteResult.Target) r);
        return r;
    }
}
