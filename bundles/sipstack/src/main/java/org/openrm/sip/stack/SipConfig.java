package org.openrm.sip.stack;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * PID {@code org.openrm.sip}: the SIP listening points, the edge, the overload guard and the proxy's behaviour. The
 * stack bundle reads it (it owns the sockets) and hands it to the proxy logic with every change.
 */
@ObjectClassDefinition(name = "openrm SIP", description = "SIP listening points and proxy behaviour")
public @interface SipConfig {
    @AttributeDefinition(description = "Address the SIP stack binds (UDP and TCP)")
    String listen_address() default "127.0.0.1";

    @AttributeDefinition(description = "Port the SIP stack binds (UDP and TCP)")
    int listen_port() default 5060;

    @AttributeDefinition(description = "Address put in Via and Record-Route; empty means listen.address")
    String advertised_address() default "";

    @AttributeDefinition(description = "The SIP Server (call controller) URI")
    String sipserver_uri() default "sip:127.0.0.1:5090";

    @AttributeDefinition(description = "CIDR list of peers whose requests are accepted; others get 403")
    String trusted_peers() default "127.0.0.0/8, ::1/128";

    @AttributeDefinition(description = "This node's id, sent in gvp.rm.datanodes of the GVP session id header")
    int node_id() default 1;

    @AttributeDefinition(description = "A media server that sends no response at all to an INVITE within "
            + "this time is treated as failed and the call moves to the next one")
    int invite_timeout_ms() default 3000;

    @AttributeDefinition(description = "A media server that timed out or refused a connection is skipped "
            + "for this long (0 disables)")
    int failure_quarantine_ms() default 5000;

    @AttributeDefinition(description = "Overload guard: the queueing delay (ms; the oldest received message waiting "
            + "for a SIP worker) it holds the queue at while it sheds a share of new INVITEs")
    int overload_target_delay_ms() default 30;

    @AttributeDefinition(description = "Overload guard: a delay above the target must stand (not fall) for this "
            + "long (ms) before any INVITE is shed; shorter bursts (a GC pause, a compile) are absorbed")
    int overload_interval_ms() default 100;

    @AttributeDefinition(description = "Overload guard: the fill of the UDP socket's receive buffer in the kernel "
            + "(percent of what the kernel granted) that counts as the target delay, so that a backlog the starved "
            + "receive thread has not yet read sheds too; a datagram the kernel dropped sheds at once. 0 turns this "
            + "signal off (Linux only: read from /proc/net/udp)")
    int overload_kernel_backlog_percent() default 15;

    @AttributeDefinition(description = "Overload guard, hard bound: INVITEs waiting for a final response above which "
            + "every new INVITE gets 503 with Retry-After (a memory bound; pending = call rate x setup time)")
    int overload_max_pending() default 5000;

    @AttributeDefinition(description = "Overload guard, hard bound: received messages waiting for a SIP worker "
            + "above which every new INVITE gets 503 with Retry-After (in-dialog traffic keeps flowing)")
    int overload_max_queue() default 10000;

    @AttributeDefinition(description = "In-dialog ACK and BYE over UDP that follow openrm's Record-Route, and the "
            + "responses to them, are relayed from their received bytes on the receive thread (Route popped, "
            + "Max-Forwards decremented, Via added or removed, nothing else touched) instead of being parsed and "
            + "re-encoded by the SIP stack; whatever cannot be relayed exactly goes through the stack. On by default since "
            + "the overload guard reads the kernel's socket buffer too (overload.kernel.backlog.percent): measured "
            + "clean to a 1.5x higher rate than the stack path and a higher goodput past capacity (bench/README.md)")
    boolean raw_relay() default true;

    @AttributeDefinition(description = "With raw.relay: in-dialog ACK and BYE received over TCP whose next hop is a TCP "
            + "connection openrm opened are relayed from their bytes too, on the connection's reader thread, written to "
            + "that connection under the stack's own lock; false: over TCP the stack relays them")
    boolean raw_relay_tcp() default true;

    @AttributeDefinition(description = "Threads that send what the byte-level relay decided, off the UDP receive "
            + "thread (1 to 8; one keeps a dialog's messages in order). Their queue's delay counts for the overload guard")
    int raw_relay_threads() default 1;

    @AttributeDefinition(description = "Messages relayed from their bytes that may wait for a sender thread; when "
            + "full, the receive thread sends them itself")
    int raw_relay_queue() default 10000;

    @AttributeDefinition(description = "Messages that waited longer than this in the SIP stack's queue are "
            + "dropped (peers retransmit them); keeps the queue short when openrm is saturated")
    int queue_timeout_ms() default 4000;

