package org.openrm.health.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;

import org.junit.jupiter.api.Test;
import org.openrm.api.ResourceCatalog.Monitor;
import org.openrm.api.ResourceState;
import org.openrm.api.ResourceStatus;

class StateMachineTest {
    private final Monitor m = new Monitor(true, 1000, 300, 2, 2, Set.of());

    @Test
    void failuresTakeItDownThroughSuspectAndAnswersBringItBack() {
        ResourceStatus s = ResourceStatus.fresh(0);
        s = StateMachine.failed(s, m, 10, "OPTIONS timeout", true);
        assertEquals(ResourceState.SUSPECT, s.state());
        assertEquals("OPTIONS timeout", s.lastProbe());
        s = StateMachine.failed(s, m, 20, "OPTIONS timeout", true);
        assertEquals(ResourceState.DOWN, s.state());
        assertEquals(20, s.since());
        s = StateMachine.failed(s, m, 30, "OPTIONS timeout", true);
        assertEquals(20, s.since(), "more failures do not restart the time in state");
        s = StateMachine.answered(s, m, 40, 200, 3);
        assertEquals(ResourceState.DOWN, s.state(), "monitor.up.after=2: one answer is not enough");
        s = StateMachine.answered(s, m, 50, 200, 4);
        assertEquals(ResourceState.IN_SERVICE, s.state());
        assertEquals(4, s.lastLatencyMs());
    }

    @Test
    void oneAnswerClearsSuspicion() {
        ResourceStatus s = StateMachine.failed(ResourceStatus.fresh(0), m, 10, "call failed: no answer", false);
        assertEquals(ResourceState.SUSPECT, s.state());
        assertEquals(null, s.lastProbe(), "a call failure is not a probe result");
        s = StateMachine.answered(s, m, 20, 404, 1);
        assertEquals(ResourceState.IN_SERVICE, s.state());
        assertEquals(0, s.failures());
    }

    @Test
    void retryAfterQuarantinesUntilItsTime() {
        ResourceStatus s = StateMachine.quarantined(ResourceStatus.fresh(0), 100, 3100, "503 Retry-After 3 s", true);
        assertEquals(ResourceState.QUARANTINED, s.state());
        assertEquals(ResourceState.QUARANTINED, StateMachine.answered(s, m, 200, 200, 1).state());
        assertEquals(ResourceState.QUARANTINED, StateMachine.tick(s, m, 3000).state());
        assertEquals(ResourceState.IN_SERVICE, StateMachine.tick(s, m, 3100).state());
        ResourceStatus failing = StateMachine.failed(StateMachine.failed(s, m, 200, "timeout", true), m, 300, "timeout", true);
        assertEquals(ResourceState.QUARANTINED, failing.state());
        assertEquals(ResourceState.DOWN, StateMachine.tick(failing, m, 3200).state(), "failing after its quarantine: down");
    }

    @Test
    void disabledShowsOutOfServiceWhateverTheHealth() {
        ResourceStatus s = ResourceStatus.fresh(0).withDisabled(true, 5, "console");
        assertEquals(ResourceState.OUT_OF_SERVICE, s.state());
        s = StateMachine.failed(StateMachine.failed(s, m, 10, "x", true), m, 20, "x", true);
        assertEquals(ResourceState.OUT_OF_SERVICE, s.state());
        assertEquals(ResourceState.DOWN, s.health());
        assertTrue(s.disabled());
        assertFalse(s.withDisabled(false, 30, "console").disabled());
        assertEquals(ResourceState.DOWN, s.withDisabled(false, 30, "console").state());
    }

    @Test
    void defaultAliveCodes() {
        Monitor d = Monitor.DEFAULT;
        assertTrue(d.alive(200));
        assertTrue(d.alive(404));
        assertTrue(d.alive(486));
        assertFalse(d.alive(408));
        assertFalse(d.alive(500));
        assertFalse(d.alive(503));
        assertTrue(d.alive(603));
        assertTrue(new Monitor(true, 1000, 300, 2, 1, Set.of(503)).alive(503));
        assertFalse(new Monitor(true, 1000, 300, 2, 1, Set.of(200)).alive(404));
    }
}
