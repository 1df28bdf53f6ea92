package org.openrm.sip.stack;

/**
 * The logger of the warm-up's private stacks ({@link CallWarmup}): every line at DEBUG, under
 * {@code org.openrm.sip.stack.warmup}. What goes wrong there happens to synthetic calls between two private stacks
 * (JAIN-SIP's races on a fresh TCP connection among them, which it retries), never to a peer's call: the warm-up
 * counts its lost calls and says so in its one INFO line, and an ERROR from it would send an operator looking for a
 * fault in the traffic.
 */
public final class WarmupStackLogger extends Slf4jStackLogger {
    public WarmupStackLogger() {
        super("org.openrm.sip.stack.warmup", true);
    }
}
