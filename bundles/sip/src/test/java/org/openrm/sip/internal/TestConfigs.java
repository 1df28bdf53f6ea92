package org.openrm.sip.internal;

import org.openrm.sip.stack.*;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;

import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/** Builds DS component property types and a read-only Configuration Admin for tests outside OSGi. */
public final class TestConfigs {
    private TestConfigs() { }

    /** An instance of a DS config annotation: {@code listen_port()} reads key {@code listen.port}, else the default. */
    @SuppressWarnings("unchecked")
    public static <A> A of(Class<A> type, Map<String, Object> values) {
        return (A) Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (proxy, m, args) -> {
            if (m.getDeclaringClass() == Object.class) {
                return m.getName().equals("toString") ? type.getSimpleName() + values : m.invoke(values, args);
            }
            Object v = values.get(m.getName().replace('_', '.'));
            if (v == null) {
                return m.getDefaultValue();
            }
            Class<?> rt = m.getReturnType();
            if (rt == int.class) {
                return Integer.parseInt(v.toString());
            }
            if (rt == long.class) {
                return Long.parseLong(v.toString());
            }
            if (rt == boolean.class) {
                return Boolean.parseBoolean(v.toString());
            }
            return v.toString();
        });
    }

    /** A Configuration Admin holding factory configurations: pid {@code factory~name} to properties. */
    public static ConfigurationAdmin configAdmin(Map<String, Map<String, Object>> configs) {
        return (ConfigurationAdmin) Proxy.newProxyInstance(TestConfigs.class.getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (proxy, m, args) -> {
                    if (!m.getName().equals("listConfigurations")) {
                        throw new UnsupportedOperationException(m.getName());
                    }
                    List<Configuration> out = new ArrayList<>();
                    String filter = args == null || args.length == 0 || args[0] == null ? "" : args[0].toString();
                    if (filter.startsWith("(service.pid=")) { // one PID asked for: only factory configurations are held
                        return null;
                    }
                    configs.forEach((pid, props) -> out.add(configuration(pid, props)));
                    return out.toArray(new Configuration[0]);
                });
    }

    private static Configuration configuration(String pid, Map<String, Object> props) {
        Dictionary<String, Object> d = new Hashtable<>(props);
        return (Configuration) Proxy.newProxyInstance(TestConfigs.class.getClassLoader(),
                new Class<?>[] {Configuration.class}, (proxy, m, args) -> switch (m.getName()) {
                    case "getPid" -> pid;
                    case "getFactoryPid" -> pid.substring(0, pid.indexOf('~'));
                    case "getProperties" -> d;
                    default -> throw new UnsupportedOperationException(m.getName());
                });
    }
}
