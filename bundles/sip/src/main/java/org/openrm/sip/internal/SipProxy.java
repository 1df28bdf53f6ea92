package org.openrm.sip.internal;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.ListIterator;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import javax.sip.ClientTransaction;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.ListeningPoint;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.SipFactory;
import javax.sip.SipListener;
import javax.sip.SipProvider;
import javax.sip.SipStack;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionAlreadyExistsException;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.AddressFactory;
import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.Header;
import javax.sip.header.HeaderFactory;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.RecordRouteHeader;
import javax.sip.header.RetryAfterHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import gov.nist.javax.sip.message.SIPMessage;
import org.openrm.api.CallRequest;
import org.openrm.api.CallRouter;
import org.openrm.api.EndReason;
import org.openrm.api.HealthFeedback;
import org.openrm.api.PolicyLedger;
import org.openrm.api.SipPinger;
import org.openrm.api.ResourceLedger;
import org.openrm.api.RouteResult;
import org.openrm.api.Session;
import org.openrm.api.SessionStore;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stateful, record-routing proxy (RFC 3261 section 16) between the SIP Server and the media servers.
 *
 * <p>Call state that must outlive an update of this bundle (sessions and their ports) lives in the
 * {@link SessionStore} of the api bundle. What lives here only (pending INVITE branches, transactions) is
 * rebuilt by the peers' retransmissions or swept: after an update, responses and in-dialog requests that
 * match no transaction are forwarded statelessly by Via and Route, and BYE still finds its session.
 */
@Component(service = {SipProxy.class, SipPinger.class}, configurationPid = "org.openrm.sip", immediate = true)
@Designate(ocd = SipProxy.Config.class)
public class SipProxy implements SipListener, SipPinger {
    /** UDP processors whose per-datagram buffer was made one byte (tests check it stays 1 across stack versions). */
    volatile int udpBuffersShrunk;
    private static final Logger LOG = LoggerFactory.getLogger(SipProxy.class);
    static final String GVP_HEADER = "X-Genesys-GVP-Session-ID";
    private static final Set<Integer> FAILOVER_CODES = Set.of(408, 480, 486, 500, 503);
    private static final String ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, REFER, NOTIFY";

    @ObjectClassDefinition(name = "openrm SIP", description = "SIP listening points and proxy behaviour")
    public @interface Config {
        @AttributeDefinition(description = "Address the SIP stack binds (UDP and TCP)")
        String listen_address() default "127.0.0.1";

        @AttributeDefinition(description = "Port the SIP stack binds (UDP and TCP)")
        int listen_port() default 5060;

        @AttributeDefinition(description = "Address put in Via and Record-Route; empty means listen.address")
        String advertised_address() default "";

        @AttributeDefinition(description = "The SIP Server (call controller) URI")
        String sipserver_uri() default "sip:127.0.0.1:5090";

        @AttributeDefinition(description = "CIDR list of peers whose requests are accepted; others get 403")
        String trusted_peers() default "127.0.0.0/8, ::1/128";

        @AttributeDefinition(description = "This node's id, sent in gvp.rm.datanodes of the GVP session id header")
        int node_id() default 1;

        @AttributeDefinition(description = "A media server that sends no response at all to an INVITE within "
                + "this time is treated as failed and the call moves to the next one")
        int invite_timeout_ms() default 3000;

        @AttributeDefinition(description = "A media server that timed out or refused a connection is skipped "
                + "for this long (0 disables)")
        int failure_quarantine_ms() default 5000;

        @AttributeDefinition(description = "Overload guard: INVITEs waiting for a final response above which new "
                + "INVITEs get 503 with Retry-After at once (pending = call rate x setup time)")
        int overload_max_pending() default 500;

        @AttributeDefinition(description = "Overload guard: received UDP messages waiting for a SIP worker thread "
                + "above which new INVITEs get 503 with Retry-After at once (in-dialog traffic keeps flowing)")
        int overload_max_queue() default 1000;

        @AttributeDefinition(description = "Messages that waited longer than this in the SIP stack's queue are "
                + "dropped (peers retransmit them); keeps the queue short when openrm is saturated")
        int queue_timeout_ms() default 4000;

        @AttributeDefinition(description = "Retry-After seconds on 503 from the overload guard")
        int overload_retry_after_s() default 1;

        @AttributeDefinition(description = "Sessions older than this are ended by the orphan sweep (seconds)")
        int session_max_age_s() default 14400;

        @AttributeDefinition(description = "Unanswered sessions with no live INVITE branch older than this are "
                + "ended by the orphan sweep (seconds)")
        int session_setup_max_s() default 64;

        @AttributeDefinition(description = "Messages parsed and encoded in the background at start so the first "
                + "real calls find the code compiled (0 disables)")
        int warmup_messages() default 30000;

        @AttributeDefinition(description = "JAIN-SIP worker threads (8 measured best on 2 cores)")
        int thread_pool_size() default 8;

        @AttributeDefinition(description = "Upper bound on server and client transactions each")
        int max_transactions() default 300000;

        @AttributeDefinition(description = "OPTIONS from an address not trusted gets no answer at all (scanners), instead of 403")
        boolean untrusted_options_silent() default false;

        @AttributeDefinition(description = "Largest SIP message accepted (bytes, UDP and TCP); larger ones get 513")
        int max_message_size() default 16384;

        @AttributeDefinition(description = "Most header fields in one message; more get 400")
        int max_headers() default 100;

        @AttributeDefinition(description = "Longest header field line (bytes); longer gets 400")
        int max_line_length() default 4096;

        @AttributeDefinition(description = "Most TCP connections open at once (incoming and outgoing); beyond it new ones are refused")
        int max_tcp_connections() default 1000;

        @AttributeDefinition(description = "Most TCP connections from one source address")
        int max_tcp_connections_per_source() default 50;

        @AttributeDefinition(description = "A TCP connection with no traffic for this long is closed (s)")
        int tcp_idle_timeout_s() default 120;

        @AttributeDefinition(description = "A TCP connection whose message is not complete this long after its first byte is closed (s; slowloris)")
        int tcp_message_timeout_s() default 10;

        @AttributeDefinition(description = "Upper bound on OPTIONS health pings in flight")
        int max_pings() default 20000;

        @AttributeDefinition(description = "openrm counts itself saturated (and health does not blame media servers "
                + "for timeouts) while its SIP timer runs this many ms late: a starved CPU or a long GC pause")
        int saturation_lag_ms() default 250;
    }

    private final SessionStore store;
    private final ResourceLedger ledger;
    private final PolicyLedger policy;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile CallRouter router;

    /** Media server health: told of failed calls; optional (without it a failure quarantines for failure.quarantine.ms). */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public volatile HealthFeedback health;

    private volatile Config config;
    /** OPTIONS pings in flight by Via branch. */
    private final Map<String, Ping> pings = new ConcurrentHashMap<>();
    /** Epoch ms of the last sign of own saturation (see {@link #lastSaturatedAt()}). */
    private volatile long saturatedAt;
    private volatile long lastTick;
    private volatile Cidr trusted;
    /** The SIP edge: strangers, malformed requests, oversized messages; survives stack restarts. */
    final EdgeGuard edge;
    /** The TCP side of the edge: connection bounds and timeouts; survives stack restarts. */
    final TcpGuard tcpGuard;
    private volatile ProxyStack stack;
    private SipProvider provider;
    private ListeningPoint udp;
    private ListeningPoint tcp;
    private HeaderFactory hf;
    private MessageFactory mf;
    private AddressFactory af;
    private String viaHost;
    private int viaPort;
    private ScheduledThreadPoolExecutor timer;
    private Warmup warmup;

    /** INVITE branches waiting for a final response, by the caller's top Via branch (CANCEL matches it). */
    private final Map<String, InviteContext> pending = new ConcurrentHashMap<>();
    private final Map<String, SipURI> uriCache = new ConcurrentHashMap<>();
    /** Branches given up for want of an answer, by branch id, with the time: a late answer is hung up. */
    private final Map<String, Long> abandoned = new ConcurrentHashMap<>();
    /** Media-server-originated INVITEs relayed to the SIP Server and not yet answered, for CANCEL. */
    private final Map<String, ClientTransaction> relayedInvites = new ConcurrentHashMap<>();
    public final Stats stats = new Stats();

