package org.openrm.billing.internal;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import jakarta.jms.Connection;
import jakarta.jms.MessageConsumer;
import jakarta.jms.Session;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.junit.jupiter.api.Test;
import org.openrm.api.EndReason;
import org.openrm.api.Selection;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.openrm.api.internal.InMemorySessionStore;
import org.openrm.sip.internal.TestConfigs;

/**
 * CDR throughput: endings offered at a fixed rate straight into billing (no SIP), delivered to a real broker with
 * a persistent KahaDB store, a consumer draining the queue. Run by bench/cdr.sh; skipped in the normal build.
 */
class CdrThroughputBench {

    @Test
    void cdrDeliveryKeepsUp() throws Exception {
        assumeTrue(Boolean.getBoolean("openrm.bench"), "benchmark: run bench/cdr.sh");
        int rate = Integer.getInteger("openrm.bench.rate", 3000);
        int seconds = Integer.getInteger("openrm.bench.seconds", 30);
        try (TestBroker broker = new TestBroker().start()) {
            InMemorySessionStore store = new InMemorySessionStore(new InMemoryResourceLedger(), new InMemoryPolicyLedger());
            BillingService billing = new BillingService(store, TestConfigs.of(BillingService.Config.class,
                    Map.of("broker.url", broker.url(), "spool.dir", Files.createTempDirectory("bench-spool").toString())));
            store.addListener(billing);
            long[] consumed = new long[1];
            Thread consumer = new Thread(() -> {
                try (Connection c = new ActiveMQConnectionFactory(broker.url()).createConnection()) {
                    c.start();
                    Session s = c.createSession(false, Session.DUPS_OK_ACKNOWLEDGE);
                    MessageConsumer mc = s.createConsumer(s.createQueue("openrm.cdr"));
                    while (!Thread.currentThread().isInterrupted()) {
                        if (mc.receive(500) != null) {
                            consumed[0]++;
                        }
                    }
                } catch (Exception e) {
                    // interrupted at the end
                }
            }, "bench-consumer");
            consumer.start();
            Selection sel = new Selection("welcome", "voicexml", List.of("acme-sales", "acme"), List.of(10, 20),
                    List.of(1, 1), List.of("profile:welcome", "tenant:acme-sales", "tenant:acme"), null);
            long start = System.nanoTime();
            long n = 0;
            long maxEndNanos = 0;
            long total = (long) rate * seconds;
            while (n < total) {
                long due = start + n * 1_000_000_000L / rate;
                long now = System.nanoTime();
                if (now < due) {
                    Thread.sleep(0, (int) Math.min(999_999, due - now));
                    continue;
                }
                org.openrm.api.Session s = new org.openrm.api.Session("S-" + n, "call-" + n + "@bench", "tag",
                        "\"sipp\" <sip:sipp@127.0.0.1:5061>;tag=1", "<sip:5551234@127.0.0.1:5060>", "5551234",
                        System.currentTimeMillis() - 1000);
                s.selection(sel);
                store.open(s, "mcp1", "default");
                s.markAnswered(System.currentTimeMillis() - 900);
                long t = System.nanoTime();
                store.end(s, EndReason.CALLER_BYE, 200);
                maxEndNanos = Math.max(maxEndNanos, System.nanoTime() - t);
                n++;
                if (n % rate == 0) {
                    BillingService.Status st = billing.status();
                    System.out.printf("t=%3d s offered %d delivered %d consumed %d spool %d KB%n", n / rate, n,
                            st.delivered(), consumed[0], st.spoolBytes() / 1024);
                }
            }
            double offeredS = (System.nanoTime() - start) / 1e9;
            long drainStart = System.nanoTime();
            while (billing.status().delivered() < total && System.nanoTime() - drainStart < 120_000_000_000L) {
                Thread.sleep(50);
            }
            double lagS = (System.nanoTime() - drainStart) / 1e9;
            BillingService.Status st = billing.status();
            System.out.printf("CDR bench: %d CDRs offered at %d/s in %.1f s; delivered %d, %.2f s after the last one; "
                    + "delivery rate %.0f/s; longest end() on the call path %.2f ms%n", total, rate, offeredS,
                    st.delivered(), lagS, st.delivered() / (offeredS + lagS), maxEndNanos / 1e6);
            consumer.interrupt();
            consumer.join(5000);
            store.removeListener(billing);
            billing.deactivate();
        }
    }
}
