package org.openrm.health.internal.command;

import org.openrm.health.internal.HealthMonitor;

/** The shared body of rm:resource-disable and rm:resource-enable. */
final class AdminState {
    private AdminState() { }

    static Object set(HealthMonitor health, String name, boolean disabled) {
        if (!health.setDisabled(name, disabled, "the console")) {
            throw new IllegalArgumentException("No media server named '" + name + "' (see rm:resources)");
        }
        System.out.println("Media server " + name + (disabled ? " disabled: no new calls, calls in progress continue"
                : " enabled: takes new calls when healthy"));
        return null;
    }
}
