package org.openrm.billing.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.openrm.api.EndReason;
import org.openrm.api.Session;
import org.openrm.api.SessionListener;
import org.openrm.api.internal.InMemoryPolicyLedger;
import org.openrm.api.internal.InMemoryResourceLedger;
import org.openrm.api.internal.InMemorySessionStore;
import org.openrm.sip.internal.TestConfigs;

/** Billing's copy for the warm-up: the CDR encoding and spool writes run, into a scratch folder that goes away. */
class ScratchCdrsTest {

    @Test
    void warmUpCdrsAreWrittenToAScratchSpoolNeverToTheRealOne() throws Exception {
        Path root = Files.createTempDirectory("openrm-billing");
        Path spool = root.resolve("billing-spool");
        Path leftover = Files.createDirectories(root.resolve("billing-spool-warmup-dead"));
        Files.writeString(leftover.resolve("seg-0000000000000000.spool"), "synthetic");
        InMemorySessionStore store = new InMemorySessionStore(new InMemoryResourceLedger(), new InMemoryPolicyLedger());
        BillingService billing = new BillingService(store, TestConfigs.of(BillingService.Config.class, Map.of(
                "broker.url", "tcp://127.0.0.1:1?connectionTimeout=200", "spool.dir", spool.toString(), "retry.max.s", 1)));
        try {
            assertFalse(Files.exists(leftover), "a killed process's scratch spool is removed at activation");
            store.addListener(billing);
            org.openrm.api.SessionStore.Scratch sc = store.scratch();
            Path scratchDir;
            try (Stream<Path> s = Files.list(root)) {
                List<Path> dirs = s.filter(p -> p.getFileName().toString().startsWith("billing-spool-warmup-")).toList();
                assertEquals(1, dirs.size(), dirs.toString());
                scratchDir = dirs.get(0);
            }
            for (int i = 0; i < 200; i++) {
                Session s = new Session("warm-" + i, "call-" + i, "tag", "sip:warmup@127.100.0.1", "sip:warm@127.0.0.1",
                        "warm", System.currentTimeMillis());
                assertTrue(sc.store().open(s, null, null));
                sc.store().end(s, EndReason.CALLER_BYE, 200);
            }
            long bytes;
            try (Stream<Path> s = Files.list(scratchDir)) {
                bytes = s.mapToLong(p -> p.toFile().length()).sum();
            }
            assertTrue(bytes > 200 * 100, "200 CDRs encoded and written: " + bytes + " bytes");
            assertEquals(0, billing.cdrs.get(), "none of them is the node's");
            sc.close();
            assertFalse(Files.exists(scratchDir), "the scratch spool is removed when the warm-up ends");
            Session real = new Session("real", "call-real", "tag", "sip:a@x", "sip:b@y", "1", System.currentTimeMillis());
            assertTrue(store.open(real, null, null));
            store.end(real, EndReason.CALLER_BYE, 200);
            assertEquals(1, billing.cdrs.get(), "the node's own calls are billed as before");
        } finally {
            store.removeListener(billing);
            billing.deactivate();
        }
    }

    @Test
    void scratchCopyIsAPlainListenerNotTheDurableOne() throws Exception {
        Path root = Files.createTempDirectory("openrm-billing");
        InMemorySessionStore store = new InMemorySessionStore(new InMemoryResourceLedger(), new InMemoryPolicyLedger());
        BillingService billing = new BillingService(store, TestConfigs.of(BillingService.Config.class, Map.of(
                "broker.url", "tcp://127.0.0.1:1?connectionTimeout=200", "spool.dir", root.resolve("s").toString())));
        try {
            SessionListener copy = billing.scratch();
            assertFalse(copy instanceof org.openrm.api.DurableSessionListener,
                    "a warm-up's endings are never held for billing across an update");
            ((AutoCloseable) copy).close();
        } finally {
            billing.deactivate();
        }
    }
}
