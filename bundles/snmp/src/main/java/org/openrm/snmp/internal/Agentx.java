package org.openrm.snmp.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.snmp4j.smi.Counter32;
import org.snmp4j.smi.Counter64;
import org.snmp4j.smi.Gauge32;
import org.snmp4j.smi.Integer32;
import org.snmp4j.smi.IpAddress;
import org.snmp4j.smi.Null;
import org.snmp4j.smi.OID;
import org.snmp4j.smi.OctetString;
import org.snmp4j.smi.TimeTicks;
import org.snmp4j.smi.Variable;

/**
 * The AgentX protocol (RFC 2741), as much of it as a read-only sub-agent needs: the PDU header, OIDs, octet
 * strings, varbinds and search ranges, in both byte orders on reading and in network byte order on writing.
 * No state: {@link SubAgent} holds the session. SNMP4J supplies the OID and value types.
 */
final class Agentx {
    private Agentx() { }

    static final int VERSION = 1;
    static final int HEADER = 20;
    /** The most a PDU from the master may announce; beyond it the stream is not trusted (garbage or a hostile peer). */
    static final int MAX_PAYLOAD = 1 << 20;

    // PDU types (RFC 2741 6.1)
    static final int OPEN = 1, CLOSE = 2, REGISTER = 3, UNREGISTER = 4, GET = 5, GETNEXT = 6, GETBULK = 7,
            TESTSET = 8, COMMITSET = 9, UNDOSET = 10, CLEANUPSET = 11, NOTIFY = 12, PING = 13, INDEX_ALLOCATE = 14,
            INDEX_DEALLOCATE = 15, ADD_AGENT_CAPS = 16, REMOVE_AGENT_CAPS = 17, RESPONSE = 18;

    // header flags
    static final int F_INSTANCE_REGISTRATION = 0x01, F_NEW_INDEX = 0x02, F_ANY_INDEX = 0x04,
            F_NON_DEFAULT_CONTEXT = 0x08, F_NETWORK_BYTE_ORDER = 0x10;

    // varbind types
    static final int T_INTEGER = 2, T_OCTET_STRING = 4, T_NULL = 5, T_OID = 6, T_IPADDRESS = 64, T_COUNTER32 = 65,
            T_GAUGE32 = 66, T_TIMETICKS = 67, T_OPAQUE = 68, T_COUNTER64 = 70, T_NO_SUCH_OBJECT = 128,
            T_NO_SUCH_INSTANCE = 129, T_END_OF_MIB_VIEW = 130;

    // response errors (RFC 2741 6.2.16)
    static final int E_NO_ERROR = 0, E_OPEN_FAILED = 256, E_NOT_OPEN = 257, E_INDEX_WRONG_TYPE = 258,
            E_DUPLICATE_REGISTRATION = 263, E_UNKNOWN_REGISTRATION = 264, E_PARSE_ERROR = 266,
            E_REQUEST_DENIED = 267, E_PROCESSING_ERROR = 268, E_NOT_WRITABLE = 17, E_GEN_ERR = 5;

    // close reasons
    static final int R_OTHER = 1, R_PARSE_ERROR = 2, R_PROTOCOL_ERROR = 3, R_TIMEOUTS = 4, R_SHUTDOWN = 5,
            R_BY_MANAGER = 6;

    /** A malformed PDU: the stream cannot be trusted after it. */
    static final class ParseException extends IOException {
        ParseException(String m) {
            super(m);
        }
    }

    /** A PDU's header and its payload. */
    record Pdu(int type, int flags, int sessionId, int transactionId, int packetId, ByteBuffer payload) {
        boolean hasContext() {
            return (flags & F_NON_DEFAULT_CONTEXT) != 0;
        }
    }

    /** A search range of Get, GetNext, GetBulk: {@code start} (inclusive when {@code include}) up to {@code end} (exclusive; empty = none). */
    record Range(OID start, boolean include, OID end) { }

    /** One name and value; {@code type} is the AgentX type (carries the exceptions noSuchObject...). */
    record VarBind(OID name, int type, Variable value) {
        static VarBind of(OID name, Variable v) {
            return new VarBind(name, typeOf(v), v);
        }

        static VarBind exception(OID name, int type) {
            return new VarBind(name, type, Null.instance);
        }
    }

