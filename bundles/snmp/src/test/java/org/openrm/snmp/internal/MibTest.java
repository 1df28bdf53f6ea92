package org.openrm.snmp.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * The shipped OPENRM-MIB passes {@code smilint -l 4} (Debian smitools). smilint needs the IETF base modules
 * (SNMPv2-SMI, -TC, -CONF), which Debian does not ship (non-free); they are taken from the npm package net-snmp,
 * or from the directory in OPENRM_SMIPATH.
 */
class MibTest {
    static final Path MIB = Path.of("../../etc/snmp/OPENRM-MIB").toAbsolutePath().normalize();

    static Path baseMibs() throws Exception {
        String env = System.getenv("OPENRM_SMIPATH");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        Path dir = Path.of("target/smi").toAbsolutePath();
        Path mibs = dir.resolve("package/lib/mibs");
        if (!Files.exists(mibs.resolve("SNMPv2-SMI.mib"))) {
            Files.createDirectories(dir);
            Process p = new ProcessBuilder("sh", "-c", "npm pack --silent net-snmp@3.29.2 && tar xzf net-snmp-3.29.2.tgz")
                    .directory(dir.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "npm pack timed out");
            assertEquals(0, p.exitValue(), "the IETF base MIBs (npm net-snmp) could not be fetched: " + out);
        }
        return mibs;
    }

    @Test
    void theMibPassesSmilintLevel4() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("smilint", "-l", "4", MIB.toString()).redirectErrorStream(true);
        pb.environment().put("SMIPATH", baseMibs().toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals("", out.trim(), "smilint -l 4 says:\n" + out);
        assertEquals(0, p.exitValue());
    }
}
