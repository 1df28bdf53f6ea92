package org.openrm.billing.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.openrm.api.Alarm;
import org.openrm.api.AlarmListener;
import org.openrm.api.BillingStatus;
import org.openrm.api.DurableSessionListener;
import org.openrm.api.EndReason;
import org.openrm.api.Selection;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.SessionStore;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Billing: a CDR for every session that ends (and every call routing rejected), operational statistics every
 * {@code stats.interval.s}; both written to the durable {@link Spool} on the caller's thread (one write, no
 * network), then delivered to ActiveMQ by the {@link Sender} thread. A broker that is down never slows a call.
 *
 * <p>Registered as a {@link DurableSessionListener}: while this bundle is being updated, the session store in
 * the api bundle holds the endings and hands them over when the new revision registers.
 */
@Component(service = {SessionListener.class, BillingService.class, BillingStatus.class}, configurationPid = "org.openrm.billing",
        immediate = true)
@Designate(ocd = BillingService.Config.class)
public class BillingService implements DurableSessionListener, BillingStatus {
    private static final Logger LOG = LoggerFactory.getLogger(BillingService.class);

    @ObjectClassDefinition(name = "openrm billing", description = "CDRs and statistics to the Reporting Server over ActiveMQ")
    public @interface Config {
        @AttributeDefinition(description = "ActiveMQ broker (OpenWire)")
        String broker_url() default "tcp://127.0.0.1:61616";

        @AttributeDefinition(description = "Broker user; empty for none")
        String broker_user() default "";

        @AttributeDefinition(description = "Broker password (never logged)", type = org.osgi.service.metatype.annotations.AttributeType.PASSWORD)
        String broker_password() default "";

        @AttributeDefinition(description = "Queue of CDRs")
        String cdr_queue() default "openrm.cdr";

        @AttributeDefinition(description = "Queue of operational statistics")
        String stats_queue() default "openrm.stats";

        @AttributeDefinition(description = "Spool folder; empty: <karaf.data>/openrm/billing-spool")
        String spool_dir() default "";

        @AttributeDefinition(description = "Upper bound of the spool on disk (MB); when full, new records are counted and dropped, the oldest kept")
        int spool_max_mb() default 1024;

        @AttributeDefinition(description = "Size of one spool segment file (MB)")
        int spool_segment_mb() default 16;

        @AttributeDefinition(description = "How often written records are forced to disk (ms)")
        int spool_fsync_ms() default 10;

        @AttributeDefinition(description = "Seconds per operational statistics record")
        int stats_interval_s() default 60;

        @AttributeDefinition(description = "Records per broker transaction")
        int batch_size() default 500;

        @AttributeDefinition(description = "Longest pause between two attempts to reach the broker (s)")
        int retry_max_s() default 10;

        @AttributeDefinition(description = "CDRs waiting this long for the broker raise the delivery-stalled alarm (s)")
        int stall_alarm_s() default 30;

        @AttributeDefinition(description = "openrm node id written into records")
        int node_id() default 1;
    }

    /** Per tenant or profile: arrivals this interval, calls now, peak this interval. */
    private static final class Counter {
        final AtomicLong arrivals = new AtomicLong();
        final AtomicLong current = new AtomicLong();
        final AtomicLong peak = new AtomicLong();
    }

    static final int MAX_KEYS = 10_000;

    private final Config config;
    private final Spool spool;
    private final Path spoolDir;
    private final Sender sender;
    private final Thread senderThread;
    private final ScheduledThreadPoolExecutor timer;
    private final Map<String, Counter> tenants = new ConcurrentHashMap<>();
    private final Map<String, Counter> profiles = new ConcurrentHashMap<>();
    private final List<AlarmListener> alarmListeners = new CopyOnWriteArrayList<>();
    private volatile long intervalStart = System.currentTimeMillis();
    private volatile boolean spoolFull;
    private volatile boolean stalled;
    /** Epoch ms since when records have been pending without a pause (sampled every second); 0 when none are. */
    private volatile long pendingSince;
    public final AtomicLong cdrs = new AtomicLong();
    public final AtomicLong statsRecords = new AtomicLong();
    public final AtomicLong dropped = new AtomicLong();

