package org.openrm.sip.stack;

import java.util.concurrent.ThreadLocalRandom;

import javax.sip.ListeningPoint;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.SipProvider;
import javax.sip.TransactionAlreadyExistsException;
import javax.sip.RequestEvent;
import javax.sip.address.AddressFactory;
import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.HeaderFactory;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.RecordRouteHeader;
import javax.sip.header.RouteHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything a SIP worker needs from the running stack and the configuration, as one immutable value. The
 * {@link StackRuntime} publishes a new one through a single volatile field when the stack starts, restarts or the
 * configuration changes; a worker reads it once per message, so it never sees a provider of one stack with the
 * Via address of another.
 */
public final class StackContext {
    private static final Logger LOG = LoggerFactory.getLogger(StackContext.class);

    public final SipConfig config;
    public final SipProvider provider;
    public final HeaderFactory hf;
    public final MessageFactory mf;
    public final AddressFactory af;
    public final ListeningPoint udp;
    public final ListeningPoint tcp;
    /** Address and port written into Via and Record-Route. */
    public final String viaHost;
    public final int viaPort;
    /** The SIP Server's URI, parsed; null if it is not a SIP URI. */
    public final SipURI sipServer;
    /** What the byte-level relay on the UDP receive thread needs of this context; null when raw.relay is off. */
    public final RawRelay.Self rawSelf;

    public StackContext(SipConfig config, SipProvider provider, HeaderFactory hf, MessageFactory mf, AddressFactory af,
                 ListeningPoint udp, ListeningPoint tcp) {
        this.config = config;
        this.provider = provider;
        this.hf = hf;
        this.mf = mf;
        this.af = af;
        this.udp = udp;
        this.tcp = tcp;
        this.viaHost = config.advertised_address().isBlank() ? config.listen_address() : config.advertised_address();
        this.viaPort = config.listen_port();
        this.rawSelf = config.raw_relay() ? new RawRelay.Self(viaHost, config.listen_address(), viaPort, config.max_headers(),
                config.max_line_length()) : null;
        SipURI s = null;
        try {
            URI u = af.createURI(config.sipserver_uri());
            s = u instanceof SipURI su ? su : null;
        } catch (Exception e) {
            LOG.error("PID org.openrm.sip key sipserver.uri: '{}' is not a SIP URI: {}", config.sipserver_uri(), e.toString());
        }
        this.sipServer = s;
    }

    /** The same stack under a new configuration that needs no restart. */
    public StackContext with(SipConfig c) {
        return new StackContext(c, provider, hf, mf, af, udp, tcp);
    }

    /** A copy of the SIP Server's URI (callers change it). */
    public SipURI sipServerUri() {
        return sipServer == null ? null : (SipURI) sipServer.clone();
    }

    public boolean isSipServerHost(String host) {
        return sipServer != null && host.equalsIgnoreCase(sipServer.getHost());
    }

    public boolean isOwnHost(String host, int port) {
        int p = port <= 0 ? 5060 : port;
        return p == viaPort && (viaHost.equals(host) || config.listen_address().equals(host));
    }

    public boolean isOwnUri(URI uri) {
        return uri instanceof SipURI su && isOwnHost(su.getHost(), su.getPort());
    }

    /** Removes openrm's own Route entries from the top (loose routing, RFC 3261 16.4); returns how many there were. */
    public int removeOwnRoutes(Request req) {
        for (int i = 0; i < 4; i++) {
            RouteHeader r = (RouteHeader) req.getHeader(RouteHeader.NAME);
            if (r == null || !isOwnUri(r.getAddress().getURI())) {
                return i;
            }
            req.removeFirst(RouteHeader.NAME);
        }
        return 4;
    }

    public ViaHeader via(String transport, String branch) throws Exception {
        return hf.createViaHeader(viaHost, viaPort, transport, branch);
    }

    public RecordRouteHeader recordRoute(String transport) throws Exception {
        SipURI u = af.createSipURI(null, viaHost);
        u.setPort(viaPort);
        if (!"udp".equalsIgnoreCase(transport)) {
            u.setTransportParam(transport);
        }
        u.setLrParam();
        return hf.createRecordRouteHeader(af.createAddress(u));
    }

    public void decrementMaxForwards(Request out) throws Exception {
        MaxForwardsHeader m = (MaxForwardsHeader) out.getHeader(MaxForwardsHeader.NAME);
        if (m == null) {
            out.setHeader(hf.createMaxForwardsHeader(69));
        } else {
            m.decrementMaxForwards();
        }
    }

    /** The server transaction of a request, made if the stack has none; null for a retransmission or a misfit. */
    public ServerTransaction serverTransaction(RequestEvent ev, Request req) throws SipException {
        ServerTransaction st = ev.getServerTransaction();
        if (st != null) {
            if (!st.getRequest().getMethod().equals(req.getMethod()) || !cseqMethod(st.getRequest()).equals(cseqMethod(req))) {
                // a peer reused another request's branch: the stack matched it to that transaction; nothing
                // sensible can be answered on it
                LOG.debug("{} {} reuses the branch of a {} transaction: dropped", req.getMethod(), req.getHeader(javax.sip.header.CallIdHeader.NAME),
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

    private static String cseqMethod(Request r) {
        javax.sip.header.CSeqHeader c = (javax.sip.header.CSeqHeader) r.getHeader(javax.sip.header.CSeqHeader.NAME);
        return c == null ? "" : c.getMethod();
    }

    /** Answers on a server transaction; a failure to send is logged at DEBUG (the peer retransmits or is gone). */
    public void reply(ServerTransaction st, int code, String reason, int retryAfterS) {
        try {
            st.sendResponse(response(st.getRequest(), code, reason, retryAfterS));
        } catch (Exception e) {
            LOG.debug("Response {} not sent: {}", code, e.toString());
        }
    }

    /** Answers without a transaction. */
    public void replyStateless(Request req, int code, String reason, int retryAfterS) {
        try {
            provider.sendResponse(response(req, code, reason, retryAfterS));
        } catch (Exception e) {
            LOG.debug("Stateless response {} not sent: {}", code, e.toString());
        }
    }

    public Response response(Request req, int code, String reason, int retryAfterS) throws Exception {
        Response r = mf.createResponse(code, req);
        if (reason != null) {
            r.setReasonPhrase(reason);
        }
        if (retryAfterS > 0) {
            r.setHeader(hf.createRetryAfterHeader(retryAfterS));
        }
        tagTo(r);
        return r;
    }

    /** A response of openrm's own as a UAS carries a To tag. */
    public void tagTo(Response r) throws Exception {
        ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
        if (to != null && to.getTag() == null) {
            to.setTag(Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xFFFFFFFFFFFFL));
        }
    }
}
