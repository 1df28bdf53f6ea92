package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

/**
 * RFC 4475 and RFC 5118 torture messages replayed byte for byte over UDP and over TCP to a running openrm, each
 * against the verdict openrm owes it. The verdicts are those of ../shared/testdata/sip-torture (forward, or the
 * named response), read through openrm's documented policy (README, "The SIP edge"): openrm is the destination of
 * the SIP Server's requests, not an open relay, so it answers OPTIONS itself (200), is the registrar for
 * REGISTER (a Contact that is not the registering address gets 403), answers other new standalone requests as a
 * UAS (405 known method, 501 unknown), forwards a new INVITE to a media server, and relays in-dialog requests
 * only along a route set it record-routed (404 otherwise).
 */
class TortureTest {
    static final Path DIR = Path.of(System.getProperty("openrm.torture.dir", "src/test/resources/sip-torture")).toAbsolutePath();

    /** What openrm must do: forward an INVITE to the media server, answer with one of the codes, or stay silent. */
    record Verdict(boolean invite, Set<Integer> codes, boolean silent, String why) {
        static Verdict answerOrDrop(String why, Integer... codes) {
            return new Verdict(false, Set.of(codes), true, why);
        }

        static Verdict forward(String why) {
            return new Verdict(true, Set.of(), false, why);
        }

        static Verdict answer(String why, Integer... codes) {
            return new Verdict(false, Set.of(codes), false, why);
        }

        static Verdict drop(String why) {
            return new Verdict(false, Set.of(), true, why);
        }
    }

