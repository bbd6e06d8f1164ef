/**
 * The keys a `private_key_jwt` client assertion can be signed with, checked when the backend is
 * built: jose converts the key for the algorithm only when it signs, so a key that does not fit
 * would otherwise fail every introspection.
 *
 * @packageDocumentation
 */
import { KeyObject, type webcrypto } from 'node:crypto';
import { AuthBridgeError } from '@authbridge/core';

/** The asymmetric JWS algorithms a `private_key_jwt` client assertion may be signed with. */
export const CLIENT_ASSERTION_ALGORITHMS = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const);

/** One of {@link CLIENT_ASSERTION_ALGORITHMS}. */
export type ClientAssertionAlgorithm = (typeof CLIENT_ASSERTION_ALGORITHMS)[number];

// How WebCrypto imports each algorithm's key: the conversion jose makes when it signs.
const ASSERTION_KEYS: Readonly<
  Record<
    ClientAssertionAlgorithm,
    webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm
  >
> = Object.freeze({
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  PS384: { name: 'RSA-PSS', hash: 'SHA-384' },
  PS512: { name: 'RSA-PSS', hash: 'SHA-512' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  ES512: { name: 'ECDSA', namedCurve: 'P-521' },
  EdDSA: { name: 'Ed25519' },
  Ed25519: { name: 'Ed25519' },
});

/**
 * Refuses an algorithm a client assertion may not use, and a KeyObject that cannot sign it (not
 * private, another key type or curve, RSA under 2048 bits — jose's floor). CryptoKeys and JWKs
 * are checked by jose when it signs.
 *
 * @param keyName - how errors name the key; default `<where>.clientAuth.privateKey` (a host that
 * read it from a file names the file).
 * @throws {AuthBridgeError} CONFIG_INVALID naming `where` or `keyName`.
 */
export function checkAssertionKey(
  key: unknown,
  algorithm: string,
  where: string,
  keyName = `${where}.clientAuth.privateKey`,
): void {
  if (!isAssertionAlgorithm(algorithm)) {
    throw new AuthBridgeError(
      'CONFIG_INVALID',
      `${where}.clientAuth.algorithm must be one of ${CLIENT_ASSERTION_ALGORITHMS.join(', ')}`,
    );
  }
  if (!(key instanceof KeyObject)) return;
  const params = ASSERTION_KEYS[algorithm];
  const cannot = (why: string, cause?: unknown): AuthBridgeError =>
    new AuthBridgeError('CONFIG_INVALID', `${keyName} ${why}`, { cause });
  if (key.type !== 'private') throw cannot('must be a private key');
  try {
    key.toCryptoKey(params, false, ['sign']);
  } catch (cause) {
    throw cannot(`cannot sign ${algorithm}`, cause);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) {
    throw cannot(`needs at least 2048 bits for ${algorithm} (it has ${String(bits)})`);
  }
}

function isAssertionAlgorithm(algorithm: string): algorithm is ClientAssertionAlgorithm {
  return (CLIENT_ASSERTION_ALGORITHMS as readonly string[]).includes(algorithm);
}
