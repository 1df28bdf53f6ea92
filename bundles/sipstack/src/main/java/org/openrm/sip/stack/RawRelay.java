package org.openrm.sip.stack;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;

/**
 * Relays what a record-routing proxy forwards statelessly straight from the received bytes, as C proxies do: an
 * in-dialog ACK or BYE over UDP whose top Route is openrm's own (RFC 3261 16.11: Route popped, Max-Forwards
 * decremented, openrm's Via on top, everything else byte for byte), and a response to such a request (its top Via,
 * openrm's stateless one, removed). No parse, no header objects, no encode: one scan of the header block and one
 * copy. Whatever it cannot relay exactly as the reference stack would (folded lines, a Route or Via line holding
 * several values, no Max-Forwards, a next hop that is a name, another transport, a stranger, a header the edge
 * would refuse...) it leaves to the stack, which handles it as before. The INVITE and its transactions always go
 * through the stack.
 *
 * <p>One instance per UDP receive thread: it keeps the scan's positions in fields (no allocation per message but
 * the output).
 */
public final class RawRelay {
    public static final String STATELESS_BRANCH = "z9hG4bK-orm-s";

    /** What a relay decided: where the bytes go, and for a BYE what the session store must hear. */
    public static final class Out {
        public byte[] data;
        public int length;
        public InetAddress address;
        public int port;
        /** The transport it leaves by: TCP (a connection to {@link #address}:{@link #port}) or UDP. */
        public boolean tcp;
        /** Set for a relayed BYE: its Call-ID and From tag (the session ends). */
        public String byeCallId;
        public String byeFromTag;
    }

    /** openrm's own identity and the edge's bounds, as the running stack has them. */
    public record Self(String viaHost, String listenHost, int port, int maxHeaders, int maxLineLength) {
        public boolean isOwn(String host, int p) {
            int port = p <= 0 ? 5060 : p;
            return port == this.port && (viaHost.equals(host) || listenHost.equals(host));
        }
    }

    private static final int MAX_LINES = 256;
    private final int[] start = new int[MAX_LINES];
    private final int[] end = new int[MAX_LINES];

    /**
     * Relays {@code b[0..len)} into {@code out} if it can do so exactly; false leaves it to the stack. Never throws
     * on any input (a message it cannot read is the stack's).
     */
    public boolean relay(byte[] b, int len, Self self, Out out) {
        return relay(b, len, self, out, false);
    }