    /** Counters for metrics and tests. */
    public static final class Stats {
        public final AtomicLong invites = new AtomicLong();
        public final AtomicLong overloadRejects = new AtomicLong();
        public final AtomicLong failovers = new AtomicLong();
        public final AtomicLong untrusted = new AtomicLong();
        public final AtomicLong statelessResponses = new AtomicLong();
        public final AtomicLong mediaServerOriginated = new AtomicLong();
        /** Answers that could not be sent because the peer's connection was gone. */
        public final AtomicLong undeliverable = new AtomicLong();
        /** Requests whose handling threw (answered 500): should stay 0, the fuzz tests check it. */
        public final AtomicLong requestErrors = new AtomicLong();
    }

    @Activate
    public SipProxy(@Reference SessionStore store, @Reference ResourceLedger ledger, @Reference PolicyLedger policy,
                    Config config) throws Exception {
        this.store = store;
        this.ledger = ledger;
        this.policy = policy;
        this.config = config;
        this.trusted = Cidr.parse(config.trusted_peers());
        this.edge = new EdgeGuard(limits(config, trusted), this::isKnownPeer);
        this.tcpGuard = new TcpGuard(tcpLimits(config));
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "openrm-sip-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        timer.scheduleWithFixedDelay(this::sweep, 10, 10, TimeUnit.SECONDS);
        lastTick = System.nanoTime();
        timer.scheduleAtFixedRate(this::sampleSaturation, 50, 50, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(this::sweepTcp, 1, 1, TimeUnit.SECONDS);
        try {
            startStack(config);
        } catch (Exception e) {
            timer.shutdownNow();
            throw e;
        }
    }

    @Modified
    void modified(Config c) throws Exception {
        Config old = this.config;
        Cidr t = Cidr.parse(c.trusted_peers());
        this.trusted = t;
        edge.limits(limits(c, t));
        tcpGuard.limits(tcpLimits(c));
        this.config = c;
        if (!old.listen_address().equals(c.listen_address()) || old.listen_port() != c.listen_port()
                || !old.advertised_address().equals(c.advertised_address())
                || old.thread_pool_size() != c.thread_pool_size() || old.max_transactions() != c.max_transactions()
                || old.queue_timeout_ms() != c.queue_timeout_ms()) {
            LOG.info("SIP listening settings changed: restarting the SIP stack");
            stopStack();
            startStack(c);
        } else {
            LOG.info("SIP settings updated without a stack restart");
        }
    }

    @Deactivate
    void deactivate() {
        for (Ping p : pings.values()) {
            completePing(p, new Result(0, 0, -1, STOPPED));
        }
        stopStack();
        timer.shutdownNow();
        try {
            timer.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pending.clear();
        LOG.info("SIP proxy stopped; {} live sessions stay in the session store", store.size());
    }

    private static TcpGuard.Limits tcpLimits(Config c) {
        return new TcpGuard.Limits(c.max_tcp_connections(), c.max_tcp_connections_per_source(), c.tcp_idle_timeout_s() * 1000L,
                c.tcp_message_timeout_s() * 1000L, c.max_message_size());
    }

    private static EdgeGuard.Limits limits(Config c, Cidr trusted) {
        return new EdgeGuard.Limits(trusted, c.untrusted_options_silent(), c.max_message_size(), c.max_headers(),
                c.max_line_length());
    }

    /** The SIP Server's host, or a configured or registered media server's: accepted even outside trusted.peers. */
    private boolean isKnownPeer(InetAddress a) {
        String ip = a.getHostAddress();
        CallRouter r = router;
        if (r != null && r.isMediaServerHost(ip)) {
            return true;
        }
        try {
            URI u = af.createURI(config.sipserver_uri());
            return u instanceof SipURI su && ip.equals(su.getHost());
        } catch (Exception e) {
            return false;
        }
    }

    private synchronized void startStack(Config c) throws Exception {
        Properties p = new Properties();
        p.setProperty("javax.sip.STACK_NAME", "openrm-sip-" + c.listen_port() + "-" + Long.toHexString(System.nanoTime()));
        p.setProperty("javax.sip.AUTOMATIC_DIALOG_SUPPORT", "off");
        p.setProperty("gov.nist.javax.sip.THREAD_POOL_SIZE", Integer.toString(c.thread_pool_size()));
        p.setProperty("gov.nist.javax.sip.REENTRANT_LISTENER", "true");
        p.setProperty("gov.nist.javax.sip.MAX_SERVER_TRANSACTIONS", Integer.toString(c.max_transactions()));
        p.setProperty("gov.nist.javax.sip.MAX_CLIENT_TRANSACTIONS", Integer.toString(c.max_transactions()));
        p.setProperty("gov.nist.javax.sip.TRACE_LEVEL", "0");
        p.setProperty("gov.nist.javax.sip.LOG_MESSAGE_CONTENT", "false");
        p.setProperty("gov.nist.javax.sip.STACK_LOGGER", Slf4jStackLogger.class.getName());
        p.setProperty("gov.nist.javax.sip.RECEIVE_UDP_BUFFER_SIZE", "4194304");
        p.setProperty("gov.nist.javax.sip.SEND_UDP_BUFFER_SIZE", "4194304");
        p.setProperty("gov.nist.javax.sip.CACHE_CLIENT_CONNECTIONS", "true");
        p.setProperty("gov.nist.javax.sip.TIMER_CLASS_NAME", "gov.nist.javax.sip.stack.timers.ScheduledExecutorSipTimer");
        p.setProperty("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "true");
        // TCP: hand parsed messages to a pool instead of processing them on the connection's reader thread,
        // so one busy connection (a SIP Server multiplexing all its calls) is not served by a single thread
        p.setProperty("gov.nist.javax.sip.TCP_POST_PARSING_THREAD_POOL_SIZE", Integer.toString(c.thread_pool_size()));
        p.setProperty("gov.nist.javax.sip.CONGESTION_CONTROL_TIMEOUT", Integer.toString(c.queue_timeout_ms()));
        ClassLoader tccl = Thread.currentThread().getContextClassLoader();
        Thread.currentThread().setContextClassLoader(SipProxy.class.getClassLoader());
        try {
            SipFactory f = SipFactory.getInstance();
            f.resetFactory();
            f.setPathName("gov.nist");
            hf = f.createHeaderFactory();
            mf = f.createMessageFactory();
            af = f.createAddressFactory();
            stack = new ProxyStack(p, tcpGuard);
            stack.edge = edge;
            stack.ownVia = v -> isOwnHost(v.getHost(), v.getPort());
            udp = stack.createListeningPoint(c.listen_address(), c.listen_port(), ListeningPoint.UDP);
            tcp = stack.createListeningPoint(c.listen_address(), c.listen_port(), ListeningPoint.TCP);
            udpBuffersShrunk = stack.shrinkUdpBuffers();
            if (udpBuffersShrunk == 0) {
                LOG.info("UDP receive buffers not shrunk (another JAIN-SIP version?): 64 KB allocated per datagram");
            }
            provider = stack.createSipProvider(udp);
            provider.addListeningPoint(tcp);
            provider.addSipListener(this);
            stack.start();
        } catch (Exception e) {
            stopStack();
            throw e;
        } finally {
            Thread.currentThread().setContextClassLoader(tccl);
        }
        warmup = new Warmup(mf, c.warmup_messages());
        Thread w = new Thread(warmup, "openrm-sip-warmup");
        w.setDaemon(true);
        w.setPriority(Thread.MIN_PRIORITY);
        w.start();
        viaHost = c.advertised_address().isBlank() ? c.listen_address() : c.advertised_address();
        viaPort = c.listen_port();
        LOG.info("SIP proxy listening on {}:{} (UDP, TCP), record-route {}:{}, SIP Server {}, trusted {}, node {}",
                c.listen_address(), c.listen_port(), viaHost, viaPort, c.sipserver_uri(), c.trusted_peers(),
                c.node_id());
    }

    private synchronized void stopStack() {
        if (warmup != null) {
            warmup.stop();
        }
        if (stack == null) {
            return;
        }
        try {
            if (provider != null) {
                provider.removeSipListener(this);
                stack.deleteSipProvider(provider);
            }
            if (udp != null) {
                stack.deleteListeningPoint(udp);
            }
            if (tcp != null) {
                stack.deleteListeningPoint(tcp);
            }
        } catch (Exception e) {
            LOG.warn("Error while stopping the SIP stack", e);
        } finally {
            stack.stop();
            stack = null;
            provider = null;
            udp = null;
            tcp = null;
        }
    }

    /** Received datagrams waiting for a SIP worker thread (0 while the stack restarts). */
    private int queueDepth() {
        ProxyStack s = stack;
        return s == null ? 0 : s.queueDepth();
    }

    /** The UDP/TCP port actually bound (for tests). */
    int port() {
        return udp.getPort();
    }

    // ------------------------------------------------------------------------------------------ requests

    @Override
    public void processRequest(RequestEvent ev) {
        Request req = ev.getRequest();
        if (LOG.isDebugEnabled()) {
            LOG.debug("{} {} call-id {} (server transaction {})", req.getMethod(), req.getRequestURI(), callId(req),
                    ev.getServerTransaction());
        }
        try {
            handleRequest(ev, req);
        } catch (Exception e) {
            if (isTransportFailure(e)) {
                // the peer is gone (its connection closed before the answer): nothing to answer to
                stats.undeliverable.incrementAndGet();
                LOG.debug("Answer to {} {} not delivered: {}", req.getMethod(), callId(req), e.toString());
                return;
            }
            stats.requestErrors.incrementAndGet();
            LOG.warn("Request {} {} failed: {}", req.getMethod(), callId(req), e.toString(), e);
            if (!Request.ACK.equals(req.getMethod())) {
                replyStateless(req, Response.SERVER_INTERNAL_ERROR, null, 0);
            }
        }
    }

    private void handleRequest(RequestEvent ev, Request req) throws Exception {
        String method = req.getMethod();
        // strangers and malformed requests were answered at the edge (EdgeGuard) already
        MaxForwardsHeader mfh = (MaxForwardsHeader) req.getHeader(MaxForwardsHeader.NAME);
        boolean toUs = isOwnUri(req.getRequestURI()) && req.getHeader(RouteHeader.NAME) == null;
        String toTag = ((ToHeader) req.getHeader(ToHeader.NAME)).getTag();
        boolean outOfDialog = toTag == null;
        // openrm is the destination of the SIP Server's requests, not an open relay: it answers OPTIONS
        // itself (a keep-alive), except one that may not travel further and is not for openrm (483)
        if (Request.OPTIONS.equals(method) && outOfDialog && (toUs || mfh == null || mfh.getMaxForwards() > 0)) {
            Response ok = mf.createResponse(Response.OK, req);
            ok.addHeader(hf.createAllowHeader(ALLOW));
            tagTo(ok);
            provider.sendResponse(ok);
            return;
        }
        if (mfh != null && mfh.getMaxForwards() <= 0) {
            if (!Request.ACK.equals(method)) {
                replyStateless(req, Response.TOO_MANY_HOPS, null, 0);
            }
            return;
        }
        if (Request.CANCEL.equals(method)) {
            onCancel(ev, req);
            return;
        }
        if (Request.INVITE.equals(method) && outOfDialog) {
            onInitialInvite(ev, req);
            return;
        }
        if (Request.REGISTER.equals(method) && outOfDialog) {
            onRegister(req);
            return;
        }
        if (outOfDialog && !Request.ACK.equals(method)) {
            // a new dialog or a standalone request openrm does not serve: answered as a UAS
            if (EdgeGuard.KNOWN.contains(method)) {
                Response r = mf.createResponse(Response.METHOD_NOT_ALLOWED, req);
                r.addHeader(hf.createAllowHeader(ALLOW));
                tagTo(r);
                provider.sendResponse(r);
            } else {
                replyStateless(req, Response.NOT_IMPLEMENTED, null, 0);
            }
            return;
        }
        onRouted(ev, req);
    }

    private void onInitialInvite(RequestEvent ev, Request req) throws Exception {
        stats.invites.incrementAndGet();
        Config c = config;
        if (pending.size() >= c.overload_max_pending() || queueDepth() >= c.overload_max_queue()) {
            stats.overloadRejects.incrementAndGet();
            saturatedAt = System.currentTimeMillis();
            replyStateless(req, Response.SERVICE_UNAVAILABLE, "Overloaded", c.overload_retry_after_s());
            return;
        }
        ServerTransaction st = newServerTransaction(ev, req);
        if (st == null) {
            return; // a retransmission: the existing transaction answers it
        }
        st.sendResponse(mf.createResponse(Response.TRYING, req));
        CallRequest cr = callRequest(req);
        CallRouter r = router;
        if (r == null) {
            reply(st, Response.SERVICE_UNAVAILABLE, "Routing Unavailable", c.overload_retry_after_s());
            return;
        }
        if (isMediaServerOriginated(req, cr, r)) {
            forwardToSipServer(st, req, cr);
            return;
        }
        long receivedAt = System.currentTimeMillis();
        RouteResult rr = r.route(cr);
        if (rr instanceof RouteResult.Rejection rej) {
            reply(st, rej.code(), rej.reason(), rej.retryAfterS());
            // reported (CDR with end reason rejected), never a live session
            FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
            Session rs = new Session(newSessionId(), cr.callId(), from.getTag(), cr.from(), cr.to(), cr.dialled(),
                    receivedAt);
            if (rej.selection() != null) {
                rs.selection(rej.selection()); // tenant and profile for the CDR; it holds no policy counts
            }
            store.rejected(rs, rej.code());
            return;
        }
        RouteResult.Target t = (RouteResult.Target) rr;
        FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
        Session s = new Session(newSessionId(), cr.callId(), from.getTag(), cr.from(), cr.to(), cr.dialled(),
                receivedAt);
        s.selection(t.selection());
        if (!store.open(s, t.resource(), t.group())) {
            ledger.release(t.resource());
            if (t.selection() != null) {
                policy.release(t.selection().policyKeys());
            }
            reply(st, Response.LOOP_DETECTED, "Call-ID In Use", 0);
            return;
        }
        InviteContext ctx = new InviteContext(st, req, cr, s, topBranch(req), t.maxAttempts());
        pending.put(ctx.branchKey, ctx);
        forward(ctx, t);
    }

    /**
     * A media server joins a resource group: {@code Contact: <sip:host:port;lrg=<group>;capacity=<n>>;expires=<s>}.
     * Only trusted peers get here (others had 403). Answered statelessly: a retransmission re-registers.
     */
    private void onRegister(Request req) throws Exception {
        CallRouter r = router;
        if (r == null) {
            replyStateless(req, Response.SERVICE_UNAVAILABLE, "Routing Unavailable", config.overload_retry_after_s());
            return;
        }
        javax.sip.header.ContactHeader contact = (javax.sip.header.ContactHeader) req.getHeader(javax.sip.header.ContactHeader.NAME);
        if (contact == null || !(contact.getAddress().getURI() instanceof SipURI cu)) {
            replyStateless(req, Response.BAD_REQUEST, "Contact With A SIP URI Required", 0);
            return;
        }
        if (cu.getHeaderNames() != null && cu.getHeaderNames().hasNext()) {
            replyStateless(req, Response.BAD_REQUEST, "Contact URI With Headers", 0);
            return;
        }
        javax.sip.header.ExpiresHeader eh = (javax.sip.header.ExpiresHeader) req.getHeader(javax.sip.header.ExpiresHeader.NAME);
        int expires = contact.getExpires() >= 0 ? contact.getExpires() : eh != null ? eh.getExpires() : 3600;
        String lrg = cu.getParameter("lrg");
        if (lrg == null && req.getRequestURI() instanceof SipURI ru) {
            lrg = ru.getParameter("lrg");
        }
        int capacity = -1;
        String cap = cu.getParameter("capacity");
        if (cap != null) {
            try {
                capacity = Integer.parseInt(cap);
            } catch (NumberFormatException e) {
                replyStateless(req, Response.BAD_REQUEST, "Bad capacity Parameter", 0);
                return;
            }
        }
        // the edge wrote the source address into the top Via as received
        ViaHeader topVia = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String src = topVia == null ? null : topVia.getReceived();
        if (expires > 0 && (src == null || !isIpLiteral(cu.getHost()) || !isIpLiteral(src)
                || !InetAddress.getByName(cu.getHost()).equals(InetAddress.getByName(src)))) {
            // a media server registers itself: a binding for another address would divert calls
            replyStateless(req, Response.FORBIDDEN, "Contact Must Be The Registering Address", 0);
            return;
        }
        String uri = (cu.isSecure() ? "sips:" : "sip:") + cu.getHost() + ":" + (cu.getPort() > 0 ? cu.getPort() : 5060)
                + (cu.getTransportParam() == null ? "" : ";transport=" + cu.getTransportParam());
        String name = r.register(uri, lrg, capacity, expires);
        if (name == null) {
            replyStateless(req, Response.NOT_FOUND, "Resource Group Not Found", 0);
            return;
        }
        Response ok = mf.createResponse(Response.OK, req);
        if (expires > 0) {
            javax.sip.header.ContactHeader bound = hf.createContactHeader(af.createAddress(af.createURI(uri)));
            bound.setExpires(expires);
            ok.addHeader(bound);
        }
        tagTo(ok);
        provider.sendResponse(ok);
    }

    /**
     * An INVITE that a media server sends inside a running GVP session (outbound leg, transfer), or from a
     * configured media server's address: it goes to the SIP Server without a new service selection.
     */
    private boolean isMediaServerOriginated(Request req, CallRequest cr, CallRouter r) {
        String gvp = cr.header(GVP_HEADER);
        if (gvp != null) {
            int semi = gvp.indexOf(';');
            String id = (semi < 0 ? gvp : gvp.substring(0, semi)).trim();
            if (store.bySessionId(id) != null) {
                return true;
            }
        }
        SIPMessage m = (SIPMessage) req;
        return m.getRemoteAddress() != null && r.isMediaServer(m.getRemoteAddress().getHostAddress(), m.getRemotePort());
    }

    private void forwardToSipServer(ServerTransaction st, Request req, CallRequest cr) {
        try {
            Request out = (Request) req.clone();
            SipURI target = (SipURI) af.createURI(config.sipserver_uri());
            if (!cr.dialled().isEmpty()) {
                target.setUser(cr.dialled());
            }
            out.setRequestURI(target);
            decrementMaxForwards(out);
            // the SIP Server is the destination: a route set preloaded beyond openrm is not followed
            out.removeHeader(RouteHeader.NAME);
            String transport = target.getTransportParam() == null ? "udp" : target.getTransportParam().toLowerCase(Locale.ROOT);
            out.addFirst(recordRoute(transport(req)));
            out.addFirst(hf.createViaHeader(viaHost, viaPort, transport, newBranch()));
            ClientTransaction ct = provider.getNewClientTransaction(out);
            ct.setApplicationData(new Relay(st));
            if (relayedInvites.size() < config.overload_max_pending()) {
                relayedInvites.put(topBranch(req), ct);
            }
            stats.mediaServerOriginated.incrementAndGet();
            ct.sendRequest();
        } catch (Exception e) {
            LOG.info("Call {}: cannot forward the media server's INVITE to the SIP Server: {}", cr.callId(), e.toString());
            reply(st, Response.SERVICE_UNAVAILABLE, "SIP Server Unreachable", 0);
        }
    }

    /** Sends the INVITE to {@code t}, whose port the session already holds. */
    private void forward(InviteContext ctx, RouteResult.Target t) {
        synchronized (ctx) { // the attempt counts whether or not the INVITE gets out
            ctx.attempts++;
            ctx.tried.add(t.resource());
            ctx.target = t;
            ctx.ct = null;
            ctx.responded = false;
            ctx.session.attempts(ctx.attempts);
        }
        ClientTransaction ct = null;
        try {
            Request out = (Request) ctx.request.clone();
            SipURI target = t.requestUri() != null ? (SipURI) af.createURI(t.requestUri())
                    : targetUri(t.uri(), ctx.call.dialled());
            out.setRequestURI(target);
            decrementMaxForwards(out);
            // the media server openrm chose is the destination: a route set the caller preloaded beyond openrm
            // is not followed (it would send the call elsewhere)
            out.removeHeader(RouteHeader.NAME);
            String transport = target.getTransportParam() == null ? "udp" : target.getTransportParam().toLowerCase(Locale.ROOT);
            out.addFirst(recordRoute(transport(ctx.request)));
            out.addFirst(hf.createViaHeader(viaHost, viaPort, transport, newBranch()));
            out.setHeader(hf.createHeader(GVP_HEADER, ctx.session.id() + ";gvp.rm.datanodes=node-id=" + config.node_id()));
            ct = provider.getNewClientTransaction(out);
            ct.setApplicationData(ctx);
            synchronized (ctx) {
                if (ctx.done) {
                    return; // CANCEL ended the call while this branch was being built: nothing goes out
                }
                ctx.ct = ct;
            }
            ct.sendRequest();
            final ClientTransaction sent = ct;
            ScheduledFuture<?> f = timer.schedule(() -> onNoAnswer(ctx, sent), config.invite_timeout_ms(),
                    TimeUnit.MILLISECONDS);
            synchronized (ctx) {
                if (ctx.ct == sent && !ctx.responded) {
                    ctx.noAnswer = f;
                } else {
                    f.cancel(false);
                }
            }
        } catch (Exception e) {
            LOG.info("Call {}: cannot send INVITE to {} ({}): {}", ctx.call.callId(), t.resource(), t.uri(), e.toString());
            quarantineAfterFailure(t.resource(), HealthFeedback.Failure.TRANSPORT_ERROR, "transport error " + e.getMessage());
            synchronized (ctx) {
                ct = ctx.ct; // the branch that failed: this one if it was registered, else none
            }
            branchFailed(ctx, ct, Response.SERVICE_UNAVAILABLE, null, "transport error");
        }
    }

    private void onNoAnswer(InviteContext ctx, ClientTransaction ct) {
        synchronized (ctx) {
            if (ctx.ct != ct || ctx.responded || ctx.done) {
                return;
            }
            // The answer may be sitting in openrm's own receive queue: while openrm is saturated, a silent
            // media server is not blamed (a few times at most; the transaction's own Timer B still ends it).
            if (queueDepth() >= config.overload_max_queue() / 4 && ctx.noAnswerExtensions < 4) {
                saturatedAt = System.currentTimeMillis();
                ctx.noAnswerExtensions++;
                ctx.noAnswer = timer.schedule(() -> onNoAnswer(ctx, ct), config.invite_timeout_ms(), TimeUnit.MILLISECONDS);
                return;
            }
        }
        RouteResult.Target t = ctx.target;
        LOG.info("Call {}: no answer from {} within {} ms", ctx.call.callId(), t.resource(), config.invite_timeout_ms());
        if (abandoned.size() < 10_000) {
            abandoned.put(ct.getBranchId(), System.currentTimeMillis());
        }
        quarantineAfterFailure(t.resource(), HealthFeedback.Failure.TIMEOUT, "no answer to INVITE");
        try {
            ct.terminate();
        } catch (Exception e) {
            LOG.debug("terminate", e);
        }
        branchFailed(ctx, ct, Response.REQUEST_TIMEOUT, null, "no answer");
    }

    private void quarantineAfterFailure(String resource, HealthFeedback.Failure failure, String why) {
        int ms = config.failure_quarantine_ms();
        HealthFeedback h = health;
        if (h != null) {
            h.callFailed(resource, failure, ms, why);
            return;
        }
        CallRouter r = router;
        if (r != null && ms > 0) {
            r.quarantine(resource, ms, why);
        }
    }

    /**
     * The current branch of {@code ctx} failed: release its port, then try the next media server or send the
     * caller the final response. {@code ct} is the failed branch; a stale branch is ignored.
     */
    private void branchFailed(InviteContext ctx, ClientTransaction ct, int code, Response resp, String why) {
        String failed;
        int attempts;
        boolean cancelled;
        synchronized (ctx) {
            if (ctx.done || ctx.ct != ct) {
                return;
            }
            ctx.ct = null;
            cancelNoAnswer(ctx);
            failed = ctx.target.resource();
            attempts = ctx.attempts;
            cancelled = ctx.cancelled;
        }
        store.detach(ctx.session);
        if (cancelled) {
            finish(ctx, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
            return;
        }
        CallRouter r = router;
        if (attempts < ctx.maxAttempts && r != null) {
            RouteResult rr = r.failover(ctx.call, ctx.session.selection(), failed, ctx.tried, attempts);
            if (rr instanceof RouteResult.Target next) {
                stats.failovers.incrementAndGet();
                LOG.debug("Call {}: {} from {} ({}), failing over to {}", ctx.call.callId(), code, failed, why,
                        next.resource());
                store.attach(ctx.session, next.resource(), next.group());
                boolean stillOn;
                synchronized (ctx) {
                    stillOn = !ctx.done && !ctx.cancelled;
                }
                if (!stillOn) {
                    store.detach(ctx.session);
                    finish(ctx, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
                    return;
                }
                forward(ctx, next);
                return;
            }
        }
        finish(ctx, resp, code, EndReason.FAILED);
    }

    /** Sends the caller a final response (relayed {@code resp}, or our own {@code code}) and ends the session. */
    private void finish(InviteContext ctx, Response resp, int code, EndReason reason) {
        synchronized (ctx) {
            if (ctx.done) {
                return;
            }
            ctx.done = true;
            cancelNoAnswer(ctx);
        }
        pending.remove(ctx.branchKey, ctx);
        int sent = code;
        try {
            if (resp != null) {
                sent = resp.getStatusCode();
                resp.removeFirst(ViaHeader.NAME);
                if (resp.getHeader(ViaHeader.NAME) != null) {
                    ctx.st.sendResponse(resp);
                } else {
                    reply(ctx.st, sent, resp.getReasonPhrase(), 0); // a peer that dropped the caller's Vias
                }
            } else {
                reply(ctx.st, code, null, 0);
            }
        } catch (Exception e) {
            LOG.debug("Call {}: final response not sent: {}", ctx.call.callId(), e.toString());
        }
        store.end(ctx.session, reason, sent);
    }

    private void onCancel(RequestEvent ev, Request req) throws Exception {
        ServerTransaction cst = newServerTransaction(ev, req);
        if (cst == null) {
            return;
        }
        InviteContext ctx = pending.get(topBranch(req));
        LOG.debug("CANCEL {} matches {}", callId(req), ctx);
        ClientTransaction relayed = ctx == null ? relayedInvites.remove(topBranch(req)) : null;
        if (relayed != null) {
            cst.sendResponse(mf.createResponse(Response.OK, req));
            try {
                provider.getNewClientTransaction(relayed.createCancel()).sendRequest();
            } catch (Exception e) {
                LOG.info("CANCEL {} not forwarded: {}", callId(req), e.toString());
            }
            return;
        }
        if (ctx == null) {
            reply(cst, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, null, 0);
            return;
        }
        cst.sendResponse(mf.createResponse(Response.OK, req));
        ClientTransaction toCancel = null;
        boolean between;
        synchronized (ctx) {
            if (ctx.done) {
                return;
            }
            ctx.cancelled = true;
            if (ctx.ct != null && ctx.responded && !ctx.cancelSent) {
                toCancel = ctx.ct;
                ctx.cancelSent = true;
            }
            between = ctx.ct == null;
        }
        if (toCancel != null) {
            sendCancel(ctx, toCancel);
        } else if (between) {
            store.detach(ctx.session);
            finish(ctx, null, Response.REQUEST_TERMINATED, EndReason.CANCEL);
        }
        // else: no response yet on the branch; CANCEL goes out with its first provisional, or the
        // no-answer timer ends the call with 487
    }

    private void sendCancel(InviteContext ctx, ClientTransaction ct) {
        try {
            ClientTransaction cct = provider.getNewClientTransaction(ct.createCancel());
            cct.sendRequest();
        } catch (Exception e) {
            LOG.info("Call {}: CANCEL not sent: {}", ctx.call.callId(), e.toString());
        }
    }

    /** Requests that follow a route set or Request-URI: in-dialog requests and other methods. */
    private void onRouted(RequestEvent ev, Request req) throws Exception {
        String method = req.getMethod();
        int ours = removeOwnRoutes(req);
        if (req.getHeader(RouteHeader.NAME) == null && isOwnUri(req.getRequestURI())) {
            if (!Request.ACK.equals(method)) {
                replyStateless(req, ((ToHeader) req.getHeader(ToHeader.NAME)).getTag() != null
                        ? Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST : Response.NOT_FOUND, null, 0);
            }
            return;
        }
        if (ours == 0) {
            // a dialog openrm did not record-route: not openrm's to relay (it is no open relay)
            if (!Request.ACK.equals(method)) {
                replyStateless(req, Response.NOT_FOUND, "Not Routed Through This Proxy", 0);
            }
            return;
        }
        String hop = nextHopHost(req);
        if (hop == null || !(isIpLiteral(hop) || isKnownHost(hop))) {
            // no name lookups for a destination a peer wrote: openrm relays only to addresses and its own peers
            LOG.debug("{} {}: next hop {} is neither an address nor a configured peer", method, callId(req), hop);
            if (!Request.ACK.equals(method)) {
                replyStateless(req, Response.NOT_FOUND, "Unknown Next Hop", 0);
            }
            return;
        }
        String transport = nextHopTransport(req);
        if (Request.ACK.equals(method) || Request.BYE.equals(method)) {
            // Forwarded statelessly (RFC 3261 16.11): no transactions, no copy of the message. A BYE
            // retransmitted by the caller gets the same branch, so the media server sees a retransmission;
            // its 200 comes back matching no transaction and is relayed by Via.
            if (Request.BYE.equals(method)) {
                endOnBye(req);
            }
            decrementMaxForwards(req);
            req.addFirst(hf.createViaHeader(viaHost, viaPort, transport, statelessBranch(req)));
            provider.sendRequest(req);
            return;
        }
        ServerTransaction st = newServerTransaction(ev, req);
        if (st == null) {
            return;
        }
        Request out = (Request) req.clone();
        decrementMaxForwards(out);
        out.addFirst(hf.createViaHeader(viaHost, viaPort, transport, newBranch()));
        try {
            ClientTransaction ct = provider.getNewClientTransaction(out);
            ct.setApplicationData(new Relay(st));
            ct.sendRequest();
        } catch (SipException e) {
            LOG.info("Call {}: cannot forward {}: {}", callId(req), method, e.toString());
            reply(st, Response.SERVICE_UNAVAILABLE, "Next Hop Unreachable", 0);
        }
    }

    private void endOnBye(Request req) {
        Session s = store.byCallId(callId(req));
        if (s != null) {
            String fromTag = ((FromHeader) req.getHeader(FromHeader.NAME)).getTag();
            boolean caller = fromTag != null && fromTag.equals(s.callerTag());
            store.end(s, caller ? EndReason.CALLER_BYE : EndReason.MEDIA_SERVER_BYE, 0);
        }
    }

    /** A branch derived from the request's own, so its retransmissions are forwarded with the same one. */
    private static String statelessBranch(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String b = v == null || v.getBranch() == null ? Long.toHexString(ThreadLocalRandom.current().nextLong())
                : v.getBranch();
        CSeqHeader cseq = (CSeqHeader) req.getHeader(CSeqHeader.NAME);
        return "z9hG4bK-orm-s" + Integer.toHexString(b.hashCode()) + Integer.toHexString((b + callId(req)
                + (cseq == null ? "" : cseq.getSeqNumber() + cseq.getMethod())).hashCode());
    }

    // ----------------------------------------------------------------------------------------- responses

    @Override
    public void processResponse(ResponseEvent ev) {
        Response resp = ev.getResponse();
        try {
            ClientTransaction ct = ev.getClientTransaction();
            Object ad = ct == null ? null : ct.getApplicationData();
            if (ad instanceof InviteContext ctx) {
                onInviteResponse(ctx, ct, resp);
            } else if (ad instanceof Relay relay) {
                if (resp.getStatusCode() >= 200 && Request.INVITE.equals(ct.getRequest().getMethod())) {
                    relayedInvites.values().remove(ct);
                }
                if (resp.getStatusCode() >= 101 || resp.getStatusCode() < 100) {
                    resp.removeFirst(ViaHeader.NAME);
                    relay.st.sendResponse(resp);
                }
            } else if (ct == null) {
                if (!pongReceived(resp)) {
                    relayStateless(resp);
                }
            }
            // else: response to our own CANCEL, nothing to do
        } catch (Exception e) {
            LOG.debug("Response {} {} not relayed: {}", resp.getStatusCode(), callId(resp), e.toString());
        }
    }

    private void onInviteResponse(InviteContext ctx, ClientTransaction ct, Response resp) throws Exception {
        int code = resp.getStatusCode();
        boolean sendCancel = false;
        synchronized (ctx) {
            if (ctx.ct != ct) {
                if (code >= 200 && code < 300) {
                    LOG.info("Call {}: late 2xx from {} on an abandoned branch: acknowledged and hung up",
                            ctx.call.callId(), ct.getRequest().getRequestURI());
                    hangUpAbandoned(resp, transport(ct.getRequest()), ct.getRequest().getRequestURI());
                }
                return;
            }
            ctx.responded = true;
            cancelNoAnswer(ctx);
            if (code < 200 && ctx.cancelled && !ctx.cancelSent) {
                ctx.cancelSent = true;
                sendCancel = true;
            }
        }
        if (sendCancel) {
            sendCancel(ctx, ct);
        }
        if (code < 200) {
            if (code > 100) {
                resp.removeFirst(ViaHeader.NAME);
                try {
                    ctx.st.sendResponse(resp);
                } catch (SipException e) {
                    LOG.debug("provisional not relayed", e);
                }
            }
            return;
        }
        if (code < 300) {
            ctx.session.markAnswered(System.currentTimeMillis());
            synchronized (ctx) {
                if (ctx.done) {
                    return;
                }
                ctx.done = true;
            }
            pending.remove(ctx.branchKey, ctx);
            ctx.session.finalCode(code);
            resp.removeFirst(ViaHeader.NAME);
            ctx.st.sendResponse(resp);
            return;
        }
        if (FAILOVER_CODES.contains(code)) {
            if (code == Response.SERVICE_UNAVAILABLE) {
                RetryAfterHeader ra = (RetryAfterHeader) resp.getHeader(RetryAfterHeader.NAME);
                CallRouter r = router;
                HealthFeedback h = health;
                if (ra != null && ra.getRetryAfter() > 0 && h != null) {
                    h.callFailed(ctx.target.resource(), HealthFeedback.Failure.RETRY_AFTER, ra.getRetryAfter() * 1000L,
                            "503 with Retry-After " + ra.getRetryAfter() + " s");
                } else if (ra != null && ra.getRetryAfter() > 0 && r != null) {
                    r.quarantine(ctx.target.resource(), ra.getRetryAfter() * 1000L, "503 with Retry-After");
                }
            }
            branchFailed(ctx, ct, code, resp, "final response " + code);
            return;
        }
        synchronized (ctx) {
            if (ctx.ct == ct) {
                ctx.ct = null;
            }
        }
        finish(ctx, resp, code, ctx.cancelled && code == Response.REQUEST_TERMINATED ? EndReason.CANCEL : EndReason.FAILED);
    }

    /**
     * A media server answered 2xx after openrm gave its branch up (no answer in time, call moved on): the
     * media server holds a call nobody will use, so openrm acknowledges it and sends BYE (RFC 3261 16.7
     * leaves a proxy no other way to free it).
     */
    private void hangUpAbandoned(Response resp, String transport, URI fallback) {
        try {
            javax.sip.header.ContactHeader contact = (javax.sip.header.ContactHeader) resp.getHeader(javax.sip.header.ContactHeader.NAME);
            URI target = contact != null ? contact.getAddress().getURI() : fallback;
            if (target == null) {
                return;
            }
            CallIdHeader callId = (CallIdHeader) resp.getHeader(CallIdHeader.NAME);
            FromHeader from = (FromHeader) resp.getHeader(FromHeader.NAME);
            ToHeader to = (ToHeader) resp.getHeader(ToHeader.NAME);
            long seq = ((CSeqHeader) resp.getHeader(CSeqHeader.NAME)).getSeqNumber();
            Request ack = mf.createRequest(target, Request.ACK, callId, hf.createCSeqHeader(seq, Request.ACK), from, to,
                    java.util.List.of(hf.createViaHeader(viaHost, viaPort, transport, newBranch())), hf.createMaxForwardsHeader(70));
            provider.sendRequest(ack);
            Request bye = mf.createRequest(target, Request.BYE, callId, hf.createCSeqHeader(seq + 1, Request.BYE), from, to,
                    java.util.List.of(hf.createViaHeader(viaHost, viaPort, transport, newBranch())), hf.createMaxForwardsHeader(70));
            provider.getNewClientTransaction(bye).sendRequest();
        } catch (Exception e) {
            LOG.info("Late 2xx on an abandoned branch not hung up: {}", e.toString());
        }
    }

    /** A response that matches no client transaction (retransmitted 2xx, or after a bundle update). */
    private void relayStateless(Response resp) throws SipException {
        ViaHeader top = (ViaHeader) resp.getHeader(ViaHeader.NAME);
        if (top == null || !isOwnHost(top.getHost(), top.getPort())) {
            return;
        }
        if (top.getBranch() != null && abandoned.containsKey(top.getBranch())) {
            // an answer on a branch given up (the call went elsewhere): never relayed to the caller
            int code = resp.getStatusCode();
            if (code >= 200 && code < 300) {
                LOG.info("Call {}: late 2xx on an abandoned branch: acknowledged and hung up", callId(resp));
                hangUpAbandoned(resp, top.getTransport().toLowerCase(Locale.ROOT), null);
            }
            return;
        }
        resp.removeFirst(ViaHeader.NAME);
        if (resp.getHeader(ViaHeader.NAME) == null) {
            return;
        }
        stats.statelessResponses.incrementAndGet();
        CSeqHeader cseq = (CSeqHeader) resp.getHeader(CSeqHeader.NAME);
        int code = resp.getStatusCode();
        if (cseq != null && Request.INVITE.equals(cseq.getMethod()) && code >= 200) {
            Session s = store.byCallId(callId(resp));
            if (s != null && code < 300) {
                s.markAnswered(System.currentTimeMillis());
            } else if (s != null && !s.answered()) {
                store.end(s, EndReason.FAILED, code);
            }
        }
        provider.sendResponse(resp);
    }

    @Override
    public void processTimeout(TimeoutEvent ev) {
        if (ev.isServerTransaction()) {
            return;
        }
        ClientTransaction ct = ev.getClientTransaction();
        Object ad = ct == null ? null : ct.getApplicationData();
        if (ad instanceof InviteContext ctx) {
            if (abandoned.size() < 10_000) {
                abandoned.put(ct.getBranchId(), System.currentTimeMillis());
            }
            quarantineAfterFailure(ctx.target.resource(), HealthFeedback.Failure.TIMEOUT, "INVITE transaction timeout");
            branchFailed(ctx, ct, Response.REQUEST_TIMEOUT, null, "timeout");
        } else if (ad instanceof Relay relay) {
            relayedInvites.values().remove(ct);
            reply(relay.st, Response.REQUEST_TIMEOUT, null, 0);
        }
    }

    @Override
    public void processIOException(IOExceptionEvent ev) {
        LOG.debug("SIP transport error towards {}:{}/{}", ev.getHost(), ev.getPort(), ev.getTransport());
    }

    @Override
    public void processTransactionTerminated(TransactionTerminatedEvent ev) { }

    @Override
    public void processDialogTerminated(DialogTerminatedEvent ev) { }

    // ------------------------------------------------------------------------------------------- sweep

    /** Ends sessions that no signalling will ever end (lost BYE, a branch lost in a bundle update). */
    void sweep() {
        try {
            long now = System.currentTimeMillis();
            Config c = config;
            Set<String> live = new HashSet<>();
            for (InviteContext ctx : pending.values()) {
                live.add(ctx.session.id());
            }
            for (Session s : store.sessions()) {
                long age = now - s.receivedAt();
                if (age > c.session_max_age_s() * 1000L
                        || (!s.answered() && age > c.session_setup_max_s() * 1000L && !live.contains(s.id()))) {
                    if (store.end(s, EndReason.TIMEOUT, s.finalCode())) {
                        LOG.info("Session {} (Call-ID {}) ended by the orphan sweep after {} s", s.id(), s.callId(), age / 1000);
                    }
                }
            }
            abandoned.values().removeIf(at -> now - at > 64_000);
        } catch (RuntimeException e) {
            LOG.warn("Orphan sweep failed", e);
        }
    }

    // ------------------------------------------------------------------------------------ health pings

    /** The error of a ping that ended because the SIP stack stopped: not the media server's fault. */
    static final String STOPPED = "stopped";

    /** One OPTIONS in flight; completed exactly once (response, timeout or send failure). */
    private static final class Ping {
        final String branch;
        final long sentNanos = System.nanoTime();
        final java.util.function.Consumer<Result> done;
        final java.util.concurrent.atomic.AtomicBoolean completed = new java.util.concurrent.atomic.AtomicBoolean();
        volatile ScheduledFuture<?> timeout;
        volatile ScheduledFuture<?> retransmit;

        Ping(String branch, java.util.function.Consumer<Result> done) {
            this.branch = branch;
            this.done = done;
        }
    }

    @Override
    public void ping(String uri, long timeoutMs, java.util.function.Consumer<Result> done) {
        Config c = config;
        SipProvider prov = provider;
        if (prov == null) {
            done.accept(new Result(0, 0, -1, "transport error: SIP stack not running"));
            return;
        }
        if (pings.size() >= c.max_pings()) {
            done.accept(new Result(0, 0, -1, "transport error: max.pings " + c.max_pings() + " in flight"));
            return;
        }
        String branch = newBranch();
        Ping p = new Ping(branch, done);
        try {
            URI target = af.createURI(uri);
            String transport = target instanceof SipURI su && su.getTransportParam() != null
                    ? su.getTransportParam().toLowerCase(Locale.ROOT) : "udp";
            SipURI fromUri = af.createSipURI("openrm", viaHost);
            fromUri.setPort(viaPort);
            FromHeader from = hf.createFromHeader(af.createAddress(fromUri), Long.toHexString(ThreadLocalRandom.current().nextLong()));
            ToHeader to = hf.createToHeader(af.createAddress(target), null);
            CallIdHeader cid = hf.createCallIdHeader("ping-" + branch.substring(12) + "@" + viaHost);
            Request options = mf.createRequest(target, Request.OPTIONS, cid, hf.createCSeqHeader(1L, Request.OPTIONS),
                    from, to, java.util.List.of(hf.createViaHeader(viaHost, viaPort, transport, branch)),
                    hf.createMaxForwardsHeader(70));
            options.addHeader(hf.createHeader("Accept", "application/sdp"));
            pings.put(branch, p);
            p.timeout = timer.schedule(() -> completePing(p, new Result(0, 0, -1, "timeout")), timeoutMs, TimeUnit.MILLISECONDS);
            prov.sendRequest(options);
            if ("udp".equals(transport)) {
                // RFC 3261 timer E: retransmit at 500 ms, then 1 s, ... while the ping waits
                scheduleRetransmit(p, options, 500);
            }
        } catch (Exception e) {
            completePing(p, new Result(0, 0, -1, "transport error: " + e.getMessage()));
        }
    }

    private void scheduleRetransmit(Ping p, Request options, long afterMs) {
        p.retransmit = timer.schedule(() -> {
            if (p.completed.get()) {
                return;
            }
            try {
                SipProvider prov = provider;
                if (prov != null) {
                    prov.sendRequest(options);
                }
            } catch (Exception e) {
                LOG.debug("OPTIONS retransmission failed", e);
            }
            scheduleRetransmit(p, options, Math.min(afterMs * 2, 4000));
        }, afterMs, TimeUnit.MILLISECONDS);
    }

    private void completePing(Ping p, Result r) {
        if (!p.completed.compareAndSet(false, true)) {
            return;
        }
        pings.remove(p.branch, p);
        ScheduledFuture<?> f = p.timeout;
        if (f != null) {
            f.cancel(false);
        }
        f = p.retransmit;
        if (f != null) {
            f.cancel(false);
        }
        try {
            p.done.accept(r);
        } catch (RuntimeException e) {
            LOG.warn("Health ping callback failed", e);
        }
    }

    /** True if {@code resp} answers one of openrm's own OPTIONS pings (then it is consumed here). */
    private boolean pongReceived(Response resp) {
        if (pings.isEmpty()) {
            return false;
        }
        ViaHeader top = (ViaHeader) resp.getHeader(ViaHeader.NAME);
        Ping p = top == null || top.getBranch() == null ? null : pings.get(top.getBranch());
        if (p == null) {
            return false;
        }
        if (resp.getStatusCode() >= 200) {
            RetryAfterHeader ra = (RetryAfterHeader) resp.getHeader(RetryAfterHeader.NAME);
            completePing(p, new Result(resp.getStatusCode(), ra == null ? 0 : ra.getRetryAfter(),
                    (System.nanoTime() - p.sentNanos) / 1_000_000, null));
        }
        return true;
    }

    @Override
    public long lastSaturatedAt() {
        return saturatedAt;
    }

    private void sweepTcp() {
        try {
            tcpGuard.sweep();
        } catch (RuntimeException e) {
            LOG.warn("TCP sweep failed", e);
        }
    }

    /** Every 50 ms: a deep receive queue, a pending-INVITE table near its bound, or a late timer means saturation. */
    private void sampleSaturation() {
        long now = System.nanoTime();
        long lateMs = (now - lastTick) / 1_000_000 - 50;
        lastTick = now;
        Config c = config;
        if (lateMs > c.saturation_lag_ms() || queueDepth() >= c.overload_max_queue() / 4
                || pending.size() >= c.overload_max_pending() * 8L / 10) {
            saturatedAt = System.currentTimeMillis();
        }
    }

    // ----------------------------------------------------------------------------------------- helpers

    private ServerTransaction newServerTransaction(RequestEvent ev, Request req) throws SipException {
        ServerTransaction st = ev.getServerTransaction();
        if (st != null) {
            if (!st.getRequest().getMethod().equals(req.getMethod())) {
                // a peer reused another request's branch: the stack matched it to that transaction; nothing
                // sensible can be answered on it
                LOG.debug("{} {} reuses the branch of a {} transaction: dropped", req.getMethod(), callId(req),
                        st.getRequest().getMethod());
                return null;
            }
            return st; // the stack made one already (it does for CANCEL); retransmissions never reach us
        }
        try {
            return provider.getNewServerTransaction(req);
        } catch (TransactionAlreadyExistsException e) {
            return null;
        }
    }

    private void reply(ServerTransaction st, int code, String reason, int retryAfterS) {
        try {
            Response r = mf.createResponse(code, st.getRequest());
            if (reason != null) {
                r.setReasonPhrase(reason);
            }
            if (retryAfterS > 0) {
                r.setHeader(hf.createRetryAfterHeader(retryAfterS));
            }
            tagTo(r);
            st.sendResponse(r);
        } catch (Exception e) {
            LOG.debug("Response {} not sent: {}", code, e.toString());
        }
    }

    private void replyStateless(Request req, int code, String reason, int retryAfterS) {
        try {
            Response r = mf.createResponse(code, req);
            if (reason != null) {
                r.setReasonPhrase(reason);
            }
            if (retryAfterS > 0) {
                r.setHeader(hf.createRetryAfterHeader(retryAfterS));
            }
            tagTo(r);
            provider.sendResponse(r);
        } catch (Exception e) {
            LOG.debug("Stateless response {} not sent: {}", code, e.toString());
        }
    }

    private void tagTo(Response r) throws Exception {
        ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
        if (to != null && to.getTag() == null) {
            to.setTag(Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xFFFFFFFFFFFFL));
        }
    }

    private CallRequest callRequest(Request req) {
        URI ruri = req.getRequestURI();
        ToHeader to = (ToHeader) req.getHeader(ToHeader.NAME);
        FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
        String dialled = ruri instanceof SipURI su && su.getUser() != null ? su.getUser()
                : to.getAddress().getURI() instanceof SipURI tu && tu.getUser() != null ? tu.getUser() : "";
        Map<String, String> headers = new HashMap<>();
        for (ListIterator<String> it = req.getHeaderNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.regionMatches(true, 0, "X-Genesys-", 0, 10)) {
                Header h = req.getHeader(name);
                String v = h.toString();
                int colon = v.indexOf(':');
                headers.put(name.toLowerCase(Locale.ROOT), v.substring(colon + 1).trim());
            }
        }
        SIPMessage m = (SIPMessage) req;
        String source = m.getRemoteAddress() == null ? "" : m.getRemoteAddress().getHostAddress() + ":" + m.getRemotePort();
        return new CallRequest(callId(req), ruri.toString(), dialled, from.getAddress().getURI().toString(),
                to.getAddress().getURI().toString(), headers, source);
    }

    private SipURI targetUri(String resourceUri, String user) throws Exception {
        SipURI base = uriCache.get(resourceUri);
        if (base == null) {
            if (uriCache.size() > 10_000) {
                uriCache.clear();
            }
            base = (SipURI) af.createURI(resourceUri);
            uriCache.put(resourceUri, base);
        }
        SipURI u = (SipURI) base.clone();
        if (user != null && !user.isEmpty() && u.getUser() == null) {
            u.setUser(user);
        }
        return u;
    }

    private RecordRouteHeader recordRoute(String transport) throws Exception {
        SipURI u = af.createSipURI(null, viaHost);
        u.setPort(viaPort);
        if (!"udp".equalsIgnoreCase(transport)) {
            u.setTransportParam(transport);
        }
        u.setLrParam();
        return hf.createRecordRouteHeader(af.createAddress(u));
    }

    private void decrementMaxForwards(Request out) throws Exception {
        MaxForwardsHeader m = (MaxForwardsHeader) out.getHeader(MaxForwardsHeader.NAME);
        if (m == null) {
            out.setHeader(hf.createMaxForwardsHeader(69));
        } else {
            m.decrementMaxForwards();
        }
    }

    /** Removes Route entries at the top that point at this proxy (loose routing, RFC 3261 16.4). */
    /** Removes openrm's own Route entries from the top; returns how many there were. */
    private int removeOwnRoutes(Request req) {
        for (int i = 0; i < 4; i++) {
            RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
            if (r == null || !isOwnUri(r.getAddress().getURI())) {
                return i;
            }
            req.removeFirst(RouteHeader.NAME);
        }
        return 4;
    }

    private static String nextHopHost(Request req) {
        RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
        URI u = r != null ? r.getAddress().getURI() : req.getRequestURI();
        return u instanceof SipURI su ? su.getHost() : null;
    }

    static boolean isTransportFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.io.IOException) {
                return true;
            }
            String m = t.getMessage();
            if (m != null && (m.startsWith("Could not connect") || m.contains("Socket is closed")
                    || m.contains("Connection refused"))) {
                return true;
            }
        }
        return false;
    }

