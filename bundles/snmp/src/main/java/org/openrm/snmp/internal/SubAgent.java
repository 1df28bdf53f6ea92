package org.openrm.snmp.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.snmp4j.smi.OID;
import org.snmp4j.smi.OctetString;
import org.snmp4j.smi.Variable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One AgentX session with the master agent (RFC 2741): Open, Register the MIB's subtree, answer Get, GetNext and
 * GetBulk from the {@link MibView}, refuse sets (read-only), send Notify and Ping, Close on stop. When the master
 * is absent, restarts, closes the session, or sends something that does not parse, the session is dropped with
 * one log line and opened again after a back-off. Runs on its own thread; nothing on the call path waits for it.
 */
final class SubAgent implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(SubAgent.class);
    private static final int POLL_MS = 100;
    private static final OID SNMP_TRAP_OID = new OID("1.3.6.1.6.3.1.1.4.1.0");

    /** How to reach the master and how patient to be. */
    record Settings(String host, int port, int timeoutS, long reconnectMinMs, long reconnectMaxMs, long pingIntervalMs,
                    int maxBulk, String description) { }

    /** Counters for rm:stats, tests and the log. */
    static final class Stats {
        final AtomicLong sessions = new AtomicLong();
        final AtomicLong requests = new AtomicLong();
        final AtomicLong notifications = new AtomicLong();
        final AtomicLong notificationsDropped = new AtomicLong();
        final AtomicLong parseErrors = new AtomicLong();
        final AtomicLong connectFailures = new AtomicLong();
    }

    private final Settings settings;
    private final MibView mib;
    private final BlockingQueue<List<Agentx.VarBind>> notifications = new ArrayBlockingQueue<>(1000);
    final Stats stats = new Stats();
    private final AtomicInteger packetIds = new AtomicInteger(ThreadLocalRandom.current().nextInt(1 << 20));
    private volatile boolean stopped;
    private volatile Socket socket;
    private volatile int sessionId;
    /** True while a session is open and registered. */
    private volatile boolean registered;
    private final long startNanos = System.nanoTime();

    SubAgent(Settings settings, MibView mib) {
        this.settings = settings;
        this.mib = mib;
    }

    boolean registered() {
        return registered;
    }

    /** Queues a notification (its varbinds after snmpTrapOID.0); dropped and counted when the queue is full. */
    void notify(OID trap, List<Agentx.VarBind> vars) {
        List<Agentx.VarBind> all = new ArrayList<>(vars.size() + 1);
        all.add(Agentx.VarBind.of(SNMP_TRAP_OID, trap));
        all.addAll(vars);
        if (!notifications.offer(all)) {
            stats.notificationsDropped.incrementAndGet();
        }
    }

    void stop() {
        stopped = true;
        Socket s = socket;
        if (s != null) {
            try {
                if (registered) {
                    write(s.getOutputStream(), new Agentx.Writer().header(Agentx.CLOSE, 0, sessionId, 0, packetIds.incrementAndGet())
                            .u8(Agentx.R_SHUTDOWN).u8(0).u16(0).bytes());
                }
            } catch (IOException e) {
                LOG.debug("AgentX Close not sent: {}", e.toString());
            }
            closeQuietly(s);
        }
    }

    @Override
    public void run() {
        long backoff = settings.reconnectMinMs();
        while (!stopped) {
            boolean wasOpen = false;
            try (Socket s = new Socket()) {
                socket = s;
                s.connect(new InetSocketAddress(settings.host(), settings.port()), settings.timeoutS() * 1000);
                s.setTcpNoDelay(true);
                s.setSoTimeout(POLL_MS); // wakes the loop to send queued notifications and pings
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                open(in, out);
                register(in, out);
                wasOpen = true;
                registered = true;
                stats.sessions.incrementAndGet();
                backoff = settings.reconnectMinMs();
                LOG.info("AgentX session {} open with the master at {}:{}; {} registered", sessionId, settings.host(),
                        settings.port(), mib.root());
                serve(in, out);
            } catch (Agentx.ParseException e) {
                stats.parseErrors.incrementAndGet();
                LOG.warn("AgentX master at {}:{} sent a PDU that does not parse ({}): session dropped, reconnecting",
                        settings.host(), settings.port(), e.getMessage());
            } catch (IOException e) {
                if (!stopped) {
                    if (!wasOpen) {
                        stats.connectFailures.incrementAndGet();
                    }
                    LOG.info("AgentX master at {}:{} {}: {}; next attempt in {} ms", settings.host(), settings.port(),
                            wasOpen ? "lost" : "not reachable", e.toString(), backoff);
                }
            } catch (RuntimeException e) {
                LOG.warn("AgentX session failed", e);
            } finally {
                registered = false;
                socket = null;
            }
            if (stopped) {
                break;
            }
            try {
                Thread.sleep(backoff);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            backoff = Math.min(settings.reconnectMaxMs(), backoff * 2);
        }
    }

    private void open(InputStream in, OutputStream out) throws IOException {
        int pid = packetIds.incrementAndGet();
        write(out, new Agentx.Writer().header(Agentx.OPEN, 0, 0, 0, pid).u8(settings.timeoutS()).u8(0).u16(0)
                .oid(mib.root(), false).octets(settings.description()).bytes());
        Agentx.Pdu r = awaitResponse(in, pid);
        ByteBuffer b = r.payload();
        b.getInt(); // sysUpTime
        int error = b.getShort() & 0xffff;
        if (error != Agentx.E_NO_ERROR) {
            throw new IOException("master refused Open (error " + error + ")");
        }
        sessionId = r.sessionId();
    }

    private void register(InputStream in, OutputStream out) throws IOException {
        int pid = packetIds.incrementAndGet();
        write(out, new Agentx.Writer().header(Agentx.REGISTER, 0, sessionId, 0, pid).u8(settings.timeoutS()).u8(127)
                .u8(0).u8(0).oid(mib.root(), false).bytes());
        Agentx.Pdu r = awaitResponse(in, pid);
        ByteBuffer b = r.payload();
        b.getInt();
        int error = b.getShort() & 0xffff;
        if (error != Agentx.E_NO_ERROR) {
            throw new IOException("master refused Register of " + mib.root() + " (error " + error
                    + (error == Agentx.E_DUPLICATE_REGISTRATION ? ": another sub-agent holds it" : "") + ")");
        }
    }

    /** Reads PDUs until the response to {@code packetId} (bounded by the socket timeout). */
    private Agentx.Pdu awaitResponse(InputStream in, int packetId) throws IOException {
        long end = System.currentTimeMillis() + settings.timeoutS() * 1000L;
        while (System.currentTimeMillis() < end) {
            Agentx.Pdu p;
            try {
                p = Agentx.read(in, settings.timeoutS() * 1000L);
            } catch (SocketTimeoutException e) {
                continue;
            }
            if (p == null) {
                throw new IOException("master closed the connection");
            }
            if (p.type() == Agentx.RESPONSE && p.packetId() == packetId) {
                return p;
            }
        }
        throw new IOException("no response from the master within " + settings.timeoutS() + " s");
    }

    /** The session: requests from the master, our pings and notifications, until it ends. */
    private void serve(InputStream in, OutputStream out) throws IOException {
        long lastPing = System.currentTimeMillis();
        int unansweredPings = 0;
        while (!stopped) {
            flushNotifications(out);
            Agentx.Pdu p;
            try {
                p = Agentx.read(in, settings.timeoutS() * 1000L);
            } catch (SocketTimeoutException idle) {
                p = null;
                long now = System.currentTimeMillis();
                if (now - lastPing >= settings.pingIntervalMs()) {
                    if (unansweredPings >= 3) {
                        throw new IOException("3 pings unanswered");
                    }
                    unansweredPings++;
                    lastPing = now;
                    write(out, new Agentx.Writer().header(Agentx.PING, 0, sessionId, 0, packetIds.incrementAndGet()).bytes());
                }
                continue;
            }
            if (p == null) {
                throw new IOException("master closed the connection");
            }
            switch (p.type()) {
                case Agentx.RESPONSE -> {
                    unansweredPings = 0; // any answer shows the master alive
                    ByteBuffer b = p.payload();
                    if (b.remaining() >= 8) {
                        b.getInt();
                        int error = b.getShort() & 0xffff;
                        if (error == Agentx.E_NOT_OPEN) {
                            throw new IOException("master says the session is not open");
                        }
                    }
                }
                case Agentx.GET, Agentx.GETNEXT, Agentx.GETBULK -> {
                    stats.requests.incrementAndGet();
                    write(out, answer(p));
                }
                case Agentx.TESTSET -> write(out, response(p, Agentx.E_NOT_WRITABLE, 1, List.of()));
                case Agentx.COMMITSET, Agentx.UNDOSET, Agentx.CLEANUPSET -> write(out, response(p, Agentx.E_NO_ERROR, 0, List.of()));
                case Agentx.CLOSE -> throw new IOException("master closed the session");
                default -> write(out, response(p, Agentx.E_PROCESSING_ERROR, 0, List.of()));
            }
        }
    }

    private void flushNotifications(OutputStream out) throws IOException {
        List<Agentx.VarBind> n;
        while ((n = notifications.poll()) != null) {
            Agentx.Writer w = new Agentx.Writer().header(Agentx.NOTIFY, 0, sessionId, 0, packetIds.incrementAndGet());
            for (Agentx.VarBind vb : n) {
                w.varbind(vb);
            }
            write(out, w.bytes());
            stats.notifications.incrementAndGet();
        }
    }

    /** The answer to a Get, GetNext or GetBulk. */
    byte[] answer(Agentx.Pdu p) throws Agentx.ParseException {
        ByteBuffer b = p.payload();
        if (p.hasContext()) {
            Agentx.readOctets(b); // one context only: the default
        }
        NavigableMap<OID, Variable> mib = this.mib.snapshot();
        List<Agentx.VarBind> out = new ArrayList<>();
        if (p.type() == Agentx.GETBULK) {
            if (b.remaining() < 4) {
                throw new Agentx.ParseException("GetBulk without its counts");
            }
            int nonRepeaters = b.getShort() & 0xffff;
            int maxRep = Math.min(b.getShort() & 0xffff, settings.maxBulk());
            List<Agentx.Range> ranges = Agentx.readRanges(b);
            for (int i = 0; i < ranges.size() && i < nonRepeaters; i++) {
                out.add(next(mib, ranges.get(i)));
            }
            List<Agentx.Range> rep = ranges.subList(Math.min(nonRepeaters, ranges.size()), ranges.size());
            List<Agentx.Range> cur = new ArrayList<>(rep);
            for (int r = 0; r < maxRep && !cur.isEmpty(); r++) {
                boolean any = false;
                for (int i = 0; i < cur.size(); i++) {
                    Agentx.VarBind vb = next(mib, cur.get(i));
                    out.add(vb);
                    if (vb.type() != Agentx.T_END_OF_MIB_VIEW) {
                        any = true;
                        cur.set(i, new Agentx.Range(vb.name(), false, cur.get(i).end()));
                    }
                }
                if (!any) {
                    break;
                }
            }
        } else {
            for (Agentx.Range r : Agentx.readRanges(b)) {
                if (p.type() == Agentx.GET) {
                    Variable v = mib.get(r.start());
                    out.add(v != null ? Agentx.VarBind.of(r.start(), v) : Agentx.VarBind.exception(r.start(),
                            hasObject(mib, r.start()) ? Agentx.T_NO_SUCH_INSTANCE : Agentx.T_NO_SUCH_OBJECT));
                } else {
                    out.add(next(mib, r));
                }
            }
        }
        return response(p, Agentx.E_NO_ERROR, 0, out);
    }

    /** True when some instance of the object (the OID minus its index) exists: then the answer is noSuchInstance. */
    private static boolean hasObject(NavigableMap<OID, Variable> mib, OID name) {
        if (name.size() < 2) {
            return false;
        }
        OID object = new OID(name.getValue(), 0, name.size() - 1);
        OID after = mib.ceilingKey(object);
        return after != null && after.startsWith(object);
    }

    private static Agentx.VarBind next(NavigableMap<OID, Variable> mib, Agentx.Range r) {
        Map.Entry<OID, Variable> e = r.include() ? mib.ceilingEntry(r.start()) : mib.higherEntry(r.start());
        if (e == null || !Agentx.below(e.getKey(), r.end())) {
            return Agentx.VarBind.exception(r.start(), Agentx.T_END_OF_MIB_VIEW);
        }
        return Agentx.VarBind.of(e.getKey(), e.getValue());
    }

    private byte[] response(Agentx.Pdu p, int error, int index, List<Agentx.VarBind> vbs) {
        long upTicks = (System.nanoTime() - startNanos) / 10_000_000L;
        Agentx.Writer w = new Agentx.Writer().header(Agentx.RESPONSE, 0, p.sessionId(), p.transactionId(), p.packetId())
                .u32(upTicks).u16(error).u16(index);
        for (Agentx.VarBind vb : vbs) {
            w.varbind(vb);
        }
        return w.bytes();
    }

    private synchronized void write(OutputStream out, byte[] pdu) throws IOException {
        out.write(pdu);
        out.flush();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing
        }
    }

    /** A text value for notification varbinds. */
    static OctetString text(String s) {
        return new OctetString(s == null ? "" : s);
    }
}
