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
                || sp2 - sp1 < 5 || !new String(b, sp1 + 1, 4, StandardCharsets.ISO_8859_1).equalsIgnoreCase("sip:")) {
            return false; // another version or URI scheme: the edge answers
        }
        if (!uriOk(new String(b, sp1 + 5, sp2 - sp1 - 5, StandardCharsets.ISO_8859_1))) {
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
    private static boolean callIdOk(byte[] b, int from, int to) {
        String v = trimmed(b, from, to);
        if (v.isEmpty()) {
            return false;
        }
        int at = 0;
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (c == '@') {
                if (++at > 1 || i == 0 || i == v.length() - 1) {
                    return false;
                }
            } else if (!alnum(c) && "-.!%*_+`'~()<>:\\\"/[]?{}".indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    /** Every Via line: comma-separated values, each {@code SIP/2.0/UDP host[:port](;token[=token])*}. */
    private boolean viasOk(byte[] b, int n) {
        for (int i = 1; i < n; i++) {
            int colon = indexOf(b, start[i], end[i], (byte) ':');
            int ne = trimEnd(b, start[i], colon);
            if (!(is(b, start[i], ne, "via") || is(b, start[i], ne, "v"))) {
                continue;
            }
            int from = colon + 1;
            while (from <= end[i]) {
                int comma = indexOf(b, from, end[i], (byte) ',');
                String v = trimmed(b, from, comma);
                int sp = v.indexOf(' ');
                if (sp < 0 || !v.substring(0, sp).equalsIgnoreCase("SIP/2.0/UDP") && !v.substring(0, sp).equalsIgnoreCase("SIP/2.0/TCP")) {
                    return false;
                }
                String rest = v.substring(sp + 1).trim();
                int semi = rest.indexOf(';');
                String sentBy = (semi < 0 ? rest : rest.substring(0, semi)).trim();
                if (!hostPort(sentBy) || semi >= 0 && !params(rest.substring(semi), VIA_PARAMS)) {
                    return false;
                }
                from = comma + 1;
            }
        }
        return true;
    }

    private static boolean hostPort(String hp) {
        int colon = hp.indexOf(':');
        String host = colon < 0 ? hp : hp.substring(0, colon);
        if (host.isEmpty() || colon >= 0 && parsePort(hp.substring(colon + 1)) <= 0) {
            return false;
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (!alnum(c) && c != '.' && c != '-') {
                return false;
            }
        }
        return true;
    }

    /** The parameters the relay passes (others: the stack's): Via, URI and header parameters. */
    private static final java.util.Set<String> VIA_PARAMS = java.util.Set.of("branch", "rport", "received", "alias", "keep");
    private static final java.util.Set<String> URI_PARAMS = java.util.Set.of("lr", "transport", "user", "ftag", "ob");
    private static final java.util.Set<String> HEADER_PARAMS = java.util.Set.of("tag", "expires", "q");

    /** {@code (;token[=token|host|quoted])*} of known names, with optional blanks around the separators. */
    private static boolean params(String p, java.util.Set<String> known) {
        if (p.isEmpty()) {
            return true;
        }
        for (String prm : p.substring(1).split(";", -1)) {
            String t = prm.trim();
            int eq = t.indexOf('=');
            String k = (eq < 0 ? t : t.substring(0, eq)).trim();
            if (!isToken(k) || !known.contains(k.toLowerCase(java.util.Locale.ROOT))) {
                return false; // a parameter the relay does not know how the stack reads
            }
            if (eq >= 0) {
                String v = t.substring(eq + 1).trim();
                boolean ok = k.equalsIgnoreCase("received") ? isIpv4(v) : isToken(v);
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }

    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!alnum(c) && TOKEN.indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Comma-separated name-addrs as the stack reads them without doubt: [token display name or quoted string
     * without escapes] {@code <sip:uri>} params. Anything else (a bare addr-spec, escapes, odd characters) is refused.
     */
    private static boolean nameAddrs(byte[] b, int from, int to) {
        String v = trimmed(b, from, to);
        int i = 0;
        while (true) {
            int lt = v.indexOf('<', i);
            if (lt < 0) {
                return false;
            }
            String raw = v.substring(i, lt);
            String display = raw.trim();
            if (!display.isEmpty() && !(raw.endsWith(" ") || raw.endsWith("\t"))) {
                return false; // a display name glued to its <: read differently by the stack
            }
            if (!display.isEmpty()) {
                if (display.startsWith("\"")) {
                    if (display.length() < 2 || !display.endsWith("\"") || display.indexOf('"', 1) != display.length() - 1
                            || display.indexOf('\\') >= 0) {
                        return false;
                    }
                } else {
                    for (String w : display.split("[ \t]+")) {
                        if (w.isEmpty() || !w.chars().allMatch(c -> alnum(c)) || w.equalsIgnoreCase("sip")
                                || w.equalsIgnoreCase("sips") || w.equalsIgnoreCase("tel")) {
                            return false; // plain words only, none a URI scheme's look-alike
                        }
                    }
                }
            }
            int gt = v.indexOf('>', lt);
            if (gt < 0) {
                return false;
            }
            String uri = v.substring(lt + 1, gt);
            if (!uri.regionMatches(true, 0, "sip:", 0, 4) || uri.length() < 5) {
                return false;
            }
            for (int k = 4; k < uri.length(); k++) {
                char c = uri.charAt(k);
                if (!alnum(c) && URI_CHARS.indexOf(c) < 0 || c == '#' || c == '[' || c == ']') {
                    return false;
                }
            }
            if (!uriOk(uri.substring(4))) {
                return false;
            }
            int comma = v.indexOf(',', gt);
            String params = (comma < 0 ? v.substring(gt + 1) : v.substring(gt + 1, comma)).trim();
            if (!params.isEmpty() && params.charAt(0) != ';' || !params(params, HEADER_PARAMS)) {
                return false;
            }
            if (comma < 0) {
                return true;
            }
            i = comma + 1;
        }
    }

    /** user@host:port;params of a sip: URI: a host the relay can read and token parameters. */
    private static boolean uriOk(String u) {
        int q = u.indexOf('?');
        if (q >= 0) {
            return false;
        }
        int at = u.indexOf('@');
        String hp = at >= 0 ? u.substring(at + 1) : u;
        if (at == 0) {
            return false;
        }
        if (at >= 0) {
            String user = u.substring(0, at);
            for (int k = 0; k < user.length(); k++) {
                char c = user.charAt(k);
                if (c == '@' || c == ';' || c == '%' && (k + 2 >= user.length())) {
                    return false;
                }
            }
        }
        int semi = hp.indexOf(';');
        return hostPort(semi < 0 ? hp : hp.substring(0, semi)) && (semi < 0 || params(hp.substring(semi), URI_PARAMS));
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
        return digits(trimmed(b, from, to), digits);
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