    /**
     * As {@link #relay(byte[], int, Self, Out)}, for a message received over {@code tcp} (one framed message of a
     * connection, {@code TcpGuard}): an in-dialog ACK or BYE whose next hop is over TCP too, with its Content-Length
     * (mandatory over TCP), leaves with openrm's TCP Via; an answer to a BYE openrm relayed statelessly goes back to a
     * TCP Via.
     */
    public boolean relay(byte[] b, int len, Self self, Out out, boolean tcp) {
        try {
            out.byeCallId = null;
            out.byeFromTag = null;
            out.tcp = tcp;
            if (startsWith(b, len, 0, "SIP/2.0 ")) {
                return response(b, len, self, out, tcp);
            }
            boolean ack = startsWith(b, len, 0, "ACK ");
            boolean bye = !ack && startsWith(b, len, 0, "BYE ");
            return (ack || bye) && request(b, len, bye, self, out, tcp);
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Splits the header block into lines; returns how many (the request/status line is line 0), or -1 to refuse. */
    private int lines(byte[] b, int len, Self self) {
        int n = 0;
        int pos = 0;
        while (pos < len) {
            int eol = indexOf(b, pos, len, (byte) '\n');
            if (eol >= len || eol == pos || b[eol - 1] != '\r') {
                return -1; // bare line feeds, or no end of the header block: the stack's parser judges
            }
            int e = eol - 1;
            if (e == pos) {
                start[n] = pos; // the blank line; the body follows it
                end[n] = eol + 1;
                return n;
            }
            if (b[pos] == ' ' || b[pos] == '\t') {
                return -1; // a folded line
            }
            if (n + 1 >= MAX_LINES || n > self.maxHeaders() || e - pos > self.maxLineLength() || !printable(b, pos, e)) {
                return -1; // a control character (a stray CR) inside a line: the stack's parser judges
            }
            start[n] = pos;
            end[n] = e;
            n++;
            pos = eol + 1;
        }
        return -1;
    }

    private boolean request(byte[] b, int len, boolean bye, Self self, Out out, boolean tcp) {
        int n = lines(b, len, self);
        if (n < 1) {
            return false;
        }
        // the request line: METHOD SP Request-URI SP SIP/2.0
        int sp1 = indexOf(b, start[0], end[0], (byte) ' ');
        int sp2 = indexOf(b, sp1 + 1, end[0], (byte) ' ');
        if (sp2 >= end[0] || !region(b, sp2 + 1, end[0], "SIP/2.0") || indexOf(b, sp2 + 1, end[0], (byte) ' ') < end[0]
                || sp2 - sp1 < 5 || !is(b, sp1 + 1, sp1 + 5, "sip:")) {
            return false; // another version or URI scheme: the edge answers
        }
        if (!uriOk(b, sp1 + 5, sp2)) {
            return false;
        }
        int via = -1, maxForwards = -1, callId = -1, cseq = -1, from = -1, to = -1, routes = 0;
        int firstRoute = -1;
        boolean lengthSeen = false;
        for (int i = 1; i < n; i++) {
            int colon = indexOf(b, start[i], end[i], (byte) ':');
            if (colon + 1 >= end[i] || b[colon + 1] != ' ' || colon == start[i] || b[colon - 1] == ' ' || b[colon - 1] == '\t') {
                return false; // "Name: value" is the form the relay knows the stack reads alike
            }
            int ne = trimEnd(b, start[i], colon);
            int ns = start[i];
            if (is(b, ns, ne, "via") || is(b, ns, ne, "v")) {
                if (via < 0) {
                    via = i;
                }
            } else if (is(b, ns, ne, "route")) {
                routes++;
                if (firstRoute < 0) {
                    firstRoute = i;
                }
            } else if (is(b, ns, ne, "max-forwards")) {
                if (maxForwards >= 0) {
                    return false;
                }
                maxForwards = i;
            } else if (is(b, ns, ne, "call-id") || is(b, ns, ne, "i")) {
                callId = i;
            } else if (is(b, ns, ne, "cseq")) {
                cseq = i;
            } else if (is(b, ns, ne, "from") || is(b, ns, ne, "f")) {
                from = i;
            } else if (is(b, ns, ne, "to") || is(b, ns, ne, "t")) {
                to = i;
            } else if (is(b, ns, ne, "contact") || is(b, ns, ne, "m")) {
                if (!nameAddrs(b, colon + 1, end[i])) {
                    return false;
                }
            } else if (is(b, ns, ne, "content-length") || is(b, ns, ne, "l")) {
                if (lengthSeen || parseInt(b, colon + 1, end[i], 9) != len - end[n]) {
                    return false; // a body of another length than announced: the stack's to judge
                }
                lengthSeen = true;
            } else if (!(ne - ns > 2 && (b[ns] == 'X' || b[ns] == 'x') && b[ns + 1] == '-' && token(b, ns, ne)
                    && printable(b, colon + 1, end[i]))) {
                return false; // a header the relay does not know how the stack would read: the stack relays it
            }
        }
        if (via < 0 || maxForwards < 0 || callId < 0 || cseq < 0 || from < 0 || to < 0 || firstRoute < 0
                || firstRoute != firstRouteLine(b, n) || (tcp && !lengthSeen)) {
            return false;
        }
        if (!nameAddrs(b, valueStart(b, from), end[from]) || !nameAddrs(b, valueStart(b, to), end[to])
                || !callIdOk(b, valueStart(b, callId), end[callId]) || !viasOk(b, n)) {
            return false; // what the stack's parser would refuse
        }
        for (int i = 1; i < n; i++) {
            if (isRoute(b, i) && !nameAddrs(b, valueStart(b, i), end[i])) {
                return false;
            }
        }
        if (tagOf(b, to) == null) {
            return false; // out of dialog
        }
        // openrm's own Route entries on top, each alone on its line (as openrm record-routed them)
        int popped = 0;
        int next = -1;
        boolean[] drop = new boolean[n];
        for (int i = firstRoute; i < n; i++) {
            if (!isRoute(b, i)) {
                continue;
            }
            int[] uri = uriOf(b, valueStart(b, i), end[i]);
            if (uri == null) {
                return false;
            }
            Hop h = hop(b, uri[0], uri[1]);
            if (popped < 4 && next < 0 && h != null && self.isOwn(h.host, h.port)) {
                if (indexOf(b, uri[1], end[i], (byte) ',') < end[i]) {
                    return false; // more values on our line
                }
                drop[i] = true;
                popped++;
                continue;
            }
            next = i;
            break;
        }
        if (popped == 0) {
            return false; // not record-routed through openrm: the stack answers
        }
        Hop target;
        if (next >= 0) {
            int[] uri = uriOf(b, valueStart(b, next), end[next]);
            target = uri == null ? null : hop(b, uri[0], uri[1]);
        } else {
            target = hop(b, sp1 + 1, sp2);
            if (target != null && self.isOwn(target.host, target.port)) {
                return false; // for openrm itself
            }
        }
        if (target == null || (tcp ? !target.tcp : !target.udp) || !isIpv4(target.host)) {
            return false;
        }
        int mf = parseInt(b, valueStart(b, maxForwards), end[maxForwards], 3);
        if (mf <= 0) {
            return false; // 483 (or garbage) is the stack's
        }
        String branch = param(b, valueStart(b, via), end[via], "branch");
        if (branch == null || !branch.startsWith("z9hG4bK") || indexOf(b, valueStart(b, via), end[via], (byte) ',') < end[via]) {
            return false;
        }
        String cid = trimmed(b, valueStart(b, callId), end[callId]);
        String[] cs = RawScreen.words(trimmed(b, valueStart(b, cseq), end[cseq]), true);
        if (cs.length != 2 || !cs[1].equals(bye ? "BYE" : "ACK")) {
            return false;
        }
        long seq;
        try {
            seq = Long.parseLong(cs[0]);
        } catch (NumberFormatException e) {
            return false;
        }
        String stateless = STATELESS_BRANCH + Integer.toHexString(branch.hashCode())
                + Integer.toHexString((branch + cid + seq + cs[1]).hashCode());
        byte[] viaLine = ("Via: SIP/2.0/" + (tcp ? "TCP " : "UDP ") + self.viaHost() + ":" + self.port() + ";branch=" + stateless + "\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        byte[] mfLine = ("Max-Forwards: " + (mf - 1) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
        byte[] o = new byte[len + viaLine.length + mfLine.length];
        int p = copyLine(b, 0, o, 0);
        System.arraycopy(viaLine, 0, o, p, viaLine.length);
        p += viaLine.length;
        for (int i = 1; i < n; i++) {
            if (drop[i]) {
                continue;
            }
            if (i == maxForwards) {
                System.arraycopy(mfLine, 0, o, p, mfLine.length);
                p += mfLine.length;
            } else {
                p = copyLine(b, i, o, p);
            }
        }
        System.arraycopy(b, start[n], o, p, len - start[n]);
        p += len - start[n];
        out.data = o;
        out.length = p;
        out.port = target.port <= 0 ? 5060 : target.port;
        try {
            out.address = InetAddress.getByName(target.host); // an IPv4 literal: no lookup
        } catch (java.net.UnknownHostException e) {
            return false;
        }
        if (bye) {
            out.byeCallId = cid;
            out.byeFromTag = tagOf(b, from);
        }
        return true;
    }

    private boolean response(byte[] b, int len, Self self, Out out, boolean tcp) {
        int n = lines(b, len, self);
        if (n < 2) {
            return false;
        }
        int top = -1, second = -1, cseq = -1;
        boolean lengthSeen = false;
        for (int i = 1; i < n; i++) {
            int colon = indexOf(b, start[i], end[i], (byte) ':');
            if (colon + 1 >= end[i] || b[colon + 1] != ' ' || colon == start[i] || b[colon - 1] == ' ' || b[colon - 1] == '\t') {
                return false; // "Name: value" is the form the relay knows the stack reads alike
            }
            int ne = trimEnd(b, start[i], colon);
            if (is(b, start[i], ne, "via") || is(b, start[i], ne, "v")) {
                if (top < 0) {
                    top = i;
                } else if (second < 0) {
                    second = i;
                }
            } else if (is(b, start[i], ne, "cseq")) {
                cseq = i;
            } else if (is(b, start[i], ne, "from") || is(b, start[i], ne, "f") || is(b, start[i], ne, "to")
                    || is(b, start[i], ne, "t") || is(b, start[i], ne, "contact") || is(b, start[i], ne, "m")) {
                if (!nameAddrs(b, colon + 1, end[i])) {
                    return false;
                }
            } else if (is(b, start[i], ne, "call-id") || is(b, start[i], ne, "i")) {
                if (!callIdOk(b, colon + 1, end[i])) {
                    return false;
                }
            } else if (is(b, start[i], ne, "content-length") || is(b, start[i], ne, "l")) {
                if (lengthSeen || parseInt(b, colon + 1, end[i], 9) != len - end[n]) {
                    return false;
                }
                lengthSeen = true;
            } else if (!(ne - start[i] > 2 && (b[start[i]] == 'X' || b[start[i]] == 'x') && b[start[i] + 1] == '-'
                    && token(b, start[i], ne) && printable(b, colon + 1, end[i]))) {
                return false;
            }
        }
        if (top < 0 || cseq < 0 || !viasOk(b, n)) {
            return false;
        }
        // the status line: SIP/2.0 SP 3DIGIT SP reason
        if (end[0] - start[0] < 12 || b[11] != ' ' || !digit(b[8]) || !digit(b[9]) || !digit(b[10]) || b[8] == '0'
                || !printable(b, 12, end[0])) {
            return false;
        }
        int vs = valueStart(b, top);
        // our Via is the first value of the top Via line; the others may share that line (sipp's [last_Via:] writes
        // them all on one) or follow on lines of their own
        int topComma = indexOf(b, vs, end[top], (byte) ',');
        Via ours = via(b, vs, topComma);
        String branch = param(b, vs, topComma, "branch");
        if (ours == null || branch == null || !branch.startsWith(STATELESS_BRANCH) || !self.isOwn(ours.host, ours.port)) {
            return false;
        }
        String[] cs = RawScreen.words(trimmed(b, valueStart(b, cseq), end[cseq]), true);
        if (cs.length != 2 || !cs[1].equals("BYE") || !cs[0].chars().allMatch(Character::isDigit)
                || cs[0].length() > 9) {
            return false; // only the answers to BYEs openrm relayed statelessly
        }
        int ss, se;
        if (topComma < end[top]) {
            ss = topComma + 1;
            se = end[top];
        } else if (second >= 0) {
            ss = valueStart(b, second);
            se = end[second];
        } else {
            return false; // no Via left: nowhere to send it
        }
        Via back = via(b, ss, indexOf(b, ss, se, (byte) ','));
        if (back == null || (tcp ? !back.tcp : !back.udp) || (tcp && !lengthSeen)) {
            return false;
        }
        String host = back.received != null ? back.received : back.host;
        int port = back.rport > 0 ? back.rport : back.port <= 0 ? 5060 : back.port;
        if (!isIpv4(host)) {
            return false;
        }
        byte[] o = new byte[len];
        int p = 0;
        for (int i = 0; i < n; i++) {
            if (i != top) {
                p = copyLine(b, i, o, p);
            } else if (topComma < end[top]) {
                // the rest of our line stays, as a Via line of its own
                byte[] rest = ("Via: " + trimmed(b, topComma + 1, end[top]) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
                System.arraycopy(rest, 0, o, p, rest.length);
                p += rest.length;
            }
        }
        System.arraycopy(b, start[n], o, p, len - start[n]);
        p += len - start[n];
        out.data = o;
        out.length = p;
        out.port = port;
        try {
            out.address = InetAddress.getByName(host);
        } catch (java.net.UnknownHostException e) {
            return false;
        }
        return true;
    }

    /**
     * The sent-by of the top Via of the request in {@code b[0..len)} (an IPv4 literal and port, 5060 if none), or null:
     * the address a peer's answers and requests back are sent to, which a TCP connection it opened is known by too.
     */
    public static java.net.InetSocketAddress topViaSentBy(byte[] b, int len) {
        try {
            int pos = indexOf(b, 0, len, (byte) '\n') + 1;
            while (pos > 0 && pos < len) {
                int eol = indexOf(b, pos, len, (byte) '\n');
                if (eol >= len || eol - pos <= 2) {
                    return null;
                }
                int colon = indexOf(b, pos, eol, (byte) ':');
                if (colon < eol) {
                    int ne = trimEnd(b, pos, colon);
                    if (is(b, pos, ne, "via") || is(b, pos, ne, "v")) {
                        int e = eol > pos && b[eol - 1] == '\r' ? eol - 1 : eol;
                        Via v = via(b, colon + 1, indexOf(b, colon + 1, e, (byte) ','));
                        if (v == null || !isIpv4(v.host)) {
                            return null;
                        }
                        return new java.net.InetSocketAddress(InetAddress.getByName(v.host), v.port <= 0 ? 5060 : v.port);
                    }
                }
                pos = eol + 1;
            }
            return null;
        } catch (RuntimeException | java.net.UnknownHostException e) {
            return null;
        }
    }

    /** A host, port and transport of a SIP URI or Via sent-by. */
    public record Hop(String host, int port, boolean udp, boolean tcp) { }

    /** A Via value's sent-by, transport, received and rport. */
    public record Via(String host, int port, boolean udp, boolean tcp, String received, int rport) { }

    /** {@code SIP/2.0/UDP host[:port];params} in b[from..to). */
    private static Via via(byte[] b, int from, int to) {
        String v = trimmed(b, from, to);
        String[] w = RawScreen.words(v, true);
        if (w.length < 2 || !w[0].regionMatches(true, 0, "SIP/2.0/", 0, 8)) {
            return null;
        }
        boolean udp = w[0].substring(8).equalsIgnoreCase("UDP");
        boolean tcp = w[0].substring(8).equalsIgnoreCase("TCP");
        String rest = v.substring(v.indexOf(w[1]));
        int semi = rest.indexOf(';');
        String sentBy = (semi < 0 ? rest : rest.substring(0, semi)).trim();
        if (sentBy.startsWith("[")) {
            return null; // IPv6: the stack's
        }
        int colon = sentBy.indexOf(':');
        String host = colon < 0 ? sentBy : sentBy.substring(0, colon).trim();
        int port = colon < 0 ? 0 : parsePort(sentBy.substring(colon + 1).trim());
        if (port < 0) {
            return null;
        }
        String received = null;
        int rport = 0;
        if (semi >= 0) {
            for (String prm : rest.substring(semi + 1).split(";")) {
                String k = prm.trim();
                int eq = k.indexOf('=');
                String key = (eq < 0 ? k : k.substring(0, eq)).trim().toLowerCase(java.util.Locale.ROOT);
                String val = eq < 0 ? null : k.substring(eq + 1).trim();
                if (key.equals("received")) {
                    received = val;
                } else if (key.equals("rport") && val != null) {
                    rport = parsePort(val);
                    if (rport < 0) {
                        return null;
                    }
                } else if (key.equals("maddr")) {
                    return null;
                }
            }
        }
        return new Via(host, port, udp, tcp, received, rport);
    }

    /** The host, port and transport of the sip: URI in b[from..to); null when it is anything else. */
    private static Hop hop(byte[] b, int from, int to) {
        String u = trimmed(b, from, to);
        if (!u.regionMatches(true, 0, "sip:", 0, 4)) {
            return null;
        }
        String rest = u.substring(4);
        int at = rest.indexOf('@');
        int semi = rest.indexOf(';');
        int q = rest.indexOf('?');
        if (at >= 0 && (semi < 0 || at < semi)) {
            rest = rest.substring(at + 1);
            semi = rest.indexOf(';');
            q = rest.indexOf('?');
        }
        int stop = semi < 0 ? rest.length() : semi;
        if (q >= 0 && q < stop) {
            return null;
        }
        String hostport = rest.substring(0, stop);
        if (hostport.startsWith("[")) {
            return null;
        }
        int colon = hostport.indexOf(':');
        String host = colon < 0 ? hostport : hostport.substring(0, colon);
        int port = colon < 0 ? 0 : parsePort(hostport.substring(colon + 1));
        if (port < 0 || host.isEmpty()) {
            return null;
        }
        boolean udp = true;
        boolean tcp = false;
        if (semi >= 0) {
            for (String prm : rest.substring(semi + 1).split(";")) {
                int eq = prm.indexOf('=');
                String key = (eq < 0 ? prm : prm.substring(0, eq)).trim().toLowerCase(java.util.Locale.ROOT);
                if (key.equals("transport")) {
                    udp = eq > 0 && prm.substring(eq + 1).trim().equalsIgnoreCase("udp");
                    tcp = eq > 0 && prm.substring(eq + 1).trim().equalsIgnoreCase("tcp");
                } else if (key.equals("maddr")) {
                    return null;
                }
            }
        }
        return new Hop(host, port, udp, tcp);
    }

    /** The URI of a name-addr ({@code <...>}) or addr-spec value: [from, to) positions, or null. */
    private static int[] uriOf(byte[] b, int from, int to) {
        int lt = indexOf(b, from, to, (byte) '<');
        if (lt >= to) {
            return null; // Route values are name-addrs
        }
        int gt = indexOf(b, lt, to, (byte) '>');
        if (gt >= to) {
            return null;
        }
        return new int[] {lt + 1, gt};
    }

    private int firstRouteLine(byte[] b, int n) {
        for (int i = 1; i < n; i++) {
            if (isRoute(b, i)) {
                return i;
            }
        }
        return -1;
    }

    private boolean isRoute(byte[] b, int i) {
        int colon = indexOf(b, start[i], end[i], (byte) ':');
        return colon < end[i] && is(b, start[i], trimEnd(b, start[i], colon), "route");
    }

    private int valueStart(byte[] b, int i) {
        return indexOf(b, start[i], end[i], (byte) ':') + 1;
    }

    /** The tag parameter of a From or To line (outside its {@code <...>}), or null. */
    private String tagOf(byte[] b, int i) {
        int vs = valueStart(b, i);
        int gt = -1;
        int lt = indexOf(b, vs, end[i], (byte) '<');
        if (lt < end[i]) {
            gt = indexOf(b, lt, end[i], (byte) '>');
            if (gt >= end[i]) {
                return null;
            }
        }
        return param(b, gt >= 0 ? gt : vs, end[i], "tag");
    }

    /** The value of parameter {@code name} after {@code from} (first {@code ;name=} match), or null. */
    private static String param(byte[] b, int from, int to, String name) {
        String s = new String(b, from, to - from, StandardCharsets.ISO_8859_1);
        int comma = s.indexOf(',');
        if (comma >= 0) {
            s = s.substring(0, comma);
        }
        int semi = s.indexOf(';');
        while (semi >= 0) {
            int nextSemi = s.indexOf(';', semi + 1);
            String prm = (nextSemi < 0 ? s.substring(semi + 1) : s.substring(semi + 1, nextSemi)).trim();
            int eq = prm.indexOf('=');
            if (eq > 0 && prm.substring(0, eq).trim().equalsIgnoreCase(name)) {
                String v = prm.substring(eq + 1).trim();
                return v.isEmpty() ? null : v;
            }
            semi = nextSemi;
        }
        return null;
    }


    private static final String TOKEN = "-.!%*_+`'~";
    private static final String URI_CHARS = "-_.!~*'()%;:@&=+$,/?#[]";

    private static boolean digit(byte c) {
        return c >= '0' && c <= '9';
    }

    private static boolean alnum(int c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9';
    }

    private static boolean token(byte[] b, int from, int to) {
        if (from >= to) {
            return false;
        }
        for (int i = from; i < to; i++) {
            int c = b[i] & 0xff;
            if (!alnum(c) && TOKEN.indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean printable(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            int c = b[i] & 0xff;
            if (c < 0x20 && c != '\t' || c >= 0x7f) {
                return false;
            }
        }
        return true;
    }

    /** A Call-ID the stack reads as it is: word [ "@" word ], RFC 3261 word characters. */
    static boolean callIdOk(byte[] b, int from, int to) {
        int s = skipBlanks(b, from, to), e = trimEnd(b, s, to);
        if (s == e) {
            return false;
        }
        int at = 0;
        for (int i = s; i < e; i++) {
            int c = b[i] & 0xff;
            if (c == '@') {
                if (++at > 1 || i == s || i == e - 1) {
                    return false;
                }
            } else if (!alnum(c) && WORD.indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    private static final String WORD = "-.!%*_+`'~()<>:\\\"/[]?{}";

    /** Every Via line: comma-separated values, each {@code SIP/2.0/UDP host[:port](;token[=token])*}. */
    private boolean viasOk(byte[] b, int n) {
        for (int i = 1; i < n; i++) {
            int colon = indexOf(b, start[i], end[i], (byte) ':');
            int ne = trimEnd(b, start[i], colon);
            if ((is(b, start[i], ne, "via") || is(b, start[i], ne, "v")) && !viaLine(b, colon + 1, end[i])) {
                return false;
            }
        }
        return true;
    }

    /** One Via line's value {@code [from, to)}: comma-separated {@code SIP/2.0/UDP host[:port](;params)}, in place. */
    static boolean viaLine(byte[] b, int from, int to) {
        while (from <= to) {
            int comma = indexOf(b, from, to, (byte) ',');
            int vs = skipBlanks(b, from, comma), ve = trimEnd(b, vs, comma);
            int sp = indexOf(b, vs, ve, (byte) ' ');
            if (sp >= ve || !is(b, vs, sp, "sip/2.0/udp") && !is(b, vs, sp, "sip/2.0/tcp")) {
                return false;
            }
            int rs = trimStart(b, sp + 1, ve), re = trimStop(b, rs, ve);
            int semi = indexOf(b, rs, re, (byte) ';');
            int hs = trimStart(b, rs, semi), he = trimStop(b, hs, semi);
            if (!hostPort(b, hs, he) || semi < re && !params(b, semi, re, VIA_PARAMS)) {
                return false;
            }
            from = comma + 1;
        }
        return true;
    }

    /** {@code host[:port]}: a host of letters, digits, dots and dashes, and a port of 1 to 65535. */
    static boolean hostPort(byte[] b, int from, int to) {
        int colon = indexOf(b, from, to, (byte) ':');
        if (colon == from || colon < to && parsePort(b, colon + 1, to) <= 0) {
            return false;
        }
        for (int i = from; i < colon; i++) {
            int c = b[i] & 0xff;
            if (!alnum(c) && c != '.' && c != '-') {
                return false;
            }
        }
        return true;
    }

    /** The parameters the relay passes (others: the stack's): Via, URI and header parameters, lower case. */
    private static final String[] VIA_PARAMS = {"branch", "rport", "received", "alias", "keep"};
    private static final String[] URI_PARAMS = {"lr", "transport", "user", "ftag", "ob"};
    private static final String[] HEADER_PARAMS = {"tag", "expires", "q"};

    /**
     * {@code (;token[=token|host|quoted])*} of known names, with optional blanks around the separators, in
     * {@code [from, to)}; the first byte (the first {@code ;}) is skipped unread.
     */
    static boolean params(byte[] b, int from, int to, String[] known) {
        if (from >= to) {
            return true;
        }
        int s = from + 1;
        while (true) {
            int semi = indexOf(b, s, to, (byte) ';');
            int ts = trimStart(b, s, semi), te = trimStop(b, ts, semi);
            int eq = indexOf(b, ts, te, (byte) '=');
            int ke = trimStop(b, ts, eq);
            if (!isToken(b, ts, ke) || !known(b, ts, ke, known)) {
                return false; // a parameter the relay does not know how the stack reads
            }
            if (eq < te) {
                int vs = trimStart(b, eq + 1, te);
                boolean ok = is(b, ts, ke, "received") ? isIpv4(b, vs, te) : isToken(b, vs, te);
                if (!ok) {
                    return false;
                }
            }
            if (semi >= to) {
                return true;
            }
            s = semi + 1;
        }
    }

    private static boolean known(byte[] b, int from, int to, String[] known) {
        for (String k : known) {
            if (is(b, from, to, k)) {
                return true;
            }
        }
        return false;
    }

    static boolean isToken(byte[] b, int from, int to) {
        return token(b, from, to);
    }

    /**
     * Comma-separated name-addrs as the stack reads them without doubt: [token display name or quoted string
     * without escapes] {@code <sip:uri>} params. Anything else (a bare addr-spec, escapes, odd characters) is refused.
     * Read in place in {@code [from, to)}.
     */
    static boolean nameAddrs(byte[] b, int from, int to) {
        int vs = skipBlanks(b, from, to), ve = trimEnd(b, vs, to);
        int i = vs;
        while (true) {
            int lt = indexOf(b, i, ve, (byte) '<');
            if (lt >= ve) {
                return false;
            }
            int ds = trimStart(b, i, lt), de = trimStop(b, ds, lt);
            if (ds < de) {
                if (b[lt - 1] != ' ' && b[lt - 1] != '\t') {
                    return false; // a display name glued to its <: read differently by the stack
                }
                if (b[ds] == '"') {
                    if (de - ds < 2 || b[de - 1] != '"' || indexOf(b, ds + 1, de, (byte) '"') != de - 1
                            || indexOf(b, ds, de, (byte) '\\') < de) {
                        return false;
                    }
                } else if (!plainWords(b, ds, de)) {
                    return false; // plain words only, none a URI scheme's look-alike
                }
            }
            int gt = indexOf(b, lt, ve, (byte) '>');
            if (gt >= ve) {
                return false;
            }
            int us = lt + 1;
            if (gt - us < 5 || !is(b, us, us + 4, "sip:")) {
                return false;
            }
            for (int k = us + 4; k < gt; k++) {
                int c = b[k] & 0xff;
                if (!alnum(c) && URI_CHARS.indexOf(c) < 0 || c == '#' || c == '[' || c == ']') {
                    return false;
                }
            }
            if (!uriOk(b, us + 4, gt)) {
                return false;
            }
            int comma = indexOf(b, gt, ve, (byte) ',');
            int ps = trimStart(b, gt + 1, comma), pe = trimStop(b, ps, comma);
            if (ps < pe && b[ps] != ';' || !params(b, ps, pe, HEADER_PARAMS)) {
                return false;
            }
            if (comma >= ve) {
                return true;
            }
            i = comma + 1;
        }
    }

    /** Words of letters and digits separated by blanks, none of them {@code sip}, {@code sips} or {@code tel}. */
    private static boolean plainWords(byte[] b, int from, int to) {
        int i = from;
        while (i < to) {
            int we = i;
            while (we < to && b[we] != ' ' && b[we] != '\t') {
                int c = b[we] & 0xff;
                if (!alnum(c)) {
                    return false;
                }
                we++;
            }
            if (we == i || is(b, i, we, "sip") || is(b, i, we, "sips") || is(b, i, we, "tel")) {
                return false;
            }
            i = skipBlanks(b, we, to);
        }
        return true;
    }

    /** user@host:port;params of a sip: URI, {@code [from, to)} after the scheme: a host the relay can read and token parameters. */
    static boolean uriOk(byte[] b, int from, int to) {
        if (indexOf(b, from, to, (byte) '?') < to) {
            return false;
        }
        int at = indexOf(b, from, to, (byte) '@');
        if (at == from && at < to) {
            return false;
        }
        int hs = from;
        if (at < to) {
            for (int k = from; k < at; k++) {
                byte c = b[k];
                if (c == ';' || c == '%' && k + 2 >= at) {
                    return false;
                }
            }
            hs = at + 1;
        }
        int semi = indexOf(b, hs, to, (byte) ';');
        return hostPort(b, hs, semi) && (semi >= to || params(b, semi, to, URI_PARAMS));
    }

    private int copyLine(byte[] b, int i, byte[] o, int p) {
        int n = end[i] - start[i];
        System.arraycopy(b, start[i], o, p, n);
        o[p + n] = '\r';
        o[p + n + 1] = '\n';
        return p + n + 2;
    }

    public static boolean isIpv4(String h) {
        int dots = 0, digits = 0;
        for (int i = 0; i < h.length(); i++) {
            char c = h.charAt(i);
            if (c == '.') {
                if (digits == 0) {
                    return false;
                }
                dots++;
                digits = 0;
            } else if (c >= '0' && c <= '9' && ++digits <= 3) {
                continue;
            } else {
                return false;
            }
        }
        return dots == 3 && digits > 0;
    }

    private static int parsePort(String s) {
        int v = digits(s, 5);
        return v > 65535 ? -1 : v;
    }

    private static int parseInt(byte[] b, int from, int to, int digits) {
        int s = skipBlanks(b, from, to);
        return digits(b, s, trimEnd(b, s, to), digits);
    }

    private static int parsePort(byte[] b, int from, int to) {
        int v = digits(b, from, to, 5);
        return v > 65535 ? -1 : v;
    }

    /** The value of {@code b[from, to)} if it is 1 to {@code max} decimal digits, else -1. */
    private static int digits(byte[] b, int from, int to, int max) {
        if (from >= to || to - from > max) {
            return -1;
        }
        int v = 0;
        for (int i = from; i < to; i++) {
            if (!digit(b[i])) {
                return -1;
            }
            v = v * 10 + (b[i] - '0');
        }
        return v;
    }

    static boolean isIpv4(byte[] b, int from, int to) {
        int dots = 0, digits = 0;
        for (int i = from; i < to; i++) {
            byte c = b[i];
            if (c == '.') {
                if (digits == 0) {
                    return false;
                }
                dots++;
                digits = 0;
            } else if (digit(c) && ++digits <= 3) {
                continue;
            } else {
                return false;
            }
        }
        return dots == 3 && digits > 0;
    }

    /** Past spaces and tabs from {@code from}. */
    private static int skipBlanks(byte[] b, int from, int to) {
        while (from < to && (b[from] == ' ' || b[from] == '\t')) {
            from++;
        }
        return from;
    }

    /** Past every byte up to a space from {@code from} ({@link String#trim()}'s rule at the start). */
    private static int trimStart(byte[] b, int from, int to) {
        while (from < to && (b[from] & 0xff) <= ' ') {
            from++;
        }
        return from;
    }

    /** Back over every byte up to a space before {@code to} ({@link String#trim()}'s rule at the end). */
    private static int trimStop(byte[] b, int from, int to) {
        while (to > from && (b[to - 1] & 0xff) <= ' ') {
            to--;
        }
        return to;
    }

    /** The value of {@code s} if it is 1 to {@code max} decimal digits, else -1. */
    private static int digits(String s, int max) {
        if (s.isEmpty() || s.length() > max) {
            return -1;
        }
        int v = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static String trimmed(byte[] b, int from, int to) {
        int s = from, e = to;
        while (s < e && (b[s] == ' ' || b[s] == '\t')) {
            s++;
        }
        while (e > s && (b[e - 1] == ' ' || b[e - 1] == '\t')) {
            e--;
        }
        return new String(b, s, e - s, StandardCharsets.ISO_8859_1);
    }

    private static int trimEnd(byte[] b, int from, int to) {
        while (to > from && (b[to - 1] == ' ' || b[to - 1] == '\t')) {
            to--;
        }
        return to;
    }

    private static boolean is(byte[] b, int from, int to, String lower) {
        if (to - from != lower.length()) {
            return false;
        }
        for (int i = 0; i < lower.length(); i++) {
            int x = b[from + i] & 0xff;
            if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static boolean region(byte[] b, int from, int to, String s) {
        return to - from == s.length() && startsWith(b, to, from, s);
    }

    private static boolean startsWith(byte[] b, int len, int at, String s) {
        if (len - at < s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(byte[] b, int from, int to, byte c) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return to;
    }
}