    @AttributeDefinition(description = "Receive buffer of the UDP listening socket (bytes; the kernel caps it at "
            + "net.core.rmem_max, the log says what it granted). Datagrams that arrive while the buffer is full are "
            + "dropped by the kernel: a lost 200 to a BYE is lost for good when the peer does not retransmit it. "
            + "0 keeps the system default")
    int udp_receive_buffer() default 4194304;

    @AttributeDefinition(description = "Retry-After seconds on 503 from the overload guard")
    int overload_retry_after_s() default 1;

    @AttributeDefinition(description = "Sessions older than this are ended by the orphan sweep (seconds)")
    int session_max_age_s() default 14400;

    @AttributeDefinition(description = "Unanswered sessions with no live INVITE branch older than this are "
            + "ended by the orphan sweep (seconds)")
    int session_setup_max_s() default 64;

    @AttributeDefinition(description = "Messages parsed and encoded in the background at start so the first "
            + "real calls find the code compiled (0 disables)")
    int warmup_messages() default 30000;

    @AttributeDefinition(description = "Synthetic calls (INVITE, 180, 200, ACK, BYE, 200; half over UDP, half over "
            + "TCP) placed through the proxy from a private caller to a private media server on a loopback address of "
            + "their own at start, before the node reports ready, so that the first real calls find the proxy's path "
            + "compiled; bounded by warmup.budget.ms (0 disables)")
    int warmup_calls() default 10000;

    @AttributeDefinition(description = "The synthetic calls go through the proxy's own listening point and logic "
            + "(from a loopback address of their own, out of the books); false: between the two private stacks only")
    boolean warmup_through() default true;

    @AttributeDefinition(description = "TCP_NODELAY on every SIP TCP connection, accepted or opened: each message "
            + "is sent at once instead of waiting for the previous one's acknowledgement (Nagle)")
    boolean tcp_nodelay() default false;

    @AttributeDefinition(description = "The longest the synthetic calls may take before readiness goes on without them (ms)")
    int warmup_budget_ms() default 30000;

    @AttributeDefinition(description = "Synthetic calls started per second (0: as fast as they complete); paced so "
            + "that the JIT compiler keeps up with what they make hot")
    int warmup_rate() default 400;

    @AttributeDefinition(description = "JAIN-SIP worker threads (8 measured best on 2 cores)")
    int thread_pool_size() default 8;

    @AttributeDefinition(description = "Upper bound on server and client transactions each")
    int max_transactions() default 300000;

    @AttributeDefinition(description = "OPTIONS from an address not trusted gets no answer at all (scanners), instead of 403")
    boolean untrusted_options_silent() default false;

    @AttributeDefinition(description = "Largest SIP message accepted (bytes, UDP and TCP); larger ones get 513")
    int max_message_size() default 16384;

    @AttributeDefinition(description = "Most header fields in one message; more get 400")
    int max_headers() default 100;

    @AttributeDefinition(description = "Longest header field line (bytes); longer gets 400")
    int max_line_length() default 4096;

    @AttributeDefinition(description = "Most TCP connections open at once (incoming and outgoing); beyond it new ones are refused")
    int max_tcp_connections() default 1000;

    @AttributeDefinition(description = "Most TCP connections from one source address")
    int max_tcp_connections_per_source() default 50;

    @AttributeDefinition(description = "A TCP connection with no traffic for this long is closed (s)")
    int tcp_idle_timeout_s() default 120;

    @AttributeDefinition(description = "A TCP connection whose message is not complete this long after its first byte is closed (s; slowloris)")
    int tcp_message_timeout_s() default 10;

    @AttributeDefinition(description = "Upper bound on OPTIONS health pings in flight")
    int max_pings() default 20000;

    @AttributeDefinition(description = "A new INVITE that arrives while no routing service is bound (routing being "
            + "updated) waits this long for it (ms) before it gets 503; 0 answers 503 at once")
    int routing_wait_ms() default 2000;

    @AttributeDefinition(description = "openrm counts itself saturated (and health does not blame media servers "
            + "for timeouts) while its SIP timer runs this many ms late: a starved CPU or a long GC pause")
    int saturation_lag_ms() default 250;

    @AttributeDefinition(description = "While the proxy logic bundle is replaced (bundle:update of org.openrm.sip), "
            + "requests wait this long (ms) for the new one instead of being refused; then a new INVITE gets 503")
    int proxy_wait_ms() default 2000;

    @AttributeDefinition(description = "A replaced proxy logic goes on handling the transactions it started (its calls "
            + "in setup: failover, CANCEL, no-answer timers) for at most this long (ms) after the new one took over")
    int proxy_retire_ms() default 40000;
}
