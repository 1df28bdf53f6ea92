package org.openrm.sip.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

class CallWarmupTest {

    @Test
    void syntheticCallsCompleteOverUdpAndTcpAndThenTheWarmUpIsDone() throws Exception {
        SipProxy.Config c = TestConfigs.of(SipProxy.Config.class, Map.of());
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
    void noCallsMeansDoneAtOnceAndAStoppedWarmUpEnds() throws Exception {
        SipProxy.Config c = TestConfigs.of(SipProxy.Config.class, Map.of());
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
