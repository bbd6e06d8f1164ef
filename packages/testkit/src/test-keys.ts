/**
 * RSA keys and self-signed certificates made when the tests run: nothing secret is committed, and
 * every process gets its own. Keys come from node:crypto; the X.509 wrapper from the `openssl` CLI
 * (node:crypto can read certificates but not issue them).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';

/** A key pair with a self-signed certificate, all PEM. */
export interface TestKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly certPem: string;
  /** The certificate's base64 body, as metadata `<ds:X509Certificate>` carries it. */
  readonly certBase64: string;
}

/** Strips the PEM armour and line breaks. */
export function pemBody(pem: string): string {
  return pem
    .replace(/-----(BEGIN|END) [A-Z ]+-----/g, '')
    .replace(/\s+/g, '')
    .trim();
}

/**
 * Generates an RSA key (2048 bits unless told) and a certificate for it, valid from yesterday to
 * `days` days ahead.
 */
export function generateTestKeyPair(commonName: string, bits = 2048, days = 2): TestKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  // A private temp file: openssl cannot read a key from a pipe on every platform.
  const dir = mkdtempSync(join(tmpdir(), 'authbridge-saml-key-'));
  const keyFile = join(dir, 'key.pem');
  writeFileSync(keyFile, privateKeyPem, { mode: 0o600 });
  let certPem: string;
  try {
    certPem = execFileSync(
      findExecutable('openssl') ?? 'openssl',
      [
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-subj',
        `/CN=${commonName.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 60)}`,
        '-days',
        String(days),
        '-sha256',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { privateKeyPem, publicKeyPem, certPem, certBase64: pemBody(certPem) };
}

const cache = new Map<string, TestKeyPair>();

/** One key pair per name per process: generating RSA keys costs ~50 ms each. */
export function testKeyPair(name: string): TestKeyPair {
  let pair = cache.get(name);
  if (pair === undefined) {
    pair = generateTestKeyPair(name);
    cache.set(name, pair);
  }
  return pair;
}
