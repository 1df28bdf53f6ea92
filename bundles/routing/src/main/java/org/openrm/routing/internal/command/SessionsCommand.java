package org.openrm.routing.internal.command;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;
import org.openrm.api.Session;
import org.openrm.api.SessionStore;

/** rm:sessions — live calls. */
@Service
@Command(scope = "rm", name = "sessions", description = "Live calls: GVP session id, Call-ID, tenant, profile, media server, age")
public class SessionsCommand implements Action {
    @Reference
    SessionStore sessions;

    @Option(name = "-n", description = "Show at most this many (default 100)")
    int max = 100;

    @Override
    public Object execute() {
        ShellTable t = new ShellTable();
        t.column("Session");
        t.column("Call-ID");
        t.column("Tenant");
        t.column("Profile");
        t.column("Resource");
        t.column("State");
        t.column("Age").alignRight();
        int n = 0;
        for (Session s : sessions.sessions()) {
            if (n++ >= max) {
                break;
            }
            var sel = s.selection();
            t.addRow().addContent(s.id(), s.callId(), sel == null || sel.tenant() == null ? "" : sel.tenant(),
                    sel == null ? "" : sel.profile(), s.resource() == null ? "" : s.resource(),
                    s.answered() ? "answered" : "setup", Commands.age(s.receivedAt()));
        }
        t.print(System.out);
        System.out.println(sessions.size() + " live sessions");
        return null;
    }
}