    @Activate
    public BillingService(@Reference SessionStore store, Config config) throws IOException {
        this.config = config;
        Path dir = config.spool_dir().isBlank()
                ? Path.of(System.getProperty("karaf.data", "data"), "openrm", "billing-spool") : Path.of(config.spool_dir());
        spoolDir = dir;
        ScratchCdrs.removeLeftovers(dir);
        spool = new Spool(dir, config.spool_segment_mb() * 1024L * 1024L, config.spool_max_mb() * 1024L * 1024L);
        sender = new Sender(spool, new Sender.Settings(config.broker_url(), config.broker_user(), config.broker_password(),
                config.cdr_queue(), config.stats_queue(), config.batch_size(), config.retry_max_s()), this::afterDelivery);
        // calls already live (this bundle was updated or restarted under load) count as concurrent
        for (Session s : store.sessions()) {
            count(s.selection(), false);
        }
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-billing-spool");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::sync, config.spool_fsync_ms(), config.spool_fsync_ms(), TimeUnit.MILLISECONDS);
        timer.scheduleAtFixedRate(this::writeStats, config.stats_interval_s(), config.stats_interval_s(), TimeUnit.SECONDS);
        timer.scheduleWithFixedDelay(this::watchDelivery, 1, 1, TimeUnit.SECONDS);
        senderThread = new Thread(sender, "openrm-billing-sender");
        senderThread.setDaemon(true);
        senderThread.start();
        LOG.info("Billing to {} (queues {}, {}), spool {} ({} KB waiting, at most {} MB)", config.broker_url(),
                config.cdr_queue(), config.stats_queue(), dir, spool.totalBytes() / 1024, config.spool_max_mb());
    }

