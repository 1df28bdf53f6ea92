package org.openrm.sip.stack;

import java.util.Properties;

import gov.nist.core.StackLogger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends JAIN-SIP's own log lines to SLF4J (Pax Logging in Karaf) instead of log4j 1 files. Instantiated by
 * the stack by class name ({@code gov.nist.javax.sip.STACK_LOGGER}).
 */
public class Slf4jStackLogger implements StackLogger {
    private final Logger LOG;
    /** True for the warm-up's private stacks: their errors are the synthetic calls', counted by the warm-up itself. */
    private final boolean quiet;

    public Slf4jStackLogger() {
        this("org.openrm.sip.stack", false);
    }

    protected Slf4jStackLogger(String name, boolean quiet) {
        this.LOG = LoggerFactory.getLogger(name);
        this.quiet = quiet;
    }

    @Override public void logStackTrace() { }
    @Override public void logStackTrace(int traceLevel) { }
    @Override public int getLineCount() { return 0; }
    @Override public void logException(Throwable ex) {
        if (quiet) {
            LOG.debug("SIP stack exception", ex);
        } else {
            LOG.warn("SIP stack exception", ex);
        }
    }
    @Override public void logDebug(String message) { LOG.trace(message); }
    @Override public void logDebug(String message, Exception ex) { LOG.trace(message, ex); }
    @Override public void logTrace(String message) { LOG.trace(message); }
    @Override public void logFatalError(String message) { logError(message); }
    @Override public void logError(String message) {
        if (quiet || message != null && message.startsWith("bad event")) {
            LOG.debug(message); // the wake-up openrm sends a stopped stack's event scanner
        } else {
            LOG.error(message);
        }
    }
    /** Levels cached for a second: the stack asks on every message, and each answer crosses Pax Logging. */
    private volatile long levelsReadAt;
    private volatile boolean error;
    private volatile boolean warn;
    private volatile boolean debug;
    private volatile boolean trace;

    private void refreshLevels() {
        long now = System.nanoTime();
        if (now - levelsReadAt > 1_000_000_000L) {
            error = LOG.isErrorEnabled();
            warn = LOG.isWarnEnabled();
            debug = LOG.isDebugEnabled();
            trace = LOG.isTraceEnabled();
            levelsReadAt = now;
        }
    }

    @Override public boolean isLoggingEnabled() {
        refreshLevels();
        return quiet ? debug : warn;
    }

    /**
     * The stack's INFO level logs every message it sends and receives (with bodies), which costs more CPU
     * than proxying them: map it to DEBUG, and the stack's DEBUG to TRACE.
     */
    @Override
    public boolean isLoggingEnabled(int logLevel) {
        refreshLevels();
        if (logLevel >= TRACE_DEBUG) {
            return trace;
        }
        if (logLevel >= TRACE_INFO) {
            return debug;
        }
        if (quiet) {
            return logLevel > TRACE_NONE && debug; // everything at DEBUG
        }
        if (logLevel >= TRACE_WARN) {
            return warn;
        }
        return logLevel > TRACE_NONE && error;
    }

    @Override public void logError(String message, Exception ex) {
        if (quiet) {
            LOG.debug(message, ex);
        } else {
            LOG.error(message, ex);
        }
    }
    @Override public void logWarning(String message) {
        if (quiet || message != null && message.startsWith("Null request interface returned")) {
            LOG.debug(message); // a request openrm's edge answered or dropped: counted and logged there
        } else {
            LOG.warn(message);
        }
    }
    @Override public void logInfo(String message) { LOG.debug(message); }
    @Override public void disableLogging() { }
    @Override public void enableLogging() { }
    @Override public void setBuildTimeStamp(String buildTimeStamp) { }
    @Override public void setStackProperties(Properties stackProperties) { }
    @Override public String getLoggerName() { return LOG.getName(); }
}
