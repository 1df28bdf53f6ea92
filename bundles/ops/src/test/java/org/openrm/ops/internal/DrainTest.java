package org.openrm.ops.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;
import org.openrm.sip.internal.ProxyUnderTest;
import org.openrm.sip.internal.Sipp;

/** rm:drain under sipp load: admitted calls end normally, new calls and OPTIONS get 503 with Retry-After, readiness 503. */
class DrainTest {

    /** Sends {@code request} from a fresh UDP socket and returns the first final response's status line and headers. */
    static String finalResponse(int port, String method, String callId) throws Exception {
        try (DatagramSocket ua = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            ua.setSoTimeout(3000);
            String sdp = method.equals("INVITE") ? "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n" : "";
            String m = method + " sip:5551234@127.0.0.1:" + port + " SIP/2.0\r\n"
                    + "Via: SIP/2.0/UDP 127.0.0.1:" + ua.getLocalPort() + ";branch=z9hG4bK-" + callId + "\r\n"
                    + "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:5551234@127.0.0.1:" + port + ">\r\nCall-ID: " + callId + "\r\n"
                    + "CSeq: 1 " + method + "\r\nMax-Forwards: 70\r\nContact: <sip:t@127.0.0.1:" + ua.getLocalPort() + ">\r\n"
                    + (sdp.isEmpty() ? "" : "Content-Type: application/sdp\r\n") + "Content-Length: " + sdp.length() + "\r\n\r\n" + sdp;
            byte[] b = m.getBytes(StandardCharsets.US_ASCII);
            ua.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), port));
            byte[] buf = new byte[8192];
            for (int i = 0; i < 5; i++) {
                DatagramPacket in = new DatagramPacket(buf, buf.length);
                ua.receive(in);
                String r = new String(in.getData(), 0, in.getLength(), StandardCharsets.US_ASCII);
                if (!r.startsWith("SIP/2.0 1")) {
                    return r;
                }
            }
            throw new AssertionError("no final response to " + method);
        }
    }

    @Test
    void drainUnderLoadLetsAdmittedCallsEndAndRefusesNewOnes() throws Exception {
        int p = Sipp.freePort(), mcp = Sipp.freePort(), uacPort = Sipp.freePort();
        Map<String, Map<String, Object>> model = new HashMap<>();
        model.put("org.openrm.lrg~default", Map.of("max.attempts", 2));
        model.put("org.openrm.resource~mcp", Map.of("uri", "sip:127.0.0.1:" + mcp, "capacity", 200));
        HttpClient http = HttpClient.newHttpClient();
        try (ProxyUnderTest rm = new ProxyUnderTest(p, model, Map.of("warmup.messages", 0));
             Sipp ms = Sipp.uas("drain-mcp", "uas.xml", mcp, "u1")) {
            OpsService ops = OpsUnderTest.start(rm, Map.of("drain.retry.after.s", 30));
            try {
                Sipp.awaitBound(mcp);
                assertTrue(finalResponse(p, "OPTIONS", "drain-o1").startsWith("SIP/2.0 200"));
                // 40 calls of 3 s, all placed within 2 s; the drain starts once they are all in progress
                try (Sipp uac = Sipp.uac("drain-uac", uacPort, p, "u1", 40, 20, 3000)) {
                    long end = System.currentTimeMillis() + 10_000;
                    while (rm.store.size() < 40 && System.currentTimeMillis() < end) {
                        Thread.sleep(20);
                    }
                    assertEquals(40, rm.store.size(), "all 40 calls in progress");
                    CompletableFuture<OpsService.DrainResult> drained = CompletableFuture.supplyAsync(
                            () -> ops.drain(30, line -> System.out.println("drain: " + line), "test"));
                    end = System.currentTimeMillis() + 5000;
                    while (!ops.draining() && System.currentTimeMillis() < end) {
                        Thread.sleep(10);
                    }
                    String invite = finalResponse(p, "INVITE", "drain-new-1");
                    assertTrue(invite.startsWith("SIP/2.0 503") && invite.contains("Retry-After: 30"), invite);
                    String options = finalResponse(p, "OPTIONS", "drain-o2");
                    assertTrue(options.startsWith("SIP/2.0 503") && options.contains("Retry-After: 30"), options);
                    HttpResponse<String> ready = http.send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + ops.healthPort() + "/health/ready")).build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(503, ready.statusCode());
                    assertTrue(ready.body().contains("\"draining\""), ready.body());
                    OpsService.DrainResult r = drained.get();
                    assertEquals(0, r.callsLeft(), "every admitted call ended before the drain returned");
                    assertTrue(r.tookMs() < 30_000, "within the timeout: " + r.tookMs());
                    System.out.printf("drained 40 calls of 3 s in %d ms%n", r.tookMs());
                    assertEquals(0, uac.await(30), "no admitted call failed: " + uac.errors());
                }
                rm.awaitIdle();
                assertEquals(1, rm.proxy.stats.drainRejects.get());
                ops.undrain("test");
                assertTrue(finalResponse(p, "OPTIONS", "drain-o3").startsWith("SIP/2.0 200"));
            } finally {
                ops.deactivate();
            }
        }
    }
}
