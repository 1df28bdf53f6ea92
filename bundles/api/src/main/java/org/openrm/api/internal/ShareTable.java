package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.openrm.api.Shares;

/** Counters by key with their cluster shares: the state behind both ledgers. Bounded by the configured keys. */
final class ShareTable implements Shares {
    private final Map<String, ShareCounter> counters = new ConcurrentHashMap<>();
    private volatile boolean managed;

    ShareCounter counter(String key) {
        ShareCounter c = counters.get(key);
        return c != null ? c : counters.computeIfAbsent(key, k -> new ShareCounter(managed ? 0 : UNLIMITED));
    }

    ShareCounter existing(String key) {
        return counters.get(key);
    }

    Map<String, ShareCounter> all() {
        return counters;
    }

    @Override
    public synchronized void manage(boolean on) {
        managed = on;
        // twice: a counter created by a thread that read the old flag is caught by the second pass
        for (int pass = 0; pass < 2; pass++) {
            counters.values().forEach(c -> c.shareToCount(on));
        }
    }

    @Override
    public boolean managed() {
        return managed;
    }

    @Override
    public int share(String key) {
        ShareCounter c = counters.get(key);
        return c == null ? (managed ? 0 : UNLIMITED) : c.share();
    }

    @Override
    public void grant(String key, int n) {
        if (managed) {
            counter(key).grant(n);
        }
    }

    @Override
    public int giveBack(String key, int n) {
        ShareCounter c = counters.get(key);
        return c == null ? 0 : c.giveBack(n);
    }

    @Override
    public Map<String, int[]> shareSnapshot() {
        Map<String, int[]> out = new HashMap<>();
        counters.forEach((k, c) -> out.put(k, c.snapshot()));
        return out;
    }
}
