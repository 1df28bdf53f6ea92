package org.openrm.sip.stack;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;

import org.junit.jupiter.api.Test;

class CidrTest {
    @Test
    void matchesBlocksAndHosts() throws Exception {
        Cidr c = Cidr.parse("10.1.0.0/16, 192.168.1.7 ::1/128");
        assertTrue(c.contains(InetAddress.getByName("10.1.200.3")));
        assertFalse(c.contains(InetAddress.getByName("10.2.0.1")));
        assertTrue(c.contains(InetAddress.getByName("192.168.1.7")));
        assertFalse(c.contains(InetAddress.getByName("192.168.1.8")));
        assertTrue(c.contains(InetAddress.getByName("::1")));
        assertFalse(c.contains(InetAddress.getByName("127.0.0.1")));
        assertTrue(Cidr.parse("10.0.0.0/9").contains(InetAddress.getByName("10.127.255.255")));
        assertFalse(Cidr.parse("10.0.0.0/9").contains(InetAddress.getByName("10.128.0.0")));
    }

    @Test
    void rejectsNamesAndBadPrefixes() {
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("example.com"));
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/33"));
    }
}
