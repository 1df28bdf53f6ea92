package org.openrm.configsync.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** The TLS context for https endpoints from PEM files (ca.file, cert.file, key.file); null when none is set. */
final class Tls {
    private Tls() { }

    static SSLContext context(String caFile, String certFile, String keyFile) throws IOException {
        if (caFile.isBlank() && certFile.isBlank()) {
            return null;
        }
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            TrustManagerFactory tmf = null;
            if (!caFile.isBlank()) {
                KeyStore trust = KeyStore.getInstance("PKCS12");
                trust.load(null, null);
                try (InputStream in = Files.newInputStream(Path.of(caFile.trim()))) {
                    int i = 0;
                    for (Certificate c : cf.generateCertificates(in)) {
                        trust.setCertificateEntry("ca" + i++, c);
                    }
                }
                tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(trust);
            }
            KeyManagerFactory kmf = null;
            if (!certFile.isBlank()) {
                if (keyFile.isBlank()) {
                    throw new IOException("org.openrm.configsync: cert.file is set but key.file is not");
                }
                Collection<? extends Certificate> chain;
                try (InputStream in = Files.newInputStream(Path.of(certFile.trim()))) {
                    chain = cf.generateCertificates(in);
                }
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(null, null);
                keys.setKeyEntry("client", key(Path.of(keyFile.trim())), new char[0], chain.toArray(new Certificate[0]));
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, new char[0]);
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("org.openrm.configsync: TLS files cannot be used: " + e.getMessage());
        }
    }

    private static PrivateKey key(Path file) throws IOException, GeneralSecurityException {
        String pem = Files.readString(file);
        if (!pem.contains("BEGIN PRIVATE KEY")) {
            throw new IOException("org.openrm.configsync: key.file " + file + " is not a PKCS#8 PEM key (BEGIN PRIVATE KEY); "
                    + "convert it with openssl pkcs8 -topk8 -nocrypt");
        }
        String b64 = pem.replaceAll("(?s).*-----BEGIN PRIVATE KEY-----", "").replaceAll("(?s)-----END PRIVATE KEY-----.*", "")
                .replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64));
        for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // try the next algorithm
            }
        }
        throw new IOException("org.openrm.configsync: key.file " + file + " holds no RSA, EC or Ed25519 key");
    }
}
