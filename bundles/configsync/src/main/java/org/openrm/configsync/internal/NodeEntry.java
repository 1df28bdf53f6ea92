package org.openrm.configsync.internal;

import java.io.IOException;
import java.util.function.Consumer;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The config handler (connection 10): the node's application entry {@code <prefix>nodes/<node.id>} held by a lease
 * that this node keeps alive (so the entry vanishes a TTL after the node dies), and the default resource group
 * created if absent, in one transaction, so nodes starting together do not overwrite each other. Its keep-alive is
 * also the heartbeat of the endpoint in use: when it fails, {@code onEndpointFailure} runs (the watch moves on).
 */
final class NodeEntry implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(NodeEntry.class);
    static final String DEFAULT_GROUP = "{\"scheme\":\"round-robin\"}";

    private final Etcd etcd;
    private final String prefix;
    private final String nodeId;
    private final Supplier<String> entry;
    private final long ttlS;
    private final Runnable onEndpointFailure;
    private final Consumer<String> status;
    private volatile boolean running = true;
    private volatile long lease;
    private Thread thread;

    NodeEntry(Etcd etcd, String prefix, String nodeId, Supplier<String> entry, long ttlS, Runnable onEndpointFailure,
              Consumer<String> status) {
        this.etcd = etcd;
        this.prefix = prefix;
        this.nodeId = nodeId;
        this.entry = entry;
        this.ttlS = ttlS;
        this.onEndpointFailure = onEndpointFailure;
        this.status = status;
    }

    String key() {
        return prefix + Layout.NODES + nodeId;
    }

    long lease() {
        return lease;
    }

    void start() {
        thread = new Thread(this, "openrm-configsync-lease");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void run() {
        long backoff = 200;
        boolean groupChecked = false;
        while (running) {
            try {
                if (lease == 0) {
                    lease = etcd.grant(ttlS);
                    etcd.put(key(), entry.get(), lease);
                    status.accept("lease " + Long.toHexString(lease) + " (TTL " + ttlS + " s) holds " + key());
                    LOG.info("Config handler: node entry {} written with lease {} (TTL {} s)", key(), Long.toHexString(lease), ttlS);
                }
                if (!groupChecked) {
                    if (etcd.putIfAbsent(prefix + "lrg/default", DEFAULT_GROUP, 0)) {
                        LOG.info("Config handler: created the default resource group {}lrg/default", prefix);
                    }
                    groupChecked = true;
                }
                backoff = 200;
                sleep(Math.max(300, ttlS * 1000 / 3));
                if (running && !etcd.keepAlive(lease)) {
                    LOG.warn("Config handler: lease {} of {} expired; writing the entry again", Long.toHexString(lease), key());
                    lease = 0;
                }
            } catch (IOException e) {
                if (!running) {
                    break;
                }
                status.accept("lease: " + e.getMessage());
                LOG.debug("Config handler: {}", e.getMessage());
                onEndpointFailure.run();
                sleep(backoff);
                backoff = Math.min(backoff * 2, 5000);
            } catch (RuntimeException e) {
                LOG.error("Config handler failed; retrying", e);
                sleep(1000);
            }
        }
    }

    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    /** Stops keeping the lease; with {@code revoke} the entry goes at once (a clean stop), else at its TTL. */
    void stop(boolean revoke) {
        running = false;
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (revoke && lease != 0) {
            try {
                etcd.revoke(lease);
            } catch (IOException e) {
                LOG.debug("Config handler: lease not revoked ({}); the entry expires with it", e.getMessage());
            }
        }
    }
}