    @Deactivate
    void deactivate() {
        sender.stop();
        try {
            senderThread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        timer.shutdownNow();
        try {
            timer.awaitTermination(2, TimeUnit.SECONDS);
            spool.close();
        } catch (IOException e) {
            LOG.error("Billing spool not closed cleanly", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    public void addAlarmListener(AlarmListener l) {
        alarmListeners.add(l);
    }

    public void removeAlarmListener(AlarmListener l) {
        alarmListeners.remove(l);
    }

    // ------------------------------------------------------------------------------------ session events

    @Override
    public void started(Session s) {
        count(s.selection(), true);
    }

    @Override
    public void ended(Session s, EndReason reason, int finalCode, long endedAt) {
        if (reason != EndReason.REJECTED) {
            Selection sel = s.selection();
            if (sel != null) {
                for (String t : sel.tenants()) {
                    Counter c = tenants.get(t);
                    if (c != null) {
                        c.current.decrementAndGet();
                    }
                }
                Counter c = profiles.get(sel.profile());
                if (c != null) {
                    c.current.decrementAndGet();
                }
            }
        }
        if (append(Sender.CDR, seq -> Json.cdr(s, reason, finalCode, endedAt, config.node_id(), seq).getBytes(StandardCharsets.UTF_8),
                s.id())) {
            cdrs.incrementAndGet();
        }
    }

    /**
     * The warm-up's copy: the same CDR encoding and spool writes into a scratch folder next to the spool, never sent
     * (see {@link ScratchCdrs}).
     */
    @Override
    public SessionListener scratch() {
        Path dir = spoolDir.resolveSibling(spoolDir.getFileName() + "-warmup-" + Long.toHexString(System.nanoTime()));
        try {
            return new ScratchCdrs(dir, config.node_id());
        } catch (IOException e) {
            LOG.warn("The warm-up writes no CDRs: scratch spool {} not created: {}", dir, e.toString());
            return null;
        }
    }

    private void count(Selection sel, boolean arrival) {
        if (sel == null) {
            return;
        }
        for (String t : sel.tenants()) {
            bump(tenants, t, arrival);
        }
        bump(profiles, sel.profile(), arrival);
    }

    private static void bump(Map<String, Counter> m, String key, boolean arrival) {
        Counter c = m.get(key);
        if (c == null) {
            if (m.size() >= MAX_KEYS) {
                return;
            }
            c = m.computeIfAbsent(key, k -> new Counter());
        }
        if (arrival) {
            c.arrivals.incrementAndGet();
        }
        long now = c.current.incrementAndGet();
        c.peak.accumulateAndGet(now, Math::max);
    }

    // ------------------------------------------------------------------------------------ spool

    private boolean append(byte type, java.util.function.LongFunction<byte[]> payload, String what) {
        try {
            if (spool.append(type, payload)) {
                return true;
            }
            long n = dropped.incrementAndGet();
            if (!spoolFull) {
                spoolFull = true;
                String text = "Billing spool full (" + spool.totalBytes() / 1024 + " KB of spool.max.mb "
                        + config.spool_max_mb() + "): new records are dropped and counted, the oldest kept; broker "
                        + config.broker_url() + " unreachable? First dropped: " + what;
                LOG.error(text);
                raise(new Alarm("billing", "spool-full", true, text, System.currentTimeMillis()));
            } else if (n % 1000 == 0) {
                LOG.error("Billing spool still full: {} records dropped so far", n);
            }
            return false;
        } catch (IOException e) {
            dropped.incrementAndGet();
            LOG.error("Billing record {} could not be written to the spool: {}", what, e.toString());
            return false;
        }
    }

    private void raise(Alarm a) {
        if (alarmListeners.isEmpty()) {
            return;
        }
        timer.execute(() -> {
            for (AlarmListener l : alarmListeners) {
                try {
                    l.alarm(a);
                } catch (RuntimeException e) {
                    LOG.warn("Alarm listener {} failed", l, e);
                }
            }
        });
    }

    private void sync() {
        try {
            if (spool.sync()) {
                sender.wake();
            }
        } catch (IOException e) {
            LOG.error("Billing spool could not be forced to disk", e);
        }
    }

    private void afterDelivery() {
        if (spoolFull && spool.totalBytes() < spool.maxBytes() * 9 / 10) {
            spoolFull = false;
            String text = "Billing spool below 90 % again; " + dropped.get() + " records were dropped while it was full";
            LOG.warn(text);
            raise(new Alarm("billing", "spool-full", false, text, System.currentTimeMillis()));
        }
    }

    void writeStats() {
        try {
            long now = System.currentTimeMillis();
            long from = intervalStart;
            intervalStart = now;
            Map<String, long[]> t = drain(tenants);
            Map<String, long[]> p = drain(profiles);
            if (append(Sender.STATS, seq -> Json.stats(config.node_id(), seq, from, now, t, p).getBytes(StandardCharsets.UTF_8),
                    "statistics")) {
                statsRecords.incrementAndGet();
            }
        } catch (RuntimeException e) {
            LOG.warn("Statistics record failed", e);
        }
    }

    private static Map<String, long[]> drain(Map<String, Counter> m) {
        Map<String, long[]> out = new HashMap<>();
        for (Map.Entry<String, Counter> e : m.entrySet()) {
            Counter c = e.getValue();
            long arrivals = c.arrivals.getAndSet(0);
            long peak = c.peak.getAndSet(c.current.get());
            if (arrivals > 0 || peak > 0) {
                out.put(e.getKey(), new long[] {arrivals, peak});
            }
        }
        return out;
    }

    // ------------------------------------------------------------------------------------ status

    /** Every second: CDRs waiting longer than stall.alarm.s raise delivery-stalled; delivery again clears it. */
    private void watchDelivery() {
        if (pendingRecords() == 0) {
            pendingSince = 0;
        } else if (pendingSince == 0) {
            pendingSince = System.currentTimeMillis();
        }
        long lag = deliveryLagMs();
        if (!stalled && lag > config.stall_alarm_s() * 1000L) {
            stalled = true;
            String text = "CDR delivery to " + config.broker_url() + " stalled: " + pendingRecords()
                    + " records waiting for " + lag / 1000 + " s (" + (sender.lastError == null ? "no error" : sender.lastError) + ")";
            LOG.error(text);
            raise(new Alarm("billing", "delivery-stalled", true, text, System.currentTimeMillis()));
        } else if (stalled && lag <= config.stall_alarm_s() * 1000L) {
            stalled = false;
            String text = "CDR delivery to " + config.broker_url() + " recovered; " + pendingRecords() + " records waiting";
            LOG.warn(text);
            raise(new Alarm("billing", "delivery-stalled", false, text, System.currentTimeMillis()));
        }
    }

    @Override
    public boolean brokerConnected() {
        return sender.connected;
    }

    @Override
    public long spoolBytes() {
        return spool.totalBytes();
    }

    @Override
    public long pendingRecords() {
        return Math.max(0, cdrs.get() + statsRecords.get() - sender.delivered.get());
    }

    @Override
    public long deliveryLagMs() {
        long since = pendingSince;
        if (pendingRecords() == 0 || since == 0) {
            return 0;
        }
        return System.currentTimeMillis() - Math.max(since, sender.lastDeliveredAt);
    }

    @Override
    public long delivered() {
        return sender.delivered.get();
    }

    @Override
    public long dropped() {
        return dropped.get();
    }

    /** What the console and metrics show. */
    public record Status(boolean connected, String lastError, long cdrs, long stats, long delivered, long dropped,
                         long spoolBytes, long spoolMaxBytes, boolean spoolFull, long connectAttempts) { }

    public Status status() {
        return new Status(sender.connected, sender.lastError, cdrs.get(), statsRecords.get(), sender.delivered.get(),
                dropped.get(), spool.totalBytes(), spool.maxBytes(), spoolFull, sender.connectAttempts.get());
    }
}
