package org.openrm.sip.stack;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/** A list of CIDR blocks ({@code 10.0.0.0/8, ::1/128}) and a membership test. Immutable. */
public final class Cidr {
    private final List<byte[]> nets;
    private final List<Integer> bits;

    private Cidr(List<byte[]> nets, List<Integer> bits) {
        this.nets = nets;
        this.bits = bits;
    }

    /** Parses a comma- or space-separated list; an entry without {@code /n} is one host. */
    public static Cidr parse(String list) {
        List<byte[]> nets = new ArrayList<>();
        List<Integer> bits = new ArrayList<>();
        for (String entry : list.split("[,\\s]+")) {
            if (entry.isBlank()) {
                continue;
            }
            int slash = entry.indexOf('/');
            String host = slash < 0 ? entry : entry.substring(0, slash);
            if (!host.matches("[0-9A-Fa-f:.]+")) {
                throw new IllegalArgumentException("'" + entry + "' is not an address or CIDR block");
            }
            byte[] addr;
            try {
                addr = InetAddress.getByName(host).getAddress(); // a literal: no name lookup happens
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("'" + entry + "' is not an address or CIDR block");
            }
            int n = slash < 0 ? addr.length * 8 : Integer.parseInt(entry.substring(slash + 1));
            if (n < 0 || n > addr.length * 8) {
                throw new IllegalArgumentException("'" + entry + "' has a bad prefix length");
            }
            nets.add(addr);
            bits.add(n);
        }
        return new Cidr(List.copyOf(nets), List.copyOf(bits));
    }

    public boolean contains(InetAddress a) {
        if (a == null) {
            return false;
        }
        byte[] b = a.getAddress();
        for (int i = 0; i < nets.size(); i++) {
            byte[] net = nets.get(i);
            if (net.length == b.length && prefixMatches(net, b, bits.get(i))) {
                return true;
            }
        }
        return false;
    }

    private static boolean prefixMatches(byte[] net, byte[] b, int n) {
        int full = n / 8;
        for (int i = 0; i < full; i++) {
            if (net[i] != b[i]) {
                return false;
            }
        }
        int rest = n % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (net[full] & mask) == (b[full] & mask);
    }

    /** True for an IPv4 or IPv6 literal (no name to resolve). */
    public static boolean isIpLiteral(String host) {
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
}