    // ------------------------------------------------------------------------------------------ reading

    /**
     * Reads one whole PDU; null at a clean end of stream before a header. A socket timeout before the first byte
     * is passed on (the caller's idle tick); once a PDU has begun, the rest must arrive within {@code stallMs}.
     */
    static Pdu read(InputStream in, long stallMs) throws IOException {
        byte[] h = new byte[HEADER];
        int first = in.read(h, 0, 1);
        if (first < 0) {
            return null;
        }
        long deadline = System.currentTimeMillis() + stallMs;
        int got = 1 + readFully(in, h, 1, deadline);
        if (got < HEADER) {
            throw new ParseException("connection closed inside a PDU header (" + got + " of 20 bytes)");
        }
        if (h[0] != VERSION) {
            throw new ParseException("AgentX version " + (h[0] & 0xff) + ", expected 1");
        }
        int flags = h[2] & 0xff;
        ByteBuffer hb = ByteBuffer.wrap(h).order((flags & F_NETWORK_BYTE_ORDER) != 0 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        int type = h[1] & 0xff;
        int session = hb.getInt(4), transaction = hb.getInt(8), packet = hb.getInt(12), length = hb.getInt(16);
        if (length < 0 || length > MAX_PAYLOAD || length % 4 != 0) {
            throw new ParseException("payload length " + length + " (must be a multiple of 4, at most " + MAX_PAYLOAD + ")");
        }
        byte[] p = new byte[length];
        if (readFully(in, p, 0, deadline) < length) {
            throw new ParseException("connection closed inside a PDU payload");
        }
        return new Pdu(type, flags, session, transaction, packet, ByteBuffer.wrap(p).order(hb.order()));
    }

    private static int readFully(InputStream in, byte[] b, int off, long deadline) throws IOException {
        int n = off;
        while (n < b.length) {
            int r;
            try {
                r = in.read(b, n, b.length - n);
            } catch (java.net.SocketTimeoutException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new ParseException("master stalled inside a PDU (" + n + " of " + b.length + " bytes)");
                }
                continue;
            }
            if (r < 0) {
                break;
            }
            n += r;
        }
        return n - off;
    }

    /** An OID; {@code include[0]} receives its include flag when the array is given. */
    static OID readOid(ByteBuffer b, boolean[] include) throws ParseException {
        need(b, 4);
        int n = b.get() & 0xff;
        int prefix = b.get() & 0xff;
        boolean inc = b.get() != 0;
        b.get();
        if (n > 128) {
            throw new ParseException("OID of " + n + " sub-identifiers (at most 128)");
        }
        need(b, 4 * n);
        int[] sub = new int[(prefix != 0 ? 5 : 0) + n];
        int i = 0;
        if (prefix != 0) {
            sub[i++] = 1;
            sub[i++] = 3;
            sub[i++] = 6;
            sub[i++] = 1;
            sub[i++] = prefix;
        }
        for (int k = 0; k < n; k++) {
            sub[i++] = b.getInt();
        }
        if (include != null) {
            include[0] = inc;
        }
        return new OID(sub);
    }

    static OctetString readOctets(ByteBuffer b) throws ParseException {
        need(b, 4);
        int len = b.getInt();
        if (len < 0 || len > b.remaining()) {
            throw new ParseException("octet string of " + len + " bytes, " + b.remaining() + " left");
        }
        byte[] v = new byte[len];
        b.get(v);
        int pad = (4 - len % 4) % 4;
        need(b, pad);
        b.position(b.position() + pad);
        return new OctetString(v);
    }

    /** The search ranges up to the end of the payload (Get, GetNext, and GetBulk after its two counts). */
    static List<Range> readRanges(ByteBuffer b) throws ParseException {
        List<Range> out = new ArrayList<>();
        while (b.hasRemaining()) {
            if (out.size() >= 10_000) {
                throw new ParseException("more than 10,000 search ranges");
            }
            boolean[] inc = new boolean[1];
            OID start = readOid(b, inc);
            OID end = readOid(b, null);
            out.add(new Range(start, inc[0], end));
        }
        return out;
    }

    private static void need(ByteBuffer b, int n) throws ParseException {
        if (b.remaining() < n) {
            throw new ParseException("PDU ends " + (n - b.remaining()) + " bytes short");
        }
    }

