package org.openrm.sip.stack;

import org.openrm.sip.internal.TestConfigs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

class CallWarmupTest {

    @Test
    void syntheticCallsCompleteOverUdpAndTcpAndThenTheWarmUpIsDone() throws Exception {
        SipConfig c = TestConfigs.of(SipConfig.class, Map.of());
        CallWarmup w = new CallWarmup(StackRuntime.stackProperties(c), 400);
        assertFalse(w.done());
        Thread t = new Thread(w, "warmup-under-test");
        t.start();
        t.join(60_000);
        assertFalse(t.isAlive(), "the warm-up ends within its budget");
        assertTrue(w.done());
        // every call completes on loopback: INVITE, 180, 200, ACK, BYE, 200 (half of them over TCP)
        assertEquals(400, w.completed(), "synthetic calls completed");
    }

    @Test
    void theProxyStacksTcpPostParsePoolSurvivesTheWarmUpStacks() throws Exception {
        SipConfig c = TestConfigs.of(SipConfig.class, Map.of());
        java.util.Properties p = StackRuntime.stackProperties(c);
        // the proxy's stack: it makes the class loader's one TCP post-parse pool
        gov.nist.javax.sip.SipStackImpl proxy = new gov.nist.javax.sip.SipStackImpl(p);
        try {
            java.util.concurrent.ExecutorService pool = gov.nist.javax.sip.parser.PostParseExecutorServices.getPostParseExecutor();
            assertTrue(pool != null && !pool.isShutdown());
            java.util.concurrent.atomic.AtomicBoolean restored = new java.util.concurrent.atomic.AtomicBoolean();
            CallWarmup w = new CallWarmup(p, 50, () -> {
                restored.set(true);
                gov.nist.javax.sip.parser.PostParseExecutorServices.setPostParseExcutorSize(proxy, c.thread_pool_size(), c.queue_timeout_ms());
            }, null);
            w.run();
            assertEquals(50, w.completed());
            assertFalse(pool.isShutdown() && !restored.get(), "the warm-up's stacks never replace the proxy's pool while they run");
            assertTrue(restored.get(), "the pool is given back after the warm-up's stacks stopped");
            java.util.concurrent.ExecutorService after = gov.nist.javax.sip.parser.PostParseExecutorServices.getPostParseExecutor();
            assertTrue(after != null && !after.isShutdown(), "a TCP post-parse pool runs after the warm-up");
        } finally {
            proxy.stop();
        }
    }

    @Test
    void noCallsMeansDoneAtOnceAndAStoppedWarmUpEnds() throws Exception {
        SipConfig c = TestConfigs.of(SipConfig.class, Map.of());
        assertTrue(new CallWarmup(StackRuntime.stackProperties(c), 0).done());
        CallWarmup w = new CallWarmup(StackRuntime.stackProperties(c), 1_000_000);
        Thread t = new Thread(w, "warmup-stopped");
        t.start();
        Thread.sleep(500);
        w.stop();
        t.join(30_000);
        assertFalse(t.isAlive(), "a stopped warm-up ends");
        assertTrue(w.done() && w.completed() < 1_000_000);
    }
}
