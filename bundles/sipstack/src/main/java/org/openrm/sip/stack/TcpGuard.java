package org.openrm.sip.stack;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;

import gov.nist.core.net.DefaultNetworkLayer;
import gov.nist.core.net.NetworkLayer;
import gov.nist.javax.sip.SipStackImpl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TCP side of openrm's SIP edge, as the stack's network layer: every accepted connection is counted (in
 * total and per source address; beyond either bound it is closed at once) and its bytes are framed as they are
 * read (header block, then Content-Length bytes of body), so that {@link #sweep} can close a connection idle for
 * {@code tcp.idle.timeout.s}, a connection whose message is not complete {@code tcp.message.timeout.s} after its
 * first byte (slowloris), and a reader refuses a message larger than {@code max.message.size}. The stack keeps
 * one reader thread per connection, so these bounds are also the bound on its threads.
 */
public final class TcpGuard implements NetworkLayer {
    private static final Logger LOG = LoggerFactory.getLogger(TcpGuard.class);
    /**
     * What the framer reads as a message's body length (the reference for {@link #contentLength}, which scans the bytes
     * without a String or a regex; a test holds the two equal).
     */
    public static final Pattern CONTENT_LENGTH = Pattern.compile("(?im)^(?:content-length|l)[ \\t]*:[ \\t]*(\\d{1,9})[ \\t]*\\r?$");

    /**
     * The first Content-Length (or {@code l}) line of the header block {@code b[0..len)} whose value is 1 to 9 digits
     * ({@code Name *WSP ":" *WSP digits *WSP} up to the line's end), or 0 without one: what {@link #CONTENT_LENGTH}
     * finds, read in place.
     */
    public static long contentLength(byte[] b, int len) {
        for (int p = 0; p < len; p++) {
            if (p > 0 && !terminator(b[p - 1])) {
                continue; // a line starts after a line terminator (or at the start)
            }
            int q = name(b, p, len);
            if (q < 0) {
                continue;
            }
            while (q < len && (b[q] == ' ' || b[q] == '\t')) {
                q++;
            }
            if (q >= len || b[q] != ':') {
                continue;
            }
            q++;
            while (q < len && (b[q] == ' ' || b[q] == '\t')) {
                q++;
            }
            int d = q;
            long v = 0;
            while (q < len && q - d < 10 && b[q] >= '0' && b[q] <= '9') {
                v = v * 10 + (b[q] - '0');
                q++;
            }
            if (q == d || q - d > 9) {
                continue;
            }
            while (q < len && (b[q] == ' ' || b[q] == '\t')) {
                q++;
            }
            if (q >= len || terminator(b[q])) {
                return v; // the line ends here (the regex's \r?$)
            }
        }
        return 0;
    }

    /** A line terminator as a multi-line regex sees one in ISO-8859-1 text: LF, CR, NEL. */
    private static boolean terminator(byte c) {
        return c == '\n' || c == '\r' || c == (byte) 0x85;
    }

    /** The end of a header name {@code content-length} or {@code l} (ASCII, any case) at {@code p}, or -1. */
    private static int name(byte[] b, int p, int len) {
        final String full = "content-length";
        if (p + full.length() <= len) {
            int i = 0;
            while (i < full.length() && same(b[p + i], full.charAt(i))) {
                i++;
            }
            if (i == full.length()) {
                return p + i;
            }
        }
        return p < len && same(b[p], 'l') ? p + 1 : -1;
    }

    private static boolean same(byte x, char lower) {
        return x == lower || (lower >= 'a' && lower <= 'z' && x == lower - 32);
    }

    /** How long a connection refused at the edge stays open for answers already under way. */
    public static final long CLOSE_GRACE_MS = 300;

    public record Limits(int maxConnections, int maxPerSource, long idleMs, long messageMs, int maxMessageSize) { }

    public static final class Stats {
        public final AtomicLong accepted = new AtomicLong();
        public final AtomicLong refusedTotal = new AtomicLong();
        public final AtomicLong refusedPerSource = new AtomicLong();
        public final AtomicLong closedIdle = new AtomicLong();
        public final AtomicLong closedSlow = new AtomicLong();
        public final AtomicLong closedOversize = new AtomicLong();
        /** Requests refused by the {@link RawScreen} before parsing (UDP and TCP). */
        public final AtomicLong screened = new AtomicLong();
        /** New INVITEs the overload guard shed on the UDP receive thread (never seen by a worker). */
        public final AtomicLong shedOnReceive = new AtomicLong();
        /** In-dialog ACK/BYE and their responses relayed from their bytes ({@link RawRelay}). */
        public final AtomicLong rawRequests = new AtomicLong();
        public final AtomicLong rawResponses = new AtomicLong();
        /** Of {@link #rawRequests} and {@link #rawResponses}: those received and relayed over TCP. */
        public final AtomicLong rawTcpRequests = new AtomicLong();
        public final AtomicLong rawTcpResponses = new AtomicLong();
    }

    public final Stats stats = new Stats();
    /** SIP messages written to the wire (UDP and TCP, both directions of every connection), retransmissions included. */
    public final WireCounts sent = new WireCounts();
    /** SIP messages the proxy handled: counted by the dispatcher, and here for those answered or relayed from bytes. */
    public final WireCounts received = new WireCounts();
    private volatile Limits limits;
    private final Set<GuardedSocket> live = ConcurrentHashMap.newKeySet();
    /** Bound on {@link #opened}: beyond it a new connection is not relayed to from bytes (the stack writes to it). */
    static final int MAX_OPENED = 10_000;
    /**
     * The connections openrm opened, by peer (media servers, a SIP Server over TCP): where the TCP byte-level relay
     * writes, as the stack would, under the stack's own lock (JAIN-SIP writes a message holding the connection's
     * output stream's monitor).
     */
    private final Map<java.net.InetSocketAddress, Socket> opened = new ConcurrentHashMap<>();
    /**
     * The connections openrm accepted (SIP Servers'), by peer address and port and by the sent-by of their requests' top
     * Via: where the TCP byte-level relay writes an answer or a media server's request back. Bounded by the
     * connection bounds (two entries each at most).
     */
    private final Map<java.net.InetSocketAddress, Socket> accepted = new ConcurrentHashMap<>();
    private final Map<InetAddress, AtomicInteger> perSource = new ConcurrentHashMap<>();
    private final NetworkLayer plain = DefaultNetworkLayer.SINGLETON;
    private final OncePerMinute logOnce = new OncePerMinute(LOG);

    public TcpGuard(Limits limits) {
        this.limits = limits;
    }

    public void limits(Limits l) {
        this.limits = l;
    }

    /** Connections accepted and open now. */
    public int open() {
        return live.size();
    }

    /** Closes idle and slow connections; run every second. */
    public void sweep() {
        long now = System.currentTimeMillis();
        Limits l = limits;
        for (GuardedSocket s : live) {
            if (s.isClosed()) {
                s.forget();
                continue;
            }
            long started = s.messageStart;
            if (started > 0 && now - started > l.messageMs()) {
                stats.closedSlow.incrementAndGet();
                logOnce.warn("slow " + s.getInetAddress(), "Closed TCP connection from {}: a message still incomplete {} ms after its "
                        + "first byte (tcp.message.timeout.s; logged once a minute per source)", s.getInetAddress(), now - started);
                s.closeQuietly();
            } else if (now - s.lastActivity > l.idleMs()) {
                stats.closedIdle.incrementAndGet();
                LOG.debug("Closed TCP connection from {}: idle", s.getInetAddress());
                s.closeQuietly();
            }
        }
    }

    // ------------------------------------------------------------------------------------ network layer

    @Override
    public ServerSocket createServerSocket(int port, int backlog, InetAddress bindAddress) throws IOException {
        return new GuardedServerSocket(port, backlog, bindAddress);
    }

    @Override
    public SSLServerSocket createSSLServerSocket(int port, int backlog, InetAddress bindAddress) throws IOException {
        return plain.createSSLServerSocket(port, backlog, bindAddress);
    }

    @Override
    public Socket createSocket(InetAddress address, int port) throws IOException {
        return new CountedSocket(address, port, null, 0);
    }

    /**
     * The loopback address the warm-up's private caller and media server use ({@link CallWarmup}), or null: what
     * comes from or goes to it is the warm-up's, and no counter of the proxy's traffic counts it.
     */
    public volatile InetAddress warmupHost;
    /** True while the warm-up's calls run: its address is trusted at the edge for that long. */
    public volatile boolean warmupRunning;

    /** True for the warm-up's own address (a synthetic call's message, not the proxy's traffic). */
    public boolean isWarmup(InetAddress a) {
        InetAddress w = warmupHost;
        return w != null && w.equals(a);
    }

    /** True for the warm-up's address while its calls run (trusted at the edge then, whatever trusted.peers says). */
    public boolean warmupTrusted(InetAddress a) {
        return warmupRunning && isWarmup(a);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress myAddress) throws IOException {
        return new CountedSocket(address, port, myAddress, 0);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress myAddress, int myPort) throws IOException {
        if (myAddress == null && myPort != 0) {
            return plain.createSocket(address, port, myAddress, myPort); // not a case the stack uses; left uncounted
        }
        return new CountedSocket(address, port, myAddress, myPort);
    }

    /** A connection openrm opens (to a media server or a SIP Server over TCP): its writes are counted. */
    private final class CountedSocket extends FramedSocket {
        private OutputStream out;
        private InputStream in;
        private final java.net.InetSocketAddress peer;

        CountedSocket(InetAddress address, int port, InetAddress local, int localPort) throws IOException {
            super(address, port, local, localPort);
            warm = isWarmup(address);
            if (noDelay) {
                setTcpNoDelay(true);
            }
            peer = new java.net.InetSocketAddress(address, port);
            if (opened.size() < MAX_OPENED) {
                opened.put(peer, this); // the byte-level relay writes to it (the newest connection to a peer wins)
            }
        }

        @Override
        public synchronized void close() throws IOException {
            if (peer != null) {
                opened.remove(peer, this);
            } // else: Socket's constructor closes a socket whose connect failed, before this one's fields are set
            super.close();
        }

        @Override
        boolean opened() {
            return true;
        }

        /** Framed as an accepted connection is: the relay follows its messages (a media server's answers and BYEs). */
        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                in = new Framer(super.getInputStream(), this);
            }
            return in;
        }

        @Override
        public synchronized OutputStream getOutputStream() throws IOException {
            if (out == null) {
                out = new CountingOut(super.getOutputStream(), warm);
            }
            return out;
        }
    }

    /**
     * Counts the messages written to a connection. Every writer writes one whole message while it holds this stream's
     * monitor — JAIN-SIP's {@code IOHandler} in chunks of {@value #CHUNK} bytes (the last one shorter), the byte-level
     * relay in one write — and flushes after it, JAIN-SIP outside the monitor: so a write starts a message after a
     * flush, and also after any write that was not a full chunk (another writer's message may have ended there, its
     * flush still to come).
     */
    private final class CountingOut extends java.io.FilterOutputStream {
        /** JAIN-SIP's chunk size (IOHandler.writeChunks). */
        static final int CHUNK = 8192;
        private boolean atStart;
        private int lastLen;
        private final boolean uncounted;

        /** @param warm a connection of the warm-up's synthetic calls: nothing counted */
        CountingOut(OutputStream out, boolean warm) {
            super(out);
            uncounted = warm;
            atStart = !warm;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            if (uncounted || len <= 0) {
                return;
            }
            boolean start = atStart || lastLen != CHUNK;
            lastLen = len;
            if (start) {
                int kind = WireCounts.kindOf(b, off, len);
                if (kind >= 0) {
                    sent.count(WireCounts.TCP, kind);
                    atStart = false;
                } else {
                    atStart = true; // keep-alive CRLFs: the message, if any, is still to come
                    lastLen = 0;
                }
            }
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
        }

        @Override
        public void flush() throws IOException {
            out.flush();
            // JAIN-SIP flushes after it left this stream's monitor, which every write here holds (IOHandler.writeChunks,
            // the byte relay): the state the writes read is set under the same monitor
            synchronized (this) {
                atStart = !uncounted;
            }
        }
    }

    @Override
    public SSLSocket createSSLSocket(InetAddress address, int port) throws IOException {
        return plain.createSSLSocket(address, port);
    }

    @Override
    public SSLSocket createSSLSocket(InetAddress address, int port, InetAddress myAddress) throws IOException {
        return plain.createSSLSocket(address, port, myAddress);
    }

    @Override
    public DatagramSocket createDatagramSocket() throws SocketException {
        return plain.createDatagramSocket();
    }

    @Override
    public DatagramSocket createDatagramSocket(int port, InetAddress laddr) throws SocketException {
        return new ScreenedDatagramSocket(this, port, laddr);
    }

    /**
     * The listening UDP socket: each datagram is screened before the stack reads it. It receives into one buffer of
     * its own (64 KB, reused: only the listening point's receive thread calls it), screens the bytes there, and
     * hands the stack an array of the datagram's exact length. The stack's receive loop allocates a buffer of the
     * largest datagram per packet otherwise: at 2,500 calls/s that was 60 % of all allocation and a young
     * collection every 2 s ({@link ProxyStack#shrinkUdpBuffers()} makes its own buffer one byte once this socket
     * is in place).
     */
    public static final class ScreenedDatagramSocket extends DatagramSocket {
        private final TcpGuard guard;
        private final byte[] in = new byte[65536];
        private final java.net.DatagramPacket inPacket = new java.net.DatagramPacket(in, in.length);
        private final ShedScreen.Verdict verdict = new ShedScreen.Verdict();
        private final RawRelay raw = new RawRelay();
        private final RawRelay.Out rawOut = new RawRelay.Out();

        ScreenedDatagramSocket(TcpGuard guard, int port, InetAddress laddr) throws SocketException {
            super(port, laddr);
            this.guard = guard;
            int want = guard.udpReceiveBuffer;
            if (want > 0) {
                setReceiveBufferSize(want);
            }
            int got = getReceiveBufferSize();
            guard.udpCapacity = got;
            if (want > 0) {
                // Linux reports twice what it granted (its bookkeeping); less than asked means net.core.rmem_max
                if (got < want) {
                    LOG.warn("UDP receive buffer of port {}: {} bytes asked (udp.receive.buffer), the kernel granted {} "
                            + "(raise net.core.rmem_max)", port, want, got);
                } else {
                    LOG.info("UDP receive buffer of port {}: {} bytes", port, got);
                }
            }
        }

        /** Every datagram openrm sends from its listening point passes here (the stack's, the relay's, the edge's). */
        @Override
        public void send(java.net.DatagramPacket p) throws IOException {
            super.send(p);
            if (!guard.isWarmup(p.getAddress())) {
                guard.sent.count(WireCounts.UDP, p.getData(), p.getOffset(), p.getLength());
            }
        }

        @Override
        public void receive(java.net.DatagramPacket p) throws IOException {
            synchronized (inPacket) {
                while (true) {
                    inPacket.setData(in, 0, in.length);
                    super.receive(inPacket);
                    int len = inPacket.getLength();
                    RawScreen.Refusal r;
                    try {
                        r = RawScreen.check(in, 0, len, guard.limits.maxMessageSize());
                    } catch (RuntimeException e) {
                        r = null; // the stack's parser has the last word
                    }
                    if (r == null && shed(len)) {
                        continue; // a new INVITE the overload guard shed, or the ACK of such a 503: answered here
                    }
                    if (r == null && relayed(len)) {
                        continue; // an in-dialog ACK or BYE, or a response to one: relayed from its bytes
                    }
                    if (r == null) {
                        p.setData(java.util.Arrays.copyOf(in, len));
                        p.setAddress(inPacket.getAddress());
                        p.setPort(inPacket.getPort());
                        return;
                    }
                    guard.stats.screened.incrementAndGet();
                    guard.logOnce.warn(r.reason() + " " + inPacket.getAddress(), "Refused a request from {} over UDP with {} {} "
                            + "(logged once a minute per source and reason)", inPacket.getAddress(), r.code(), r.reason());
                    byte[] answer = RawScreen.response(in, 0, len, r);
                    if (answer.length > 0) {
                        send(new java.net.DatagramPacket(answer, answer.length, inPacket.getAddress(), inPacket.getPort()));
                    }
                }
            }
        }

        /** The byte-level relay ({@link RawRelay}): true when the datagram went on from here. */
        private boolean relayed(int len) {
            java.util.function.Supplier<RawRelay.Self> selves = guard.rawSelf;
            RawRelay.Self self = selves == null ? null : selves.get();
            if (self == null) {
                return false;
            }
            java.util.function.Predicate<InetAddress> trusted = guard.trusted;
            if (trusted == null || !trusted.test(inPacket.getAddress()) || !raw.relay(in, len, self, rawOut)) {
                return false;
            }
            boolean request = in[0] != 'S'; // RawRelay relays only ACK/BYE requests and SIP/2.0 responses
            if (rawOut.byeCallId != null) {
                java.util.function.BiPredicate<String, String> ender = guard.byeRelayed;
                if (ender == null || !ender.test(rawOut.byeCallId, rawOut.byeFromTag)) {
                    return false; // the session could not be told: the stack relays this one
                }
            }
            java.net.DatagramPacket out = new java.net.DatagramPacket(rawOut.data, rawOut.length, rawOut.address, rawOut.port);
            RelaySender sender = guard.relaySender;
            if (sender == null || !sender.offer(this, out, System.currentTimeMillis())) {
                try {
                    send(out); // no sender, or its queue is full: this thread sends, as the stack would have
                } catch (IOException e) {
                    LOG.debug("relay to {}:{} failed: {}", rawOut.address, rawOut.port, e.toString());
                }
            }
            if (!guard.isWarmup(inPacket.getAddress())) {
                (request ? guard.stats.rawRequests : guard.stats.rawResponses).incrementAndGet();
                guard.received.count(WireCounts.UDP, in, 0, len);
            }
            return true;
        }

        /** The overload guard on the raw datagram: true when it was answered (503) or absorbed (its ACK) here. */
        private boolean shed(int len) {
            OverloadGuard og = guard.overload;
            if (og == null) {
                return false;
            }
            int kind;
            try {
                kind = ShedScreen.classify(in, len, verdict);
            } catch (RuntimeException e) {
                return false; // the stack's parser has the last word
            }
            if (kind == ShedScreen.SHED_ACK) {
                guard.received.count(WireCounts.UDP, WireCounts.ACK_KIND);
                return true;
            }
            if (kind != ShedScreen.NEW_INVITE || guard.isWarmup(inPacket.getAddress())) {
                return false; // the warm-up's own calls are never shed (the guard is held while they run)
            }
            java.util.function.Predicate<InetAddress> trusted = guard.trusted;
            if (trusted != null && !trusted.test(inPacket.getAddress())) {
                return false; // a stranger's INVITE: the edge refuses it as it refuses any other
            }
            if (!og.shedNew(verdict.callIdHash)) {
                return false;
            }
            guard.stats.shedOnReceive.incrementAndGet();
            guard.received.count(WireCounts.UDP, WireCounts.INVITE_KIND);
            byte[] answer = ShedScreen.overloaded(in, verdict, guard.retryAfterS);
            try {
                send(new java.net.DatagramPacket(answer, answer.length, inPacket.getAddress(), inPacket.getPort()));
            } catch (IOException e) {
                LOG.debug("503 Overloaded not sent: {}", e.toString());
            }
            return true;
        }
    }

    /** The overload guard new INVITEs pass on the UDP receive thread; null for none. */
    public volatile OverloadGuard overload;
    /** Sources whose INVITEs the guard may shed (the others are the edge's to refuse). */
    public volatile java.util.function.Predicate<InetAddress> trusted;
    /** openrm's identity for the byte-level relay, from the running stack; null (or yielding null) turns it off. */
    public volatile java.util.function.Supplier<RawRelay.Self> rawSelf;
    /** The byte-level relay over TCP too (raw.relay.tcp); the UDP relay's {@link #rawSelf} must be on as well. */
    public volatile boolean rawTcp;
    /** Sends what the byte-level relay decided, off the receive thread; null sends on the receive thread. */
    public volatile RelaySender relaySender;
    /** Told of every BYE relayed from its bytes (Call-ID, From tag); false when it cannot take it now. */
    public volatile java.util.function.BiPredicate<String, String> byeRelayed;
    /** SO_RCVBUF asked for the UDP listening socket (udp.receive.buffer); 0 for the system default. */
    public volatile int udpReceiveBuffer;
    /** The receive buffer of the UDP socket opened last, as the kernel accounts it (SO_RCVBUF read back). */
    public volatile int udpCapacity;
    /** TCP_NODELAY on every connection (tcp.nodelay): each SIP message leaves at once instead of waiting (Nagle). */
    public volatile boolean noDelay;
    /** Retry-After of the guard's 503s. */
    public volatile int retryAfterS = 1;

    @Override
    public void setSipStack(SipStackImpl stack) {
        // nothing: the guard needs no stack
    }

    /** Accepts only within the connection bounds; the stack never sees a refused connection. */
    private final class GuardedServerSocket extends ServerSocket {
        GuardedServerSocket(int port, int backlog, InetAddress bind) throws IOException {
            super(port, backlog, bind);
        }

        @Override
        public Socket accept() throws IOException {
            while (true) {
                GuardedSocket s = new GuardedSocket();
                implAccept(s);
                Limits l = limits;
                InetAddress src = s.getInetAddress();
                AtomicInteger n = perSource.computeIfAbsent(src, a -> new AtomicInteger());
                if (live.size() >= l.maxConnections()) {
                    stats.refusedTotal.incrementAndGet();
                    logOnce.warn("total", "Refused TCP connection from {}: max.tcp.connections {} open (logged once a minute)",
                            src, l.maxConnections());
                    s.closeQuietly();
                    continue;
                }
                if (n.incrementAndGet() > l.maxPerSource()) {
                    n.decrementAndGet();
                    stats.refusedPerSource.incrementAndGet();
                    logOnce.warn("source " + src, "Refused TCP connection from {}: max.tcp.connections.per.source {} open from it "
                            + "(logged once a minute per source)", src, l.maxPerSource());
                    s.closeQuietly();
                    continue;
                }
                s.counted = n;
                if (noDelay) {
                    s.setTcpNoDelay(true);
                }
                live.add(s);
                accepted.put(new java.net.InetSocketAddress(src, s.getPort()), s);
                s.warm = isWarmup(src);
                if (!s.warm) {
                    stats.accepted.incrementAndGet();
                }
                return s;
            }
        }
    }

    /** A connection whose reads are framed into SIP messages ({@link Framer}). */
    private abstract static class FramedSocket extends Socket {
        volatile long lastActivity = System.currentTimeMillis();
        /** Epoch ms of the first byte of a message not yet complete; 0 between messages. */
        volatile long messageStart;
        /** A connection of the warm-up's synthetic calls: its messages are not counted. */
        volatile boolean warm;

        FramedSocket() {
        }

        FramedSocket(InetAddress address, int port, InetAddress local, int localPort) throws IOException {
            super(address, port, local, localPort);
        }

        /** True for a connection openrm opened (a media server's); false for one it accepted (a SIP Server's). */
        abstract boolean opened();

        void closeQuietly() {
            try {
                close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    /** An accepted connection whose reads are framed into SIP messages. */
    private final class GuardedSocket extends FramedSocket {
        AtomicInteger counted;
        private final AtomicBoolean forgotten = new AtomicBoolean();
        /** The address its peer's requests name in their top Via ({@code host:port}), once seen; an alias in {@link #accepted}. */
        volatile java.net.InetSocketAddress sentBy;

        @Override
        boolean opened() {
            return false;
        }
        private InputStream in;
        private OutputStream out;

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                in = new Framer(super.getInputStream(), this);
            }
            return in;
        }

        @Override
        public synchronized OutputStream getOutputStream() throws IOException {
            if (out == null) {
                out = new CountingOut(super.getOutputStream(), warm);
            }
            return out;
        }

        void forget() {
            if (forgotten.compareAndSet(false, true)) {
                live.remove(this);
                accepted.remove(new java.net.InetSocketAddress(getInetAddress(), getPort()), this);
                java.net.InetSocketAddress alias = sentBy;
                if (alias != null) {
                    accepted.remove(alias, this);
                }
                AtomicInteger n = counted;
                if (n != null && n.decrementAndGet() <= 0) {
                    perSource.remove(getInetAddress(), n);
                }
            }
        }

        @Override
        public synchronized void close() throws IOException {
            forget();
            super.close();
        }
    }

    /** Follows message boundaries in the byte stream: header block up to CRLFCRLF, then Content-Length bytes. */
    private final class Framer extends FilterInputStream {
        private final FramedSocket socket;
        /** The header block being read (bytes), grown up to max.message.size; {@link #hlen} bytes in use. */
        private byte[] head = new byte[1024];
        private int hlen;
        private long bodyLeft = -1; // -1: in the header block (or between messages)
        private int tail; // last four bytes of the header block, to find CRLFCRLF

        Framer(InputStream in, FramedSocket socket) {
            super(in);
            this.socket = socket;
        }

        /** A refused request whose bytes the stack has not been given: refused on the next read. */
        private byte[] refusedHead;
        private RawScreen.Refusal refusal;

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n <= 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (true) {
                if (refusal != null) {
                    refuse(refusedHead, refusal);
                }
                int n = super.read(b, off, len);
                if (n <= 0) {
                    return n;
                }
                int keep = consume(b, off, n);
                if (keep == 0 && refusal != null) {
                    refuse(refusedHead, refusal);
                }
                if (keep > 0 || len == 0) {
                    return keep;
                }
                // everything read went on from its bytes (relayed): the stack has nothing to read yet
            }
        }

        /**
         * Follows the messages in {@code b}; returns how many bytes the stack may have: fewer when one is refused (the
         * bytes up to it), or when whole messages were relayed from their bytes (spliced out, the rest moved up).
         */
        private int consume(byte[] b, int off, int n) throws IOException {
            long now = System.currentTimeMillis();
            socket.lastActivity = now;
            int max = limits.maxMessageSize();
            int startIdx = -1;
            for (int i = off; i < off + n; i++) {
                byte c = b[i];
                if (bodyLeft > 0) {
                    long take = Math.min(bodyLeft, off + n - i);
                    bodyLeft -= take;
                    i += (int) take - 1;
                    if (bodyLeft == 0) {
                        endOfMessage();
                    }
                    continue;
                }
                if (hlen == 0 && (c == '\r' || c == '\n')) {
                    continue; // keep-alive CRLFs between messages
                }
                if (hlen == 0) {
                    socket.messageStart = now;
                    startIdx = i;
                }
                if (hlen == head.length) {
                    if (hlen >= max) {
                        oversize("header block over " + max + " bytes");
                    }
                    head = java.util.Arrays.copyOf(head, Math.min(Math.max(max, 1) + 1, hlen * 2));
                }
                head[hlen++] = c;
                tail = (tail << 8) | (c & 0xff);
                if (hlen > max) {
                    oversize("header block over " + max + " bytes");
                }
                if (tail == 0x0d0a0d0a) {
                    RawScreen.Refusal r = screen(head, hlen);
                    if (r != null) {
                        refusal = r;
                        refusedHead = java.util.Arrays.copyOf(head, hlen);
                        hlen = 0;
                        tail = 0;
                        // the messages before this one go to the stack; this one never does
                        return startIdx >= 0 ? startIdx - off : 0;
                    }
                    learnSentBy(head, hlen);
                    long length = contentLength(head, hlen);
                    if (hlen + length > max) {
                        oversize("Content-Length " + length);
                    }
                    hlen = 0;
                    tail = 0;
                    int from = startIdx;
                    startIdx = -1;
                    bodyLeft = length;
                    if (length == 0) {
                        endOfMessage();
                        if (from >= off && relayed(b, from, i + 1 - from)) {
                            // the whole message was in this read and went on from its bytes: the stack never sees it
                            int removed = i + 1 - from;
                            System.arraycopy(b, i + 1, b, from, off + n - (i + 1));
                            n -= removed;
                            i = from - 1;
                        }
                    }
                }
            }
            return n;
        }

        private final RawRelay raw = new RawRelay();
        private final RawRelay.Out rawOut = new RawRelay.Out();

        /**
         * The TCP byte-level relay: an in-dialog ACK or BYE (no body), or the answer to a BYE openrm relayed statelessly,
         * whose next hop is a connection openrm holds (one it opened: a media server's; one it accepted: a SIP Server's,
         * known by its address and its requests' Via) goes on from its bytes, written to that connection under the
         * stack's lock; true when it did.
         */
        private boolean relayed(byte[] b, int from, int len) {
            java.util.function.Supplier<RawRelay.Self> selves = rawSelf;
            RawRelay.Self self = selves == null ? null : selves.get();
            if (!rawTcp || self == null || len < 4 || !(b[from] == 'A' || b[from] == 'B' || b[from] == 'S')) {
                return false;
            }
            InetAddress src = socket.getInetAddress();
            java.util.function.Predicate<InetAddress> t = trusted;
            if (!socket.warm && (t == null || !t.test(src))) {
                return false;
            }
            byte[] msg = java.util.Arrays.copyOfRange(b, from, from + len);
            if (!raw.relay(msg, len, self, rawOut, true)) {
                return false;
            }
            java.net.InetSocketAddress to = new java.net.InetSocketAddress(rawOut.address, rawOut.port);
            boolean response = msg[0] == 'S';
            Socket dst = response ? accepted.get(to) : opened.get(to);
            if (dst == null) {
                dst = response ? opened.get(to) : accepted.get(to);
            }
            if (dst == null || dst.isClosed()) {
                return false; // no connection to the next hop: the stack finds or opens one
            }
            if (rawOut.byeCallId != null) {
                java.util.function.BiPredicate<String, String> ender = byeRelayed;
                if (ender == null || !ender.test(rawOut.byeCallId, rawOut.byeFromTag)) {
                    return false; // the session could not be told: the stack relays this one
                }
            }
            try {
                OutputStream os = dst.getOutputStream();
                synchronized (os) { // the monitor JAIN-SIP holds while it writes a message to this connection
                    os.write(rawOut.data, 0, rawOut.length);
                    os.flush();
                }
            } catch (IOException e) {
                LOG.debug("TCP relay to {} failed: {}", to, e.toString());
            }
            if (!socket.warm) {
                (response ? stats.rawResponses : stats.rawRequests).incrementAndGet();
                (response ? stats.rawTcpResponses : stats.rawTcpRequests).incrementAndGet();
                received.count(WireCounts.TCP, msg, 0, len);
            }
            return true;
        }

        /**
         * An accepted connection becomes known by the sent-by of its peer's first request's top Via too (a SIP Server's
         * answers and requests go back there, as JAIN-SIP finds the connection).
         */
        private void learnSentBy(byte[] h, int len) {
            if (socket instanceof GuardedSocket g && g.sentBy == null && len > 4 && h[0] != 'S') {
                java.net.InetSocketAddress a = RawRelay.topViaSentBy(h, len);
                if (a != null && a.getAddress().equals(g.getInetAddress())) {
                    g.sentBy = a;
                    accepted.putIfAbsent(a, g);
                }
            }
        }

        private RawScreen.Refusal screen(byte[] h, int len) {
            try {
                return RawScreen.check(h, 0, len, Integer.MAX_VALUE);
            } catch (RuntimeException e) {
                return null; // the stack's parser has the last word
            }
        }

        /** Answers a refused request and closes the connection (its framing is suspect). */
        private void refuse(byte[] h, RawScreen.Refusal r) throws IOException {
            refusal = null;
            stats.screened.incrementAndGet();
            logOnce.warn(r.reason() + " " + socket.getInetAddress(), "Refused a request from {} over TCP with {} {}, connection "
                    + "closed (logged once a minute per source and reason)", socket.getInetAddress(), r.code(), r.reason());
            byte[] answer = RawScreen.response(h, 0, h.length, r);
            try {
                if (answer.length > 0) {
                    socket.getOutputStream().write(answer);
                    socket.getOutputStream().flush();
                }
                // answers to the requests before this one may still be on their way out: this connection's own
                // reader thread waits a moment before the connection closes
                Thread.sleep(CLOSE_GRACE_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                socket.closeQuietly();
            }
            throw new IOException("request refused at the edge: " + r.code() + " " + r.reason());
        }

        private void endOfMessage() {
            bodyLeft = -1;
            socket.messageStart = 0;
        }

        private void oversize(String what) throws IOException {
            stats.closedOversize.incrementAndGet();
            logOnce.warn("oversize " + socket.getInetAddress(), "Closed TCP connection from {}: message larger than max.message.size "
                    + "({}; logged once a minute per source)", socket.getInetAddress(), what);
            socket.closeQuietly();
            throw new IOException("SIP message larger than max.message.size: " + what);
        }
    }

    public static String ascii(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }
}
