package org.openrm.cluster.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The cluster's messages, in a compact binary form. Each starts with its type, the view it belongs to and the
 * coordinator's epoch in that view: a message of another view or epoch is dropped, so a share in flight when the
 * membership changed is never applied late (it is found again by the next reconciliation instead).
 */
final class Wire {
    /** member → coordinator: counts, shares and refusals per key (changed keys, all keys now and then). */
    static final byte REPORT = 1;
    /** coordinator → all: report your actual shares and your copy of the table (a reconciliation starts). */
    static final byte STATE_REQ = 2;
    /** member → coordinator: actual shares, the table as this member knows it, the amounts created. */
    static final byte STATE = 3;
    /** coordinator → all, acknowledged by all before any grant in it is applied: table entries and amounts created. */
    static final byte ALLOC = 4;
    /** coordinator → all: the grants of the last ALLOC, applied by each named member. */
    static final byte COMMIT = 5;
    /** coordinator → member: give back up to these amounts of unused share. */
    static final byte REVOKE = 6;
    /** member → coordinator: what it gave back (already taken off its share). */
    static final byte YIELDED = 7;
    /** any → all: the operator confirmed these departed members dead; their shares shrink to their live calls. */
    static final byte FORGET = 8;

    final byte type;
    final long view;
    final int epoch;
    /**
     * REPORT/STATE: key → {count, share, refusals}; REVOKE/YIELDED: key → {n}; FORGET, and the STATE that the table's
     * file holds: member → {0}, the members the operator confirmed dead.
     */
    final Map<String, int[]> keys;
    /** STATE/ALLOC: member → key → share (the table); COMMIT: member → key → granted. */
    final Map<String, Map<String, Integer>> table;
    /** STATE/ALLOC: key → amount created. */
    final Map<String, Integer> created;

    Wire(byte type, long view, int epoch, Map<String, int[]> keys, Map<String, Map<String, Integer>> table,
         Map<String, Integer> created) {
        this.type = type;
        this.view = view;
        this.epoch = epoch;
        this.keys = keys == null ? Map.of() : keys;
        this.table = table == null ? Map.of() : table;
        this.created = created == null ? Map.of() : created;
    }

    byte[] encode() {
        ByteArrayOutputStream b = new ByteArrayOutputStream(256);
        try (DataOutputStream o = new DataOutputStream(b)) {
            o.writeByte(type);
            o.writeLong(view);
            o.writeInt(epoch);
            o.writeInt(keys.size());
            for (Map.Entry<String, int[]> e : keys.entrySet()) {
                o.writeUTF(e.getKey());
                o.writeByte(e.getValue().length);
                for (int v : e.getValue()) {
                    o.writeInt(v);
                }
            }
            o.writeInt(table.size());
            for (Map.Entry<String, Map<String, Integer>> m : table.entrySet()) {
                o.writeUTF(m.getKey());
                writeInts(o, m.getValue());
            }
            writeInts(o, created);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.toByteArray();
    }

    private static void writeInts(DataOutputStream o, Map<String, Integer> m) throws IOException {
        o.writeInt(m.size());
        for (Map.Entry<String, Integer> e : m.entrySet()) {
            o.writeUTF(e.getKey());
            o.writeInt(e.getValue());
        }
    }

    /** Most entries one message may carry: a bound against a corrupt or hostile length. */
    static final int MAX_ENTRIES = 1_000_000;

    static Wire decode(byte[] buf, int off, int len) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(buf, off, len));
        byte type = in.readByte();
        long view = in.readLong();
        int epoch = in.readInt();
        int n = bounded(in.readInt());
        Map<String, int[]> keys = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            String k = in.readUTF();
            int[] v = new int[in.readByte()];
            for (int j = 0; j < v.length; j++) {
                v[j] = in.readInt();
            }
            keys.put(k, v);
        }
        int t = bounded(in.readInt());
        Map<String, Map<String, Integer>> table = new HashMap<>(t * 2);
        for (int i = 0; i < t; i++) {
            String member = in.readUTF();
            table.put(member, readInts(in));
        }
        return new Wire(type, view, epoch, keys, table, readInts(in));
    }

    private static Map<String, Integer> readInts(DataInputStream in) throws IOException {
        int n = bounded(in.readInt());
        Map<String, Integer> m = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            m.put(in.readUTF(), in.readInt());
        }
        return m;
    }

    private static int bounded(int n) throws IOException {
        if (n < 0 || n > MAX_ENTRIES) {
            throw new IOException("entry count " + n + " out of bounds");
        }
        return n;
    }
}
