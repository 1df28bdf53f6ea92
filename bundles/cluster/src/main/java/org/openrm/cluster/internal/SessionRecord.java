package org.openrm.cluster.internal;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.openrm.api.Selection;
import org.openrm.api.Session;

/**
 * The minimal record of a session that every member holds of every other member's calls (issue 14): what a survivor
 * needs to take the call over, count it and bill it. Immutable; its wire form (bounded: 64 tenants, 256 policy keys,
 * strings of 4,000 characters at most) is written and read here, testable without JGroups.
 */
record SessionRecord(String id, String callId, String callerTag, String from, String to, String dialled, long receivedAt,
           String resource, String group, long answeredAt, int attempts, String profile, String service,
           List<String> tenants, List<Integer> usage, List<Integer> burst, String conference, List<String> policyKeys) {

    static SessionRecord of(Session s) {
        Selection sel = s.selection();
        return new SessionRecord(s.id(), s.callId(), s.callerTag(), s.from(), s.to(), s.dialled(), s.receivedAt(),
                s.lastResource(), s.group(), s.answeredAt(), s.attempts(),
                sel == null ? null : sel.profile(), sel == null ? null : sel.service(),
                sel == null ? List.of() : sel.tenants(), sel == null ? List.of() : sel.usage(),
                sel == null ? List.of() : sel.burstLevels(), sel == null ? null : sel.conference(),
                sel == null ? List.of() : sel.policyKeys());
    }

    SessionRecord answered(long at) {
        return new SessionRecord(id, callId, callerTag, from, to, dialled, receivedAt, resource, group, at, attempts, profile,
                service, tenants, usage, burst, conference, policyKeys);
    }

    /** A session for this node's store with the record's fields (its counts are the adopter's to take). */
    Session session() {
        Session s = new Session(id, callId, callerTag, from, to, dialled, receivedAt);
        s.markTakenOver();
        if (profile != null) {
            s.selection(new Selection(profile, service, tenants, usage, burst, policyKeys, conference));
        }
        s.resourceSet(resource, group); // remembered as the last media server (for the CDR)
        s.attempts(attempts);
        if (answeredAt != 0) {
            s.markAnswered(answeredAt);
        }
        return s;
    }

    void write(DataOutputStream o) throws IOException {
        str(o, id);
        str(o, callId);
        str(o, callerTag);
        str(o, from);
        str(o, to);
        str(o, dialled);
        o.writeLong(receivedAt);
        str(o, resource);
        str(o, group);
        o.writeLong(answeredAt);
        o.writeInt(attempts);
        str(o, profile);
        str(o, service);
        o.writeShort(tenants.size());
        for (int i = 0; i < tenants.size(); i++) {
            str(o, tenants.get(i));
            o.writeInt(i < usage.size() ? usage.get(i) : 0);
            o.writeByte(i < burst.size() ? burst.get(i) : 0);
        }
        str(o, conference);
        o.writeShort(policyKeys.size());
        for (String k : policyKeys) {
            str(o, k);
        }
    }

    static SessionRecord read(DataInputStream in) throws IOException {
        String id = str(in);
        String callId = str(in);
        String tag = str(in);
        String from = str(in);
        String to = str(in);
        String dialled = str(in);
        long received = in.readLong();
        String resource = str(in);
        String group = str(in);
        long answered = in.readLong();
        int attempts = in.readInt();
        String profile = str(in);
        String service = str(in);
        int n = in.readShort();
        if (n < 0 || n > 64) {
            throw new IOException("tenant chain of " + n);
        }
        List<String> tenants = new ArrayList<>(n);
        List<Integer> usage = new ArrayList<>(n);
        List<Integer> burst = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            tenants.add(str(in));
            usage.add(in.readInt());
            burst.add((int) in.readByte());
        }
        String conference = str(in);
        int nk = in.readShort();
        if (nk < 0 || nk > 256) {
            throw new IOException(nk + " policy keys");
        }
        List<String> keys = new ArrayList<>(nk);
        for (int i = 0; i < nk; i++) {
            keys.add(str(in));
        }
        if (id == null || callId == null || keys.contains(null)) {
            throw new IOException("record without session id, Call-ID or policy key");
        }
        return new SessionRecord(id, callId, tag, from, to, dialled, received, resource, group, answered, attempts, profile,
                service, List.copyOf(tenants), List.copyOf(usage), List.copyOf(burst), conference, List.copyOf(keys));
    }

    // ---- strings, null included ----

    /** A string on the wire, null included (longer ones cut at 4,000 characters). */
    static void str(DataOutputStream o, String s) throws IOException {
        if (s == null) {
            o.writeBoolean(false);
        } else {
            o.writeBoolean(true);
            o.writeUTF(s.length() > 4000 ? s.substring(0, 4000) : s);
        }
    }

    static String str(DataInputStream in) throws IOException {
        return in.readBoolean() ? in.readUTF() : null;
    }
}
