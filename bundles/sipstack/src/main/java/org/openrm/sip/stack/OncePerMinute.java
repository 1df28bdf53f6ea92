package org.openrm.sip.stack;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;

/** A WARN logged at most once a minute per key (a source and a reason): floods are counted, not logged per packet. */
public final class OncePerMinute {
    private static final int MAX_KEYS = 10_000;
    private final Logger log;
    private final Map<String, Long> loggedAt = new ConcurrentHashMap<>();

    public OncePerMinute(Logger log) {
        this.log = log;
    }

    public void warn(String key, String format, Object... args) {
        long now = System.currentTimeMillis();
        Long last = loggedAt.get(key);
        if (last == null || now - last > 60_000) {
            if (loggedAt.size() > MAX_KEYS) {
                loggedAt.clear();
            }
            loggedAt.put(key, now);
            log.warn(format, args);
        }
    }
}
