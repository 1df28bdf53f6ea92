package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import javax.sip.ClientTransaction;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.message.Request;

import org.junit.jupiter.api.Test;

import gov.nist.javax.sip.message.MessageFactoryImpl;

/**
 * The stack's one listener across a swap of the proxy logic, without a network: new requests to the current logic
 * (waiting for one while there is none), what a replaced logic started back to it, a replaced logic that fails
 * handing over to the current one, and idle ones retired.
 */
class SwitchboardTest {

    /** A proxy logic that records what it gets and owns the application data it was given. */
    static final class Logic implements ProxyLogic {
        final String name;
        final Object mine = new Object();
        final List<String> got = new CopyOnWriteArrayList<>();
        volatile boolean idle;
        volatile boolean broken;
        volatile boolean retired;
        volatile String cancelBranch = "";

        Logic(String name) {
            this.name = name;
        }

        @Override public void configured(SipConfig c, boolean stackRestarts) { }
        @Override public boolean isKnownPeer(InetAddress a) { return false; }
        @Override public int pendingInvites() { return idle ? 0 : 1; }
        @Override public void byeRelayed(String callId, String fromTag) { }
        @Override public boolean owns(Object applicationData) { return applicationData == mine; }
        @Override public boolean ownsCancel(Request cancel) { return cancel.toString().contains(cancelBranch) && !cancelBranch.isEmpty(); }
        @Override public boolean idle() { return idle; }
        @Override public void retired() { retired = true; }

        private void take(String what) {
            if (broken) {
                throw new NoClassDefFoundError("org/openrm/sip/internal/Gone");
            }
            got.add(what);
        }

        @Override public void processRequest(RequestEvent ev) { take("request " + ev.getRequest().getMethod()); }
        @Override public void processResponse(ResponseEvent ev) { take("response"); }
        @Override public void processTimeout(TimeoutEvent ev) { take("timeout"); }
        @Override public void processIOException(IOExceptionEvent ev) { }
        @Override public void processTransactionTerminated(TransactionTerminatedEvent ev) { take("terminated"); }
        @Override public void processDialogTerminated(DialogTerminatedEvent ev) { }
    }

    private static Request request(String method, String branch) throws Exception {
        return new MessageFactoryImpl().createRequest(method + " sip:mcp@127.0.0.1 SIP/2.0\r\n"
                + "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=" + branch + "\r\n"
                + "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: c@test\r\n"
                + "CSeq: 1 " + method + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    }

    private static ClientTransaction tx(Object applicationData) {
        return (ClientTransaction) Proxy.newProxyInstance(SwitchboardTest.class.getClassLoader(),
                new Class<?>[] {ClientTransaction.class}, (p, m, a) -> m.getName().equals("getApplicationData") ? applicationData : null);
    }

    private static RequestEvent requestEvent(Request r) {
        return new RequestEvent(new Object(), null, null, r);
    }

    private static ResponseEvent responseTo(Object applicationData) {
        return new ResponseEvent(new Object(), tx(applicationData), null, null);
    }

    @Test
    void newRequestsGoToTheCurrentLogicAndWhatTheOldOneStartedGoesBackToIt() throws Exception {
        Switchboard sb = new Switchboard(() -> null, 2000);
        Logic old = new Logic("old");
        sb.attach(old);
        sb.processRequest(requestEvent(request("INVITE", "z9hG4bK-1")));
        assertEquals(List.of("request INVITE"), old.got);

        sb.retire(old, 60_000);
        Logic next = new Logic("next");
        // a request that arrives between the two waits for the next logic instead of being refused
        Thread late = new Thread(() -> {
            try {
                sb.processRequest(requestEvent(request("INVITE", "z9hG4bK-2")));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        late.start();
        Thread.sleep(150);
        sb.attach(next);
        late.join(5000);
        assertEquals(List.of("request INVITE"), next.got, "the request waited for the new logic");
        assertEquals(1, sb.waited.get());

        // the old logic's transactions and CANCELs of its calls go back to it; the rest to the new one
        sb.processResponse(responseTo(old.mine));
        sb.processResponse(responseTo(next.mine));
        sb.processResponse(responseTo("someone else's"));
        old.cancelBranch = "z9hG4bK-1";
        sb.processRequest(requestEvent(request("CANCEL", "z9hG4bK-1")));
        sb.processRequest(requestEvent(request("CANCEL", "z9hG4bK-9")));
        assertEquals(List.of("request INVITE", "response", "request CANCEL"), old.got);
        assertEquals(List.of("request INVITE", "response", "response", "request CANCEL"), next.got);
        assertEquals(2, sb.toRetiring.get());
        assertEquals(2, sb.pendingInvites(), "the guard's bound counts both logics' INVITEs");

        // an idle replaced logic retires; the stack asks the one it replaced about peers no more than the last
        sb.reap();
        assertTrue(!old.retired);
        old.idle = true;
        sb.reap();
        assertTrue(old.retired);
        sb.processResponse(responseTo(old.mine));
        assertEquals("response", next.got.get(next.got.size() - 1), "after it retired, the current logic gets it");
        assertSame(old, sb.previous());
    }

    @Test
    void aReplacedLogicThatCannotFinishHandsOverToTheCurrentOne() throws Exception {
        Switchboard sb = new Switchboard(() -> null, 2000);
        Logic old = new Logic("old");
        sb.attach(old);
        sb.retire(old, 60_000);
        Logic next = new Logic("next");
        sb.attach(next);
        old.broken = true; // its revision's class loader is gone
        sb.processResponse(responseTo(old.mine));
        assertTrue(old.retired, "it retired at once");
        assertEquals(List.of("response"), next.got, "the current logic got what the broken one could not take");
        assertEquals(0, sb.retiringCount());
    }

    @Test
    void withNoLogicAtAllARequestIsRefusedAfterTheWaitAndCounted() throws Exception {
        Switchboard sb = new Switchboard(() -> null, 100);
        long t0 = System.nanoTime();
        sb.processRequest(requestEvent(request("INVITE", "z9hG4bK-3")));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms >= 90, "it waited proxy.wait.ms first: " + ms + " ms");
        assertEquals(1, sb.unserved.get());
        assertNull(sb.current());
    }

    @Test
    void aLogicOutOfTimeRetiresAndTheOldestGoesWhenTooManyRetire() throws Exception {
        Switchboard sb = new Switchboard(() -> null, 2000);
        Logic slow = new Logic("slow");
        sb.attach(slow);
        sb.retire(slow, 50);
        Thread.sleep(100);
        sb.reap();
        assertTrue(slow.retired, "proxy.retire.ms reached");
        Logic[] many = new Logic[Switchboard.MAX_RETIRING + 1];
        for (int i = 0; i < many.length; i++) {
            many[i] = new Logic("l" + i);
            sb.attach(many[i]);
            sb.retire(many[i], 60_000);
        }
        assertTrue(many[0].retired, "the oldest retired to keep the bound");
        assertEquals(Switchboard.MAX_RETIRING, sb.retiringCount());
        sb.reapAll();
        assertEquals(0, sb.retiringCount());
    }
}
