package org.openrm.cluster.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.openrm.api.Selection;
import org.openrm.api.Session;

/** The session record's wire form, without JGroups: every field back, nulls kept, bounds enforced. */
class SessionRecordTest {

    private static byte[] bytes(SessionRecord r) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream o = new DataOutputStream(b)) {
            r.write(o);
        }
        return b.toByteArray();
    }

    private static SessionRecord read(byte[] b) throws IOException {
        return SessionRecord.read(new DataInputStream(new ByteArrayInputStream(b)));
    }

    @Test
    void everyFieldOfASessionComesBack() throws IOException {
        Session s = new Session("gvp-1", "c1@test", "tag-1", "<sip:a@b>", "<sip:5551234@rm>", "5551234", 1_000L);
        s.selection(new Selection("welcome", "voicexml", List.of("acme", "root"), List.of(1, 1), List.of(1, 2),
                List.of("tenant:acme", "tenant:root", "profile:welcome"), "conf-7"));
        s.resourceSet("mcp1", "default");
        s.attempts(2);
        s.markAnswered(2_000L);
        SessionRecord r = SessionRecord.of(s);
        SessionRecord back = read(bytes(r));
        assertEquals(r, back);
        Session adopted = back.session();
        assertTrue(adopted.takenOver());
        assertEquals("c1@test", adopted.callId());
        assertEquals("mcp1", adopted.lastResource());
        assertEquals(2, adopted.attempts());
        assertEquals(2_000L, adopted.answeredAt());
        assertEquals(s.selection().policyKeys(), adopted.selection().policyKeys());
        assertEquals(2_500L, read(bytes(back.answered(2_500L))).answeredAt());
    }

    @Test
    void aSessionWithoutSelectionKeepsItsNulls() throws IOException {
        Session s = new Session("gvp-2", "c2@test", null, null, null, null, 5L);
        SessionRecord back = read(bytes(SessionRecord.of(s)));
        assertNull(back.profile());
        assertNull(back.callerTag());
        assertEquals(List.of(), back.tenants());
        assertNull(back.session().selection());
    }

    @Test
    void aDamagedRecordIsRefusedNotBelieved() throws IOException {
        byte[] ok = bytes(SessionRecord.of(new Session("gvp-3", "c3@test", "t", "f", "t", "d", 7L)));
        assertThrows(IOException.class, () -> read(Arrays.copyOf(ok, ok.length - 3)), "truncated");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream o = new DataOutputStream(b)) {
            SessionRecord.str(o, null); // no session id
            SessionRecord.str(o, "c4@test");
            for (int i = 0; i < 4; i++) {
                SessionRecord.str(o, null);
            }
            o.writeLong(1);
            SessionRecord.str(o, null);
            SessionRecord.str(o, null);
            o.writeLong(0);
            o.writeInt(0);
            SessionRecord.str(o, null);
            SessionRecord.str(o, null);
            o.writeShort(0);
            SessionRecord.str(o, null);
            o.writeShort(0);
        }
        assertThrows(IOException.class, () -> read(b.toByteArray()), "a record without session id");
    }
}