    static final Map<String, Verdict> UDP = new TreeMap<>();
    static {
        UDP.put("wsinv", Verdict.answer("re-INVITE routed to a stranger's host name (no DNS, no open relay)", 404));
        UDP.put("intmeth", Verdict.answer("unknown method, openrm as UAS (tsv: 405/501 acceptable)", 501));
        UDP.put("esc01", Verdict.forward("new INVITE"));
        UDP.put("escnull", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("esc02", Verdict.answer("unknown method RE%47IST%45R", 501));
        UDP.put("lwsdisp", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("longreq", Verdict.forward("new INVITE, 3,515 bytes"));
        UDP.put("dblreq", Verdict.answer("REGISTER only; the trailing INVITE octets are noise", 403));
        UDP.put("semiuri", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("transports", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("mpart01", Verdict.answer("standalone MESSAGE: openrm as UAS", 405));
        UDP.put("unreason", Verdict.drop("response matching no transaction"));
        UDP.put("noreason", Verdict.drop("response matching no transaction"));
        UDP.put("badinv01", Verdict.answer("extra separators", 400));
        UDP.put("clerr", Verdict.answer("Content-Length larger than the datagram", 400));
        UDP.put("ncl", Verdict.answer("negative Content-Length", 400));
        UDP.put("scalar02", Verdict.answer("overlarge CSeq", 400));
        UDP.put("scalarlg", Verdict.drop("response with overlarge values"));
        UDP.put("quotbal", Verdict.answer("unterminated quoted string", 400));
        UDP.put("ltgtruri", Verdict.answer("<> around the Request-URI", 400));
        UDP.put("lwsruri", Verdict.answer("LWS in the Request-URI", 400));
        UDP.put("lwsstart", Verdict.forward("multiple SP in the request line: forwarded normalised (tsv: acceptable)"));
        UDP.put("trws", Verdict.answer("SP at the end of the request line (tsv: forward normalised acceptable: openrm "
                + "answers OPTIONS itself)", 400, 200));
        UDP.put("escruri", Verdict.answer("escaped headers in the Request-URI", 400));
        UDP.put("baddate", Verdict.forward("new INVITE, Date ignored"));
        UDP.put("regbadct", Verdict.answer("Contact URI with headers", 400));
        UDP.put("badaspec", Verdict.answer("spaces in addr-spec", 400));
        UDP.put("baddn", Verdict.answer("non-token display name", 400));
        UDP.put("badvers", Verdict.answer("SIP/7.0", 505));
        UDP.put("mismatch01", Verdict.answer("CSeq method mismatch", 400));
        UDP.put("mismatch02", Verdict.answer("unknown method and CSeq mismatch (tsv: 400 acceptable)", 501, 400));
        UDP.put("bigcode", Verdict.drop("overlarge status code"));
        UDP.put("badbranch", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("insuf", Verdict.answer("missing required headers", 400));
        UDP.put("unkscm", Verdict.answer("unknown Request-URI scheme", 416));
        UDP.put("novelsc", Verdict.answer("atypical Request-URI scheme", 416));
        UDP.put("unksm2", Verdict.answer("registrar: Contact is not a SIP URI (tsv: registrar would 400)", 400));
        UDP.put("bext01", Verdict.answer("Proxy-Require", 420));
        UDP.put("invut", Verdict.forward("new INVITE, unknown body type"));
        UDP.put("regaut01", Verdict.answer("registrar: a query (no Contact) lists the bindings; Authorization ignored", 200));
        UDP.put("multi01", Verdict.answer("multiple single-value headers", 400));
        UDP.put("mcl01", Verdict.answer("multiple Content-Length", 400));
        UDP.put("bcast", Verdict.drop("response, broadcast Via"));
        UDP.put("zeromf", Verdict.answer("Max-Forwards 0", 483));
        UDP.put("cparam01", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("cparam02", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("regescrt", Verdict.answer("registrar: escaped headers in the Contact URI are legal; Contact not the registering address", 403));
        UDP.put("sdp01", Verdict.forward("new INVITE, odd Accept"));
        UDP.put("inv2543", Verdict.answer("RFC 2543 INVITE without Contact: 400 (tsv: acceptable as documented policy)", 400));
        UDP.put("test", Verdict.answerOrDrop("not SIP (tsv: discard acceptable)", 400));
        // RFC 5118 (wire-fixed)
        UDP.put("6:ipv4-mapped-ipv6", Verdict.forward("new INVITE"));
        UDP.put("6:ipv6-bad", Verdict.answer("IPv6 literal without []", 400));
        UDP.put("6:ipv6-bug-abnf-3-colons", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("6:ipv6-correct-abnf-2-colons", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("6:ipv6-good", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("6:ipv6-in-sdp", Verdict.forward("new INVITE"));
        UDP.put("6:mult-ip-in-header", Verdict.answer("BYE not routed through openrm", 404));
        UDP.put("6:mult-ip-in-sdp", Verdict.forward("new INVITE"));
        UDP.put("6:port-ambiguous", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("6:port-unambiguous", Verdict.answer("registrar: Contact not the registering address", 403));
        UDP.put("6:via-received-param-no-delim", Verdict.answer("OPTIONS answered by openrm", 200));
        UDP.put("6:via-received-param-with-delim", Verdict.answer("BYE not routed through openrm", 404));
    }

    /** Over TCP the framing is the stream's: what differs from UDP. */
    static final Map<String, Verdict> TCP_DIFFERENT = new HashMap<>(Map.of(
            "clerr", Verdict.drop("Content-Length beyond the bytes sent: waits, then closes the connection"),
            "inv2543", Verdict.answerOrDrop("no Content-Length on a stream: 400 or the connection is closed", 400),
            "dblreq", Verdict.answer("REGISTER, then the INVITE after it is a second message on the stream", 403)));
    static {
        // a request that cannot be read is answered 400 from its bytes, then the connection is closed: after a
        // parse error on a stream its framing cannot be trusted, but the peer learns why
        for (String n : List.of("badinv01", "ltgtruri", "lwsruri", "ncl", "quotbal", "scalar02", "mcl01")) {
            TCP_DIFFERENT.put(n, Verdict.answer("malformed on a stream: 400 from its bytes, then the connection closed", 400));
        }
    }

    /** The stack takes two seconds to stop (one of them a fixed sleep): instances are closed in the background. */
    private final java.util.concurrent.ExecutorService closer = java.util.concurrent.Executors.newFixedThreadPool(8);

    @org.junit.jupiter.api.AfterEach
    void closeAll() throws InterruptedException {
        closer.shutdown();
        closer.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS);
    }

    static Path file(String name) {
        if (name.startsWith("6:")) {
            return DIR.resolve("rfc5118/wire-fixed/" + name.substring(2) + ".sip");
        }
        return DIR.resolve("rfc4475/" + name + ".sip");
    }

    static String callId(byte[] msg) {
        String s = new String(msg, StandardCharsets.ISO_8859_1);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?mi)^(?:Call-ID|i)\\s*:\\s*(\\S+)").matcher(s);
        return m.find() ? m.group(1) : "";
    }

    static int code(String response) {
        if (!response.startsWith("SIP/2.0 ")) {
            return -1;
        }
        return Integer.parseInt(response.substring(8, 11));
    }

    /** What a media server at the sink port received: messages by Call-ID. */
    static final class Sink implements AutoCloseable {
        final DatagramSocket socket;
        final List<String> received = new java.util.concurrent.CopyOnWriteArrayList<>();
        final Thread reader;

        Sink(int port) throws IOException {
            socket = new DatagramSocket(port, InetAddress.getLoopbackAddress());
            reader = new Thread(() -> {
                byte[] buf = new byte[65535];
                while (!socket.isClosed()) {
                    try {
                        DatagramPacket p = new DatagramPacket(buf, buf.length);
                        socket.receive(p);
                        received.add(new String(p.getData(), 0, p.getLength(), StandardCharsets.ISO_8859_1));
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "torture-sink");
            reader.setDaemon(true);
            reader.start();
        }

        /** Messages received since index {@code from}. */
        List<String> since(int from) {
            return received.subList(Math.min(from, received.size()), received.size());
        }

        boolean gotInvite(int from, String callId) {
            return since(from).stream().anyMatch(m -> m.startsWith("INVITE ") && m.contains(callId));
        }

        boolean gotAnything(int from, String callId) {
            return since(from).stream().anyMatch(m -> callId.isEmpty() || m.contains(callId));
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    static ProxyUnderTest openrm(int port, int sink) throws Exception {
        Map<String, Map<String, Object>> c = new HashMap<>();
        c.put("org.openrm.lrg~default", Map.of());
        c.put("org.openrm.resource~sink", Map.of("lrg", "default", "uri", "sip:127.0.0.1:" + sink));
        // the sink never answers: a call fails after 300 ms, and the sink is not quarantined for it
        return new ProxyUnderTest(port, c, Map.of("invite.timeout.ms", 300, "warmup.messages", 0, "failure.quarantine.ms", 0));
    }

    /** Checks one outcome; returns a problem or null. */
    static String judge(String name, Verdict v, List<String> responses, Sink sink, int sinkFrom, String callId, boolean closed) {
        List<Integer> finals = new ArrayList<>();
        for (String r : responses) {
            if (!callId.isEmpty() && !r.contains(callId)) {
                continue; // a late answer to an earlier message
            }
            int c = code(r);
            if (c >= 200 || c < 100) {
                finals.add(c);
            }
        }
        if (v.invite()) {
            return sink.gotInvite(sinkFrom, callId) ? null : "INVITE not forwarded to the media server; responses " + finals
                    + " of " + responses.size() + " for " + callId;
        }
        if (sink.gotAnything(sinkFrom, callId)) {
            return "reached the media server: " + v.why();
        }
        if (v.silent() && finals.isEmpty()) {
            return null;
        }
        if (v.silent() && v.codes().isEmpty()) {
            return "answered " + finals + " but must stay silent";
        }
        if (finals.size() != 1 || !v.codes().contains(finals.get(0))) {
            return "answered " + finals + (closed ? " (connection closed)" : "") + ", owed " + v.codes() + " (" + v.why() + ")";
        }
        return null;
    }

    /** What one message got back: the bytes sent, the responses, whether the connection was closed. */
    record Outcome(byte[] msg, List<String> responses, boolean closed) { }

    /** Sends one corpus message to openrm on a port and collects what came back. */
    interface Exchange {
        Outcome send(String name, int port) throws Exception;
    }

    /**
     * Sends every corpus message to a fresh openrm (the corpus reuses Via branches, which a running stack rightly
     * takes for retransmissions of the previous message) and judges the outcome; returns the problems by name.
     */
    private Map<String, String> runCorpus(Sink sink, int sinkPort, Map<String, Verdict> different, Exchange exchange)
            throws Exception {
        Map<String, String> problems = new TreeMap<>();
        for (Map.Entry<String, Verdict> e : UDP.entrySet()) {
            int p = Sipp.freePort();
            int sinkFrom = sink.received.size();
            ProxyUnderTest rm = openrm(p, sinkPort);
            try (AutoCloseable later = () -> closer.submit(rm::close)) {
                Outcome o = exchange.send(e.getKey(), p);
                Verdict v = different.getOrDefault(e.getKey(), e.getValue());
                String problem = judge(e.getKey(), v, o.responses(), sink, sinkFrom, callId(o.msg()), o.closed());
                if (problem != null) {
                    problems.put(e.getKey(), problem);
                }
                rm.awaitIdle();
            }
        }
        return problems;
    }

    private static String report(Map<String, String> problems) {
        return String.join("\n", problems.entrySet().stream().map(x -> x.getKey() + ": " + x.getValue()).toList());
    }

    /** One datagram; answers until 300 ms of quiet (the first may take up to 500 ms). */
    private static Outcome overUdp(String name, int port) throws IOException {
        byte[] msg = Files.readAllBytes(file(name));
        List<String> responses = new ArrayList<>();
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            s.send(new DatagramPacket(msg, msg.length, InetAddress.getLoopbackAddress(), port));
            long t0 = System.nanoTime();
            s.setSoTimeout(500);
            byte[] buf = new byte[65535];
            try {
                for (int i = 0; i < 10; i++) {
                    DatagramPacket d = new DatagramPacket(buf, buf.length);
                    s.receive(d);
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    if (i == 0 && ms > 100) {
                        System.out.println("TORTURE slow first answer to " + name + ": " + ms + " ms");
                    }
                    responses.add(new String(d.getData(), 0, d.getLength(), StandardCharsets.ISO_8859_1));
                    s.setSoTimeout(300);
                }
            } catch (SocketTimeoutException done) {
                // quiet
            }
        }
        return new Outcome(msg, responses, false);
    }

    /** One connection; reads until 400 ms of quiet or the connection is closed. */
    private static Outcome overTcp(String name, int port) throws IOException {
        Path f = name.equals("baddn") ? DIR.resolve("rfc4475/variants/baddn.with-terminating-crlf.sip") : file(name);
        byte[] msg = Files.readAllBytes(f);
        List<String> responses = new ArrayList<>();
        boolean closed = false;
        try (Socket t = new Socket(InetAddress.getLoopbackAddress(), port)) {
            t.setSoTimeout(400);
            t.getOutputStream().write(msg);
            t.getOutputStream().flush();
            InputStream in = t.getInputStream();
            StringBuilder got = new StringBuilder();
            byte[] buf = new byte[65535];
            try {
                for (int i = 0; i < 20; i++) {
                    int n = in.read(buf);
                    if (n < 0) {
                        closed = true;
                        break;
                    }
                    got.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                }
            } catch (SocketTimeoutException done) {
                // quiet
            } catch (IOException reset) {
                closed = true;
            }
            for (String r : got.toString().split("(?=SIP/2\\.0 \\d{3})")) {
                if (!r.isBlank()) {
                    responses.add(r);
                }
            }
        }
        return new Outcome(msg, responses, closed);
    }

    @Test
    void everyTortureMessageOverUdp() throws Exception {
        int sinkPort = Sipp.freePort();
        int threadsBefore = Thread.activeCount();
        try (Sink sink = new Sink(sinkPort)) {
            Map<String, String> problems = runCorpus(sink, sinkPort, Map.of(), TortureTest::overUdp);
            assertTrue(problems.isEmpty(), "UDP verdicts not met:\n" + report(problems));
            closer.shutdown();
            assertTrue(closer.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS));
            // every stack stopped: its threads end (bounded wait)
            long until = System.currentTimeMillis() + 5000;
            while (Thread.activeCount() > threadsBefore + 20 && System.currentTimeMillis() < until) {
                Thread.sleep(50);
            }
            Map<String, Integer> names = new TreeMap<>();
            Thread.getAllStackTraces().keySet().forEach(t -> names.merge(t.getName().replaceAll("[0-9]+", "#"), 1, Integer::sum));
            assertTrue(Thread.activeCount() <= threadsBefore + 20, "threads: " + threadsBefore + " -> " + Thread.activeCount()
                    + " " + names);
        }
    }

    @Test
    void everyTortureMessageOverTcp() throws Exception {
        int sinkPort = Sipp.freePort();
        try (Sink sink = new Sink(sinkPort)) {
            Map<String, String> problems = runCorpus(sink, sinkPort, TCP_DIFFERENT, TortureTest::overTcp);
            assertTrue(problems.isEmpty(), "TCP verdicts not met:\n" + report(problems));
        }
    }
}
