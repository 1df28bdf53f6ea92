package org.openrm.ops.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.openrm.api.EndReason;
import org.openrm.api.ResourceState;
import org.openrm.api.Session;
import org.openrm.api.SipStatus;

/**
 * openrm's Prometheus metrics (the families are listed in the README). Call events are counted as they happen;
 * everything else is read from the stores at scrape time, so a scrape costs O(resources + tenants + profiles) and
 * no Call-ID or other unbounded value ever becomes a label.
 */
final class Metrics {
    private static final double[] SETUP_BOUNDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

    final PrometheusRegistry registry = new PrometheusRegistry();
    private final java.util.function.Supplier<NodeView> views;
    private final Counter admitted;
    private final Counter rejected;
    private final Counter ended;
    /** The ended counter's data point per end reason, looked up once: a call's end costs an increment, no allocation. */
    private final io.prometheus.metrics.core.datapoints.CounterDataPoint[] endedBy =
            new io.prometheus.metrics.core.datapoints.CounterDataPoint[EndReason.values().length];
    private final Histogram setup;
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    private final java.util.function.Supplier<org.openrm.api.ClusterMembership> cluster;

    Metrics(java.util.function.Supplier<NodeView> views, boolean jvm) {
        this(views, jvm, () -> null);
    }

    Metrics(java.util.function.Supplier<NodeView> views, boolean jvm,
            java.util.function.Supplier<org.openrm.api.ClusterMembership> cluster) {
        this.views = views;
        this.cluster = cluster;
        admitted = Counter.builder().name("openrm_calls_admitted")
                .help("Calls admitted: a media server was chosen and a port taken").register(registry);
        rejected = Counter.builder().name("openrm_calls_rejected")
                .help("Calls refused by routing (policy limit, no media server, unknown number), by SIP code and reason")
                .labelNames("code", "reason").register(registry);
        ended = Counter.builder().name("openrm_calls_ended")
                .help("Admitted calls ended, by end reason").labelNames("reason").register(registry);
        setup = Histogram.builder().name("openrm_call_setup_seconds")
                .help("Time from the INVITE to the media server's 2xx, for answered calls")
                .classicOnly().classicUpperBounds(SETUP_BOUNDS).register(registry);
        for (EndReason r : EndReason.values()) {
            if (r != EndReason.REJECTED) {
                endedBy[r.ordinal()] = ended.labelValues(label(r));
                endedBy[r.ordinal()].inc(0); // every reason present from the first scrape
            }
        }
        registry.register(new StateCollector());
        if (jvm) {
            JvmMetrics.builder().register(registry);
        }
    }

