package org.openrm.api.internal;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.openrm.api.Registrations;
import org.osgi.service.component.annotations.Component;

/** Registered media servers; the registrar bounds how many it accepts. */
@Component(service = Registrations.class)
public class InMemoryRegistrations implements Registrations {
    private final Map<String, Binding> bindings = new ConcurrentHashMap<>();

    @Override
    public Binding put(String name, Binding binding) {
        return bindings.put(name, binding);
    }

    @Override
    public Binding remove(String name) {
        return bindings.remove(name);
    }

    @Override
    public Map<String, Binding> expire(long now) {
        Map<String, Binding> gone = new HashMap<>();
        bindings.forEach((k, v) -> {
            if (v.expiresAt() <= now && bindings.remove(k, v)) {
                gone.put(k, v);
            }
        });
        return gone;
    }

    @Override
    public Map<String, Binding> all() {
        return Map.copyOf(bindings);
    }
}
