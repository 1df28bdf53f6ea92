package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * A seeded mutator of SIP messages: valid requests and the torture corpus, with bytes flipped, lines deleted,
 * duplicated or swapped, separators and huge numbers inserted, messages cut short. Thousands of them go through the
 * parser's screen and over the wire to a running openrm; nothing may throw, leak a session or a port, or stop it
 * answering. The seed is fixed (override with -Dopenrm.fuzz.seed) so a failure can be replayed.
 */
class FuzzTest {
    static final long SEED = Long.getLong("openrm.fuzz.seed", 20261127L);
    static final String[] INSERTS = {";", ":", "<", ">", "\"", "\r\n", " ", "\t", "%00", "99999999999999999999", "\u00ff",
        "SIP/2.0", "\r\nContent-Length: -1", "\r\nVia: SIP/2.0/UDP 127.0.0.1", "\r\n\r\n", ",", "@", "[", "]", "sip:", "\r\n ",
        "\r\nCSeq: 1 INVITE", "\r\nRoute: <sip:10.255.255.1;lr>", "\r\nMax-Forwards: 0", "=", "?", "\\"};

    static List<byte[]> seeds(int port) throws IOException {
        List<byte[]> out = new ArrayList<>();
        for (String m : List.of("INVITE", "OPTIONS", "REGISTER", "BYE", "CANCEL", "ACK", "INFO")) {
            String extra = m.equals("BYE") || m.equals("INFO") ? "Route: <sip:127.0.0.1:" + port + ";lr>\n" : "";
            out.add(RawSip.request(m, "sip:5551234@127.0.0.1:" + port, 5999, 70, extra).replace("\n", "\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
        }
        try (var files = Files.list(TortureTest.DIR.resolve("rfc4475"))) {
            for (Path f : files.filter(x -> x.toString().endsWith(".sip")).sorted().toList()) {
                out.add(Files.readAllBytes(f));
            }
        }
        return out;
    }

    static byte[] mutate(byte[] in, Random r) {
        byte[] b = in;
        int rounds = 1 + r.nextInt(4);
        for (int k = 0; k < rounds && b.length > 0; k++) {
            switch (r.nextInt(7)) {
                case 0 -> { // flip a byte
                    b = b.clone();
                    b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                }
                case 1 -> { // delete a range
                    int from = r.nextInt(b.length);
                    int to = Math.min(b.length, from + 1 + r.nextInt(40));
                    b = concat(Arrays.copyOfRange(b, 0, from), Arrays.copyOfRange(b, to, b.length));
                }
                case 2 -> { // insert a troublemaker
                    int at = r.nextInt(b.length + 1);
                    byte[] ins = INSERTS[r.nextInt(INSERTS.length)].getBytes(StandardCharsets.ISO_8859_1);
                    b = concat(concat(Arrays.copyOfRange(b, 0, at), ins), Arrays.copyOfRange(b, at, b.length));
                }
                case 3 -> b = Arrays.copyOf(b, r.nextInt(b.length)); // cut short
                case 4, 5 -> { // duplicate or swap lines
                    List<String> lines = new ArrayList<>(List.of(new String(b, StandardCharsets.ISO_8859_1).split("\r\n", -1)));
                    if (lines.size() > 2) {
                        int i = 1 + r.nextInt(lines.size() - 1);
                        int j = 1 + r.nextInt(lines.size() - 1);
                        if (r.nextBoolean()) {
                            lines.add(i, lines.get(j));
                        } else {
                            String t = lines.get(i);
                            lines.set(i, lines.get(j));
                            lines.set(j, t);
                        }
                    }
                    b = String.join("\r\n", lines).getBytes(StandardCharsets.ISO_8859_1);
                }
                default -> { // a number grown huge
                    String s = new String(b, StandardCharsets.ISO_8859_1).replaceFirst("(\\d+)", "$1" + "9".repeat(1 + r.nextInt(25)));
                    b = s.getBytes(StandardCharsets.ISO_8859_1);
                }
            }
        }
        return b;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void theScreenNeverThrows() throws IOException {
        Random r = new Random(SEED);
        List<byte[]> seeds = seeds(5060);
        int refused = 0;
        for (int i = 0; i < 50_000; i++) {
            byte[] m = mutate(seeds.get(r.nextInt(seeds.size())), r);
            RawScreen.Refusal x = RawScreen.check(m, 0, m.length, 16384);
            if (x != null) {
                refused++;
                RawScreen.response(m, 0, m.length, x);
            }
        }
        System.out.printf("fuzz (seed %d): 50,000 mutated messages screened, %d refused before parsing%n", SEED, refused);
        assertTrue(refused > 0);
    }

    @Test
    void openrmSurvivesThousandsOfMutatedMessages() throws Exception {
        int p = Sipp.freePort();
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of());
        c.put("org.openrm.resource~mcp", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + Sipp.freePort()));
        int udpCount = Integer.getInteger("openrm.fuzz.udp", 5000);
        int tcpCount = Integer.getInteger("openrm.fuzz.tcp", 500);
        Random r = new Random(SEED);
        try (ProxyUnderTest rm = new ProxyUnderTest(p, c, Map.of("warmup.messages", 0, "invite.timeout.ms", 200,
                "failure.quarantine.ms", 0));
             DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            int threadsBefore = Thread.activeCount();
            List<byte[]> seeds = seeds(p);
            long start = System.nanoTime();
            for (int i = 0; i < udpCount; i++) {
                byte[] m = mutate(seeds.get(r.nextInt(seeds.size())), r);
                s.send(new DatagramPacket(m, m.length, InetAddress.getLoopbackAddress(), p));
                if (i % 50 == 49) {
                    Thread.sleep(20); // about 2,500 messages a second
                }
            }
            for (int i = 0; i < tcpCount; i++) {
                byte[] m = mutate(seeds.get(r.nextInt(seeds.size())), r);
                try (Socket t = new Socket(InetAddress.getLoopbackAddress(), p)) {
                    t.setSoTimeout(100);
                    t.getOutputStream().write(m);
                    try {
                        t.getInputStream().read(new byte[4096]);
                    } catch (IOException quietOrClosed) {
                        // whatever openrm did with it
                    }
                }
            }
            long ms = (System.nanoTime() - start) / 1_000_000;
            // still serving, over both transports
            try (RawSip ua = new RawSip()) {
                ua.send(RawSip.request("OPTIONS", "sip:127.0.0.1:" + p, ua.port(), 70, ""), p);
                ua.expect("200");
            }
            try (Socket t = new Socket(InetAddress.getLoopbackAddress(), p)) {
                t.getOutputStream().write(EdgeLimitsTest.options(p, "").getBytes(StandardCharsets.ISO_8859_1));
                String answer = EdgeLimitsTest.readOrClosed(t, 3000);
                assertTrue(answer != null && answer.startsWith("SIP/2.0 200"), "TCP still served: " + answer);
            }
            rm.awaitIdle();
            System.out.printf("fuzz (seed %d): %d UDP and %d TCP mutated messages in %d ms; edge refused: malformed %d, "
                    + "screened %d, scheme %d, version %d, mismatch %d; handler errors %d; threads %d -> %d%n", SEED,
                    udpCount, tcpCount, ms, rm.proxy.stack().edge().stats.malformed.get(), rm.proxy.stack().tcp().stats.screened.get(),
                    rm.proxy.stack().edge().stats.unsupportedScheme.get(), rm.proxy.stack().edge().stats.badVersion.get(),
                    rm.proxy.stack().edge().stats.methodMismatch.get(), rm.proxy.stats.requestErrors.get(), threadsBefore,
                    Thread.activeCount());
            assertEquals(0, rm.proxy.stats.requestErrors.get(), "a request made openrm's own handling throw");
            long end = System.currentTimeMillis() + 5000;
            while (rm.proxy.stack().tcp().open() > 0 && System.currentTimeMillis() < end) {
                Thread.sleep(50);
            }
            assertEquals(0, rm.proxy.stack().tcp().open(), "TCP connections left open");
            assertTrue(Thread.activeCount() <= threadsBefore + 20, "threads " + threadsBefore + " -> " + Thread.activeCount());
        }
    }
}
