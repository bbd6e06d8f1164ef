/**
 * Token hashing: the only form in which a credential is ever kept (cache keys) or shown (logs).
 *
 * @packageDocumentation
 */
import { hash } from 'node:crypto';

/**
 * The SHA-256 of `token`, lowercase hex: the key of the token cache (RFC 9700 §4.9.3: a resource
 * server must not store tokens in plaintext). Pass it to `invalidateHash` to purge a cache entry
 * for a token you only know the hash of.
 *
 * @example
 * ```ts
 * backend.invalidateHash(tokenHash(revokedToken));
 * ```
 */
export function tokenHash(token: string): string {
  // crypto.hash is the one-shot API: about twice as fast as createHash for short inputs, and this
  // runs on every cached check.
  return hash('sha256', token, 'hex');
}

/** How many hex digits of a token hash appear in logs: enough to correlate, useless to attack. */
export const LOGGED_HASH_DIGITS = 12;

/** The first {@link LOGGED_HASH_DIGITS} hex digits of a hash, for log lines. */
export function hashPrefix(hexHash: string): string {
  return hexHash.slice(0, LOGGED_HASH_DIGITS);
}