    static boolean isIpLiteral(String host) {
        if (host.startsWith("[")) {
            return true;
        }
        if (host.indexOf(':') >= 0) {
            return true; // IPv6 without brackets
        }
        int dots = 0;
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (c == '.') {
                dots++;
            } else if (c < '0' || c > '9') {
                return false;
            }
        }
        return dots == 3;
    }

    /** The SIP Server's host or a media server's host as configured (possibly a name the operator chose). */
    private boolean isKnownHost(String host) {
        CallRouter r = router;
        if (r != null && r.isMediaServerHost(host)) {
            return true;
        }
        try {
            return af.createURI(config.sipserver_uri()) instanceof SipURI su && host.equalsIgnoreCase(su.getHost());
        } catch (Exception e) {
            return false;
        }
    }

    private String nextHopTransport(Request req) {
        RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
        URI u = r != null ? r.getAddress().getURI() : req.getRequestURI();
        if (u instanceof SipURI su && su.getTransportParam() != null) {
            return su.getTransportParam().toLowerCase(Locale.ROOT);
        }
        return "udp";
    }

    private static String transport(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        return v == null ? "udp" : v.getTransport().toLowerCase(Locale.ROOT);
    }

    private boolean isOwnUri(URI uri) {
        return uri instanceof SipURI su && isOwnHost(su.getHost(), su.getPort());
    }

    private boolean isOwnHost(String host, int port) {
        int p = port <= 0 ? 5060 : port;
        return p == viaPort && (viaHost.equals(host) || config.listen_address().equals(host));
    }

    private static String topBranch(Request req) {
        ViaHeader v = (ViaHeader) req.getHeader(ViaHeader.NAME);
        String b = v == null ? null : v.getBranch();
        return (b == null ? "" : b) + "|" + (v == null ? "" : v.getHost() + ":" + v.getPort());
    }

    private static String callId(javax.sip.message.Message m) {
        CallIdHeader h = (CallIdHeader) m.getHeader(CallIdHeader.NAME);
        return h == null ? "" : h.getCallId();
    }

    private static String newBranch() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return "z9hG4bK-orm-" + Long.toHexString(r.nextLong()) + Long.toHexString(r.nextLong());
    }

    private static String newSessionId() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return new UUID(r.nextLong(), r.nextLong()).toString().toUpperCase(Locale.ROOT);
    }

    private static void cancelNoAnswer(InviteContext ctx) {
        if (ctx.noAnswer != null) {
            ctx.noAnswer.cancel(false);
            ctx.noAnswer = null;
        }
    }

    /** A non-INVITE request forwarded statefully: responses go back through {@code st}. */
    private record Relay(ServerTransaction st) { }

    /** One caller INVITE and its branches towards media servers; guarded by its own monitor. */
    static final class InviteContext {
        final ServerTransaction st;
        final Request request;
        final CallRequest call;
        final Session session;
        final String branchKey;
        final int maxAttempts;
        final Set<String> tried = ConcurrentHashMap.newKeySet();
        RouteResult.Target target;
        ClientTransaction ct;
        ScheduledFuture<?> noAnswer;
        int noAnswerExtensions;
        int attempts;
        boolean responded;
        boolean cancelled;
        boolean cancelSent;
        boolean done;

        InviteContext(ServerTransaction st, Request request, CallRequest call, Session session, String branchKey,
                      int maxAttempts) {
            this.st = st;
            this.request = request;
            this.call = call;
            this.session = session;
            this.branchKey = branchKey;
            this.maxAttempts = maxAttempts;
        }
    }
}
