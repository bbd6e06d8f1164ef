import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { runCommand } from './run-command.js';

/** A throwaway test CA and a server certificate issued by it, all PEM. */
export interface TlsMaterial {
  /** The CA certificate clients must trust (`tlsOptions: { ca: [caCertPem] }`). */
  readonly caCertPem: string;
  /** The server certificate; SAN: IP 127.0.0.1, DNS localhost and DNS {@link TlsMaterial.serverName}. */
  readonly certPem: string;
  /** The server's unencrypted PKCS#8 private key. */
  readonly keyPem: string;
  /** The extra DNS name in the certificate. */
  readonly serverName: string;
}

const cache = new Map<string, Promise<TlsMaterial>>();

/**
 * Test TLS material, generated with the `openssl` CLI on first use and cached for the life of
 * the process: the certificate names no port, so every server started by this process can use
 * the same one, and generation happens once instead of per server.
 *
 * EC P-256 keys are generated in milliseconds (RSA takes far longer). The certificates are
 * valid for 7 days, far longer than any test run. Works with OpenSSL 1.1.1 and 3.x.
 */
export function testTlsMaterial(serverName = 'ldap.test'): Promise<TlsMaterial> {
  let material = cache.get(serverName);
  if (material === undefined) {
    material = generate(serverName);
    // A failure (say, openssl missing) must not be cached forever.
    material.catch(() => cache.delete(serverName));
    cache.set(serverName, material);
  }
  return material;
}

async function generate(serverName: string): Promise<TlsMaterial> {
  const openssl = findExecutable('openssl');
  if (openssl === undefined) throw new Error('openssl is not installed (apt-get install openssl)');
  // The CA key only ever exists in this directory, which is removed before returning.
  const dir = await mkdtemp(join(tmpdir(), 'authbridge-tls-'));
  try {
    const path = (name: string): string => join(dir, name);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await runCommand(openssl, [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      path('ca.key'),
      '-out',
      path('ca.crt'),
      '-days',
      '7',
      '-subj',
      '/CN=authbridge test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await runCommand(openssl, [
      'req',
      '-new',
      ...ec,
      '-keyout',
      path('server.key'),
      '-out',
      path('server.csr'),
      '-subj',
      `/CN=${serverName}`,
    ]);
    await writeFile(
      path('server.ext'),
      [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:${serverName}`,
        '',
      ].join('\n'),
    );
    await runCommand(openssl, [
      'x509',
      '-req',
      '-in',
      path('server.csr'),
      '-CA',
      path('ca.crt'),
      '-CAkey',
      path('ca.key'),
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '7',
      '-extfile',
      path('server.ext'),
      '-out',
      path('server.crt'),
    ]);
    const read = (name: string): Promise<string> => readFile(path(name), 'utf8');
    return {
      caCertPem: await read('ca.crt'),
      certPem: await read('server.crt'),
      keyPem: await read('server.key'),
      serverName,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
