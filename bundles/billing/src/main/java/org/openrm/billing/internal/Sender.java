package org.openrm.billing.internal;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.jms.Connection;
import jakarta.jms.DeliveryMode;
import jakarta.jms.JMSException;
import jakarta.jms.MessageProducer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers spooled records to the broker in spool order: a transacted JMS session sends a batch of persistent
 * text messages and commits; only then is the spool checkpoint moved (at-least-once: a crash between the
 * commit and the checkpoint re-sends that batch, which the consumer drops by {@code sessionId}). A broker that
 * is down, slow or restarted only delays delivery: this thread reconnects with a growing pause.
 */
final class Sender implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Sender.class);
    static final byte CDR = 1;
    static final byte STATS = 2;

    record Settings(String url, String user, String password, String cdrQueue, String statsQueue, int batch, int retryMaxS) { }

    private final Spool spool;
    private final Settings settings;
    final AtomicLong delivered = new AtomicLong();
    /** Epoch ms of the last batch the broker took (0: none yet). */
    volatile long lastDeliveredAt;
    final AtomicLong batches = new AtomicLong();
    final AtomicLong connectAttempts = new AtomicLong();
    volatile boolean connected;
    volatile String lastError;
    private volatile boolean running = true;
    private Connection connection;
    private Session session;
    private MessageProducer cdr;
    private MessageProducer stats;
    private final Object wake = new Object();
    private final Runnable afterAck;

    Sender(Spool spool, Settings settings, Runnable afterAck) {
        this.spool = spool;
        this.settings = settings;
        this.afterAck = afterAck;
    }

    /** New durable records: deliver without waiting for the next poll. */
    void wake() {
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    void stop() {
        running = false;
        wake();
    }

    @Override
    public void run() {
        long pauseMs = 500;
        long failingSince = 0;
        long lastLog = 0;
        try {
            Spool.Position pos = spool.checkpoint();
            while (running) {
                try {
                    List<Spool.Entry> batch = spool.read(pos, settings.batch());
                    if (batch.isEmpty()) {
                        synchronized (wake) {
                            if (running) {
                                wake.wait(200);
                            }
                        }
                        continue;
                    }
                    if (session == null) {
                        connect();
                    }
                    int sent = 0;
                    for (Spool.Entry e : batch) {
                        if (e.type() == CDR || e.type() == STATS) {
                            String text = e.text();
                            TextMessage m = session.createTextMessage(text);
                            String id = Json.field(text, "sessionId");
                            if (id != null) {
                                m.setStringProperty("sessionId", id);
                            }
                            m.setStringProperty("type", e.type() == CDR ? "cdr" : "stats");
                            (e.type() == CDR ? cdr : stats).send(m);
                            sent++;
                        }
                    }
                    session.commit();
                    Spool.Entry last = batch.get(batch.size() - 1);
                    pos = new Spool.Position(last.segment(), last.end());
                    spool.acknowledge(pos);
                    delivered.addAndGet(sent);
                    lastDeliveredAt = System.currentTimeMillis();
                    batches.incrementAndGet();
                    if (failingSince != 0) {
                        LOG.info("Billing delivery to {} resumed after {} s", settings.url(), (System.currentTimeMillis() - failingSince) / 1000);
                        failingSince = 0;
                    }
                    pauseMs = 500;
                    lastError = null;
                    afterAck.run();
                } catch (JMSException | RuntimeException e) {
                    close();
                    pos = spool.checkpoint(); // the uncommitted batch is sent again
                    long now = System.currentTimeMillis();
                    lastError = e.toString();
                    if (failingSince == 0) {
                        failingSince = now;
                        LOG.warn("Billing delivery to {} failed ({}); records stay in the spool, retrying", settings.url(), e.toString());
                        lastLog = now;
                    } else if (now - lastLog > 60_000) {
                        LOG.warn("Billing delivery to {} failing for {} s ({}); spool holds {} KB", settings.url(),
                                (now - failingSince) / 1000, e.toString(), spool.totalBytes() / 1024);
                        lastLog = now;
                    }
                    // back off for the whole pause: new records wake the sender every fsync, and a broker that
                    // is down must not be dialled at that rate (it was: a connection and a thread every ~40 ms)
                    long until = System.nanoTime() + pauseMs * 1_000_000L;
                    synchronized (wake) {
                        long left;
                        while (running && (left = until - System.nanoTime()) > 0) {
                            wake.wait(Math.max(1, left / 1_000_000L));
                        }
                    }
                    pauseMs = Math.min(pauseMs * 2, settings.retryMaxS() * 1000L);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.io.IOException e) {
            LOG.error("Billing spool unreadable; delivery stopped until the billing bundle restarts", e);
        } finally {
            close();
        }
    }

    private void connect() throws JMSException {
        connectAttempts.incrementAndGet();
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(settings.url());
        f.setWatchTopicAdvisories(false);
        f.setCloseTimeout(2000);
        f.setSendTimeout(15_000);
        Connection c = settings.user().isEmpty() ? f.createConnection() : f.createConnection(settings.user(), settings.password());
        try {
            c.start();
            Session s = c.createSession(true, Session.SESSION_TRANSACTED);
            MessageProducer p1 = s.createProducer(s.createQueue(settings.cdrQueue()));
            p1.setDeliveryMode(DeliveryMode.PERSISTENT);
            MessageProducer p2 = s.createProducer(s.createQueue(settings.statsQueue()));
            p2.setDeliveryMode(DeliveryMode.PERSISTENT);
            connection = c;
            session = s;
            cdr = p1;
            stats = p2;
            connected = true;
            LOG.info("Billing connected to {} (queues {}, {})", settings.url(), settings.cdrQueue(), settings.statsQueue());
        } catch (JMSException e) {
            try {
                c.close();
            } catch (JMSException ignored) {
                // closing a half-open connection
            }
            throw e;
        }
    }

    private void close() {
        connected = false;
        Connection c = connection;
        connection = null;
        session = null;
        cdr = null;
        stats = null;
        if (c != null) {
            try {
                c.close();
            } catch (JMSException | RuntimeException e) {
                LOG.debug("closing the broker connection", e);
            }
        }
    }
}
