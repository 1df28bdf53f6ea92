package org.openrm.api;

/** Whiteboard listener for {@link Alarm}s; called on the raising bundle's own thread, never on a SIP thread. */
public interface AlarmListener {
    void alarm(Alarm alarm);
}