    static String label(EndReason r) {
        return r.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    void started(Session s) {
        admitted.inc();
    }

    void ended(Session s, EndReason reason, int code) {
        if (reason == EndReason.REJECTED) {
            rejected.labelValues(Integer.toString(code),
                    (s.rejectCause() == null ? org.openrm.api.RouteResult.Rejection.Cause.OTHER : s.rejectCause()).label()).inc();
            return;
        }
        endedBy[reason.ordinal()].inc();
        if (s.answered() && s.answeredAt() >= s.receivedAt()) {
            setup.observe((s.answeredAt() - s.receivedAt()) / 1000.0);
        }
    }

    /** A counter family from {@code udp.INVITE -> n} keys: labels {@code transport} and {@code method}. */
    private static CounterSnapshot byTransportAndMethod(String name, String help, Map<String, Long> counts) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
        for (Map.Entry<String, Long> e : counts.entrySet()) {
            int dot = e.getKey().indexOf('.');
            b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                    .labels(Labels.of("transport", e.getKey().substring(0, dot), "method", e.getKey().substring(dot + 1)))
                    .value(e.getValue()).build());
        }
        return b.build();
    }

    /** The text exposition of one scrape. */
    byte[] scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16384);
        writer.write(out, registry.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
        return out.toByteArray();
    }

    String contentType() {
        return writer.getContentType();
    }

    /** The families read from the stores at scrape time. */
    private final class StateCollector implements MultiCollector {
        @Override
        public MetricSnapshots collect() {
            NodeView view = views.get();
            List<MetricSnapshot> out = new ArrayList<>();
            out.add(gauge("openrm_sessions_active", "Calls in progress on this node", view.sessions.size()));
            List<NodeView.Resource> resources = view.resources();
            GaugeSnapshot.Builder inUse = GaugeSnapshot.builder().name("openrm_resource_ports_in_use")
                    .help("Ports in use on a media server (calls in progress there)");
            GaugeSnapshot.Builder capacity = GaugeSnapshot.builder().name("openrm_resource_capacity")
                    .help("Ports a media server offers");
            GaugeSnapshot.Builder state = GaugeSnapshot.builder().name("openrm_resource_state")
                    .help("1 for the state a media server is in, 0 for the others");
            GaugeSnapshot.Builder latency = GaugeSnapshot.builder().name("openrm_resource_probe_latency_seconds")
                    .help("Round trip of the last answered OPTIONS probe");
            for (NodeView.Resource r : resources) {
                Labels l = Labels.of("resource", r.name(), "group", r.group());
                inUse.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(r.inUse()).build());
                capacity.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(r.capacity()).build());
                for (ResourceState s : ResourceState.values()) {
                    state.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                            .labels(l.add("state", s.label())).value(s.label().equals(r.state()) ? 1 : 0).build());
                }
                if (r.latencyMs() >= 0) {
                    latency.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l)
                            .value(r.latencyMs() / 1000.0).build());
                }
            }
            out.add(inUse.build());
            out.add(capacity.build());
            out.add(state.build());
            out.add(latency.build());
            GaugeSnapshot.Builder usage = GaugeSnapshot.builder().name("openrm_policy_usage")
                    .help("Calls in progress counted against a tenant or profile");
            GaugeSnapshot.Builder limit = GaugeSnapshot.builder().name("openrm_policy_limit")
                    .help("The hard limit of a tenant or profile (highest burst level configured); absent without limit");
            GaugeSnapshot.Builder burst = GaugeSnapshot.builder().name("openrm_policy_burst_level")
                    .help("Burst level a tenant or profile is at (1 within its limit, 2 and 3 above)");
            for (NodeView.Usage u : view.usage()) {
                Labels l = Labels.of("kind", u.kind(), "name", u.name());
                usage.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(u.usage()).build());
                burst.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(u.burstLevel()).build());
                if (u.hardLimit() >= 0) {
                    limit.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(u.hardLimit()).build());
                }
            }
            out.add(usage.build());
            out.add(limit.build());
            out.add(burst.build());
            SipStatus sip = view.sip();
            out.add(gauge("openrm_sip_up", "1 while the SIP stack listens", sip != null && sip.listening() ? 1 : 0));
            out.add(gauge("openrm_ready", "1 while the node is ready to take calls", view.notReady(resources).isEmpty() ? 1 : 0));
            if (sip != null) {
                out.add(gauge("openrm_sip_pending_invites", "INVITEs waiting for a final response", sip.pendingInvites()));
                out.add(gauge("openrm_sip_stalled_seconds", "How long the SIP path has made no progress",
                        sip.stalledMs() / 1000.0));
                Map<String, Long> c = sip.counters();
                out.add(counter("openrm_calls_received", "New INVITEs received (before admission)", c.get("invites")));
                out.add(counter("openrm_overload_rejected", "New INVITEs answered 503 by the overload guard",
                        c.get("overload.rejected")));
                out.add(counter("openrm_overload_episodes", "Times the overload guard began to shed",
                        c.getOrDefault("overload.episodes", 0L)));
                out.add(gauge("openrm_overload_queue_delay_seconds",
                        "Queueing delay: how long the oldest received message has waited for a SIP worker",
                        c.getOrDefault("overload.delay.ms", 0L) / 1000.0));
                out.add(gauge("openrm_overload_shed_ratio", "Share of new INVITEs the overload guard sheds now (0..1)",
                        c.getOrDefault("overload.shed.permille", 0L) / 1000.0));
                out.add(gauge("openrm_udp_kernel_queued_bytes", "Bytes waiting in the UDP listening socket's receive "
                        + "buffer in the kernel, not yet read by openrm", c.getOrDefault("udp.kernel.queued.bytes", 0L)));
                out.add(counter("openrm_udp_kernel_drops", "Datagrams the kernel dropped on the UDP listening port (receive "
                        + "buffer full)", c.getOrDefault("udp.kernel.drops", 0L)));
                out.add(counter("openrm_failovers", "INVITEs moved to the next media server", c.get("failovers")));
                out.add(counter("openrm_sip_request_errors", "Requests whose handling failed (answered 500)",
                        c.get("request.errors")));
                CounterSnapshot.Builder edge = CounterSnapshot.builder().name("openrm_edge_refused")
                        .help("Messages or connections refused at the SIP edge, by reason");
                for (Map.Entry<String, Long> e : c.entrySet()) {
                    if (e.getKey().startsWith("edge.")) {
                        edge.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                                .labels(Labels.of("reason", e.getKey().substring(5).replace('.', '-')))
                                .value(e.getValue()).build());
                    }
                }
                out.add(edge.build());
                out.add(byTransportAndMethod("openrm_sip_messages_received", "SIP messages the proxy handled (parsed by the "
                        + "stack, or answered or relayed from their bytes), by transport and method (response for responses)",
                        sip.received()));
                out.add(byTransportAndMethod("openrm_sip_messages_sent", "SIP messages written to the wire, by transport and "
                        + "method (response for responses), retransmissions included", sip.sent()));
                out.add(CounterSnapshot.builder().name("openrm_sip_raw_relayed")
                        .help("In-dialog ACK/BYE (request) and their answers (response) relayed from their bytes, not parsed")
                        .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(Labels.of("kind", "request"))
                                .value(c.getOrDefault("raw.relayed.requests", 0L)).build())
                        .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(Labels.of("kind", "response"))
                                .value(c.getOrDefault("raw.relayed.responses", 0L)).build())
                        .build());
            }
            org.openrm.api.BillingStatus bs = view.billing();
            if (bs != null) {
                out.add(gauge("openrm_cdr_broker_connected", "1 while billing is connected to the broker", bs.brokerConnected() ? 1 : 0));
                out.add(gauge("openrm_cdr_pending_records", "Records written and not yet delivered to the broker", bs.pendingRecords()));
                out.add(gauge("openrm_cdr_delivery_lag_seconds", "How long records have waited for the broker (0: none waiting)",
                        bs.deliveryLagMs() / 1000.0));
                out.add(gauge("openrm_cdr_spool_bytes", "Bytes the durable CDR spool holds on disk", bs.spoolBytes()));
                out.add(counter("openrm_cdr_delivered", "Records delivered to the broker", bs.delivered()));
                out.add(counter("openrm_cdr_dropped", "Records dropped because the spool was full", bs.dropped()));
            }
            org.openrm.api.ClusterMembership cm = cluster.get();
            if (cm != null && cm.clustered()) {
                out.add(gauge("openrm_cluster_members", "Members of this node's cluster view, itself included", cm.members().size()));
                out.add(gauge("openrm_cluster_departed", "Members gone from the view whose shares are held for them",
                        cm.departed().size()));
                out.add(gauge("openrm_cluster_coordinator", "1 while this node coordinates the view (moves the shares)",
                        cm.coordinator() ? 1 : 0));
                out.add(counter("openrm_cluster_view_changes", "Cluster views installed (joins, leaves, merges)", cm.viewChanges()));
                out.add(counter("openrm_cluster_sessions_taken_over", "Sessions of departed members this node took over",
                        cm.sessionsTakenOver()));
                out.add(gauge("openrm_cluster_session_replicas", "Replicas of other members' live sessions held here",
                        cm.sessionReplicas()));
                GaugeSnapshot.Builder created = GaugeSnapshot.builder().name("openrm_cluster_limit")
                        .help("Capacity of a limit created in the cluster (the limit all nodes share)");
                GaugeSnapshot.Builder share = GaugeSnapshot.builder().name("openrm_cluster_share")
                        .help("This node's share of a limit of the cluster");
                for (Map.Entry<String, int[]> e : cm.shares().entrySet()) {
                    int colon = e.getKey().indexOf(':');
                    Labels l = Labels.of("kind", e.getKey().substring(0, Math.max(0, colon)), "name", e.getKey().substring(colon + 1));
                    created.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(e.getValue()[0]).build());
                    share.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(e.getValue()[1]).build());
                }
                out.add(created.build());
                out.add(share.build());
            }
            return new MetricSnapshots(out);
        }

        private GaugeSnapshot gauge(String name, String help, double v) {
            return GaugeSnapshot.builder().name(name).help(help)
                    .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(v).build()).build();
        }

        private CounterSnapshot counter(String name, String help, Long v) {
            return CounterSnapshot.builder().name(name).help(help)
                    .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(v == null ? 0 : v).build()).build();
        }
    }
}
