package org.openrm.api.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.openrm.api.Shares;

/**
 * A count and this node's share of its limit in one atomic word (count in the low 32 bits, share in the high 32),
 * so that an admission and a share taken back by the cluster can never interleave: the count never passes the
 * share. Unmanaged, the share is {@link Shares#UNLIMITED} and an admission is one compare-and-set, as before.
 */
final class ShareCounter {
    private final AtomicLong word;
    /** Admissions refused because the share, not the limit, was full. */
    final AtomicInteger shortOfShare = new AtomicInteger();

    ShareCounter(int share) {
        word = new AtomicLong(pack(0, share));
    }

    private static long pack(int count, int share) {
        return ((long) share << 32) | (count & 0xffffffffL);
    }

    private static int countOf(long w) {
        return (int) w;
    }

    private static int shareOf(long w) {
        return (int) (w >>> 32);
    }

    int count() {
        return countOf(word.get());
    }

    int share() {
        return shareOf(word.get());
    }

    /**
     * Adds one unless that would pass {@code limit} (negative: no limit, and then the share does not apply either)
     * or the share.
     *
     * @return the new count, or -1
     */
    int increment(int limit) {
        for (;;) {
            long w = word.get();
            int c = countOf(w);
            if (limit >= 0) {
                if (c >= limit) {
                    return -1;
                }
                if (c >= shareOf(w)) {
                    shortOfShare.incrementAndGet();
                    return -1;
                }
            }
            if (word.compareAndSet(w, w + 1)) {
                return c + 1;
            }
        }
    }

    /** Removes one; false (and nothing changed) if the count was already 0. */
    boolean decrement() {
        for (;;) {
            long w = word.get();
            if (countOf(w) <= 0) {
                return false;
            }
            if (word.compareAndSet(w, w - 1)) {
                return true;
            }
        }
    }

    /** Sets the share: to the count (manage) or to UNLIMITED (unmanage). */
    void shareToCount(boolean managed) {
        for (;;) {
            long w = word.get();
            long n = pack(countOf(w), managed ? countOf(w) : Shares.UNLIMITED);
            if (word.compareAndSet(w, n)) {
                return;
            }
        }
    }

    void grant(int n) {
        if (n <= 0) {
            return;
        }
        for (;;) {
            long w = word.get();
            int s = shareOf(w);
            if (s == Shares.UNLIMITED) {
                return;
            }
            long n2 = pack(countOf(w), (int) Math.min((long) s + n, Shares.UNLIMITED - 1L));
            if (word.compareAndSet(w, n2)) {
                return;
            }
        }
    }

    int giveBack(int n) {
        for (;;) {
            long w = word.get();
            int s = shareOf(w);
            int c = countOf(w);
            if (s == Shares.UNLIMITED || n <= 0) {
                return 0;
            }
            int take = Math.min(n, Math.max(0, s - c));
            if (take == 0) {
                return 0;
            }
            if (word.compareAndSet(w, pack(c, s - take))) {
                return take;
            }
        }
    }

    int[] snapshot() {
        long w = word.get();
        return new int[] {countOf(w), shareOf(w), shortOfShare.get()};
    }
}
