package org.openrm.api;

import java.util.Map;

/**
 * This node's shares of limits that a cluster enforces as a whole. A node admits a call on a key only while its
 * count stays within both the limit and its share; the cluster bundle moves shares between nodes so that the sum
 * of the shares of all nodes never exceeds the limit. The share sits in the same atomic word as the count, so a
 * share taken back can never race an admission. Alone (never {@link #manage managed}) every share is unlimited
 * and an admission costs what it cost before clustering existed.
 *
 * <p>Lives in the api bundle with the counts: shares survive an update of the cluster bundle.
 */
public interface Shares {
    /** The share of a key that the cluster does not manage. */
    int UNLIMITED = Integer.MAX_VALUE;

    /**
     * Puts every key under cluster management (true): each key's share becomes its count, keys seen later start
     * at 0. Or takes them all out of it (false): every share is {@link #UNLIMITED} again.
     */
    void manage(boolean on);

    /** True while the cluster manages shares. */
    boolean managed();

    /** The share of {@code key}, {@link #UNLIMITED} when not managed. */
    int share(String key);

    /** Adds {@code n} to the share of {@code key} (the cluster granted them to this node). */
    void grant(String key, int n);

    /**
     * Takes back up to {@code n} of the unused part of the share of {@code key} (never below its count).
     *
     * @return how many were taken back
     */
    int giveBack(String key, int n);

    /** Per key: {count, share, admissions refused because the share (not the limit) was full}; a snapshot. */
    Map<String, int[]> shareSnapshot();
}
