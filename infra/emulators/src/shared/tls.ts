/**
 * The Key Vault emulator's TLS material: a CA made on first start and kept in the state folder, and a server
 * certificate it signs for 127.0.0.1 / localhost. Clients trust the CA (NODE_EXTRA_CA_CERTS, an https Agent's
 * `ca`, or the Azure SDK's `tlsOptions: { ca }`); nobody has to turn certificate checks off.
 *
 * node:crypto makes keys but not X.509 certificates. We drive the `openssl` CLI for the two certificates:
 * it is already a prerequisite of this repository (scripts/setup.sh installs it), it adds no npm dependency
 * to test infrastructure, and it runs once per state folder. Keys come from node:crypto.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsMaterial {
  readonly caCertPem: string;
  readonly caCertPath: string;
  readonly keyPem: string;
  readonly certPem: string;
}

const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (cause) {
    const stderr = cause instanceof Error && 'stderr' in cause ? String(cause.stderr).trim() : '';
    throw new Error(
      `openssl ${args[0]} failed (is the openssl CLI installed?): ${stderr.split('\n')[0] ?? ''}`,
      {
        cause,
      },
    );
  }
}

function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
}

/** Loads the CA and server certificate from `dir`, creating what is missing or expired. */
export function ensureTlsMaterial(dir: string, caName = 'BYOK emulators local CA'): TlsMaterial {
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'openssl.cnf');
  writeFileSync(cfg, OPENSSL_CONFIG);
  const caKey = join(dir, 'ca-key.pem');
  const caCert = join(dir, 'ca.pem');
  const serverKey = join(dir, 'server-key.pem');
  const serverCert = join(dir, 'server.pem');

  if (!existsSync(caCert) || !existsSync(caKey) || expiresSoon(caCert)) {
    writeKey(caKey);
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-config',
        cfg,
        '-key',
        caKey,
        '-subj',
        `/CN=${caName}`,
        '-days',
        '3650',
        '-sha256',
        '-extensions',
        'ca_ext',
        '-set_serial',
        serial(),
        '-out',
        caCert,
      ],
      dir,
    );
    // A new CA invalidates the old server certificate.
    writeFileSync(serverCert, '');
  }
  if (
    !existsSync(serverKey) ||
    !existsSync(serverCert) ||
    readFileSync(serverCert).length === 0 ||
    expiresSoon(serverCert)
  ) {
    writeKey(serverKey);
    const csr = join(dir, 'server.csr');
    openssl(['req', '-new', '-config', cfg, '-key', serverKey, '-subj', '/CN=localhost', '-out', csr], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-set_serial',
        serial(),
        '-days',
        '825',
        '-sha256',
        '-extfile',
        cfg,
        '-extensions',
        'server_ext',
        '-out',
        serverCert,
      ],
      dir,
    );
  }
  return {
    caCertPem: readFileSync(caCert, 'utf8'),
    caCertPath: caCert,
    keyPem: readFileSync(serverKey, 'utf8'),
    certPem: readFileSync(serverCert, 'utf8'),
  };
}

function serial(): string {
  // Positive 64-bit serial: clear the top bit.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

function expiresSoon(certPath: string): boolean {
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    return new Date(cert.validTo).getTime() - Date.now() < 7 * 24 * 3600 * 1000;
  } catch {
    return true;
  }
}
