package org.openrm.billing.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jakarta.jms.Connection;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.broker.BrokerService;
import org.apache.activemq.store.kahadb.KahaDBPersistenceAdapter;
import org.openrm.sip.internal.Sipp;

/** A real ActiveMQ broker with a persistent KahaDB store on a free loopback port; stoppable and restartable. */
final class TestBroker implements AutoCloseable {
    final int port;
    final Path data;
    private BrokerService broker;

    TestBroker() throws Exception {
        port = Sipp.freePort();
        data = Files.createTempDirectory("openrm-broker");
    }

    String url() {
        return "tcp://127.0.0.1:" + port;
    }

    TestBroker start() throws Exception {
        BrokerService b = new BrokerService();
        b.setBrokerName("openrm-test-" + port);
        b.setUseJmx(false);
        b.setAdvisorySupport(false);
        b.setDataDirectoryFile(data.toFile());
        KahaDBPersistenceAdapter kaha = new KahaDBPersistenceAdapter();
        kaha.setDirectory(data.resolve("kahadb").toFile());
        b.setPersistenceAdapter(kaha);
        b.addConnector("tcp://127.0.0.1:" + port);
        b.setUseShutdownHook(false);
        b.start();
        b.waitUntilStarted();
        broker = b;
        return this;
    }

    void stop() throws Exception {
        if (broker != null) {
            broker.stop();
            broker.waitUntilStopped();
            broker = null;
        }
    }

    /** Takes every text message from {@code queue} until {@code expected} came or {@code maxMs} passed. */
    List<String> drain(String queue, int expected, long maxMs) throws Exception {
        List<String> out = new ArrayList<>();
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url());
        try (Connection c = f.createConnection()) {
            c.start();
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer consumer = s.createConsumer(s.createQueue(queue));
            long end = System.currentTimeMillis() + maxMs;
            while (out.size() < expected && System.currentTimeMillis() < end) {
                Message m = consumer.receive(200);
                if (m instanceof TextMessage t) {
                    String id = t.getStringProperty("sessionId");
                    String text = t.getText();
                    if (id != null && !text.contains("\"sessionId\":\"" + id + "\"")) {
                        throw new AssertionError("sessionId property " + id + " does not match " + text);
                    }
                    if (!(m.getJMSDeliveryMode() == jakarta.jms.DeliveryMode.PERSISTENT)) {
                        throw new AssertionError("not persistent: " + text);
                    }
                    out.add(text);
                }
            }
            // anything more would be a duplicate or a stray record: collect what arrives within a short while
            Message m;
            while ((m = consumer.receive(300)) != null) {
                if (m instanceof TextMessage t) {
                    out.add(t.getText());
                }
            }
        }
        return out;
    }

    @Override
    public void close() throws Exception {
        stop();
    }
}