    // ------------------------------------------------------------------------------------------ writing

    /** A PDU being written, in network byte order. */
    static final class Writer {
        private ByteBuffer b = ByteBuffer.allocate(512).order(ByteOrder.BIG_ENDIAN);

        private void room(int n) {
            if (b.remaining() < n) {
                ByteBuffer nb = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n)).order(ByteOrder.BIG_ENDIAN);
                b.flip();
                nb.put(b);
                b = nb;
            }
        }

        Writer header(int type, int flags, int session, int transaction, int packet) {
            room(HEADER);
            b.put((byte) VERSION).put((byte) type).put((byte) (flags | F_NETWORK_BYTE_ORDER)).put((byte) 0);
            b.putInt(session).putInt(transaction).putInt(packet).putInt(0); // length patched in bytes()
            return this;
        }

        Writer u8(int v) {
            room(1);
            b.put((byte) v);
            return this;
        }

        Writer u16(int v) {
            room(2);
            b.putShort((short) v);
            return this;
        }

        Writer u32(long v) {
            room(4);
            b.putInt((int) v);
            return this;
        }

        Writer oid(OID oid, boolean include) {
            int[] v = oid == null ? new int[0] : oid.getValue();
            int prefix = 0;
            int from = 0;
            if (v.length >= 5 && v[0] == 1 && v[1] == 3 && v[2] == 6 && v[3] == 1 && v[4] > 0 && v[4] < 256) {
                prefix = v[4];
                from = 5;
            }
            room(4 + 4 * (v.length - from));
            b.put((byte) (v.length - from)).put((byte) prefix).put((byte) (include ? 1 : 0)).put((byte) 0);
            for (int i = from; i < v.length; i++) {
                b.putInt(v[i]);
            }
            return this;
        }

        Writer octets(byte[] v) {
            int pad = (4 - v.length % 4) % 4;
            room(4 + v.length + pad);
            b.putInt(v.length).put(v);
            for (int i = 0; i < pad; i++) {
                b.put((byte) 0);
            }
            return this;
        }

        Writer octets(String s) {
            return octets(s.getBytes(StandardCharsets.UTF_8));
        }

        Writer varbind(VarBind vb) {
            u16(vb.type()).u16(0).oid(vb.name(), false);
            Variable v = vb.value();
            switch (vb.type()) {
                case T_INTEGER -> u32(((Integer32) v).getValue());
                case T_COUNTER32, T_GAUGE32, T_TIMETICKS -> u32(v.toLong());
                case T_COUNTER64 -> {
                    long x = ((Counter64) v).getValue();
                    u32(x >>> 32).u32(x);
                }
                case T_OCTET_STRING, T_OPAQUE -> octets(((OctetString) v).getValue());
                case T_IPADDRESS -> octets(((IpAddress) v).getInetAddress().getAddress());
                case T_OID -> oid((OID) v, false);
                default -> { } // Null and the exceptions carry no data
            }
            return this;
        }

        byte[] bytes() {
            byte[] out = new byte[b.position()];
            ByteBuffer d = b.duplicate();
            d.flip();
            d.get(out);
            int len = out.length - HEADER;
            out[16] = (byte) (len >>> 24);
            out[17] = (byte) (len >>> 16);
            out[18] = (byte) (len >>> 8);
            out[19] = (byte) len;
            return out;
        }
    }

    static int typeOf(Variable v) {
        if (v instanceof Counter64) {
            return T_COUNTER64;
        } else if (v instanceof Counter32) {
            return T_COUNTER32;
        } else if (v instanceof Gauge32) {
            return T_GAUGE32; // also Unsigned32 (a Gauge32 in SNMP4J)
        } else if (v instanceof TimeTicks) {
            return T_TIMETICKS;
        } else if (v instanceof Integer32) {
            return T_INTEGER;
        } else if (v instanceof IpAddress) {
            return T_IPADDRESS;
        } else if (v instanceof OctetString) {
            return T_OCTET_STRING;
        } else if (v instanceof OID) {
            return T_OID;
        }
        return T_NULL;
    }

    /** True when {@code a} lies in [{@code start}, {@code end}) with an empty end meaning no bound. */
    static boolean below(OID a, OID end) {
        return end == null || end.size() == 0 || a.compareTo(end) < 0;
    }
}
