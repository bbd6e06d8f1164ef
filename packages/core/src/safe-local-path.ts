/**
 * Redirect targets limited to this site: the one guard against open redirects, used for `next`
 * after a login and for SAML RelayState.
 *
 * @packageDocumentation
 */

const BASE = 'https://local-path.invalid';

/**
 * Whether `value` is a path on this site: it starts with one `/` (not `//` or `/\`, which browsers
 * read as another host), holds no backslash or control character, stays on this origin once
 * resolved, and is at most `maxBytes` bytes of UTF-8 (default 2048).
 */
export function isSafeLocalPath(value: unknown, maxBytes = 2048): value is string {
  if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > maxBytes)
    return false;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return false;
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) return false;
  }
  try {
    const url = new URL(value, BASE);
    return url.origin === BASE && !url.pathname.startsWith('//');
  } catch {
    return false;
  }
}

/** `value` when {@link isSafeLocalPath} holds, else undefined. */
export function safeLocalPath(value: unknown, maxBytes?: number): string | undefined {
  return isSafeLocalPath(value, maxBytes) ? value : undefined;
}

/** The SAML bindings' limit on RelayState, in bytes (Bindings §3.4.3, §3.5.3). */
export const MAX_RELAY_STATE_BYTES = 80;

// The characters that Node's querystring (which node-saml signs) leaves as they are but
// URLSearchParams (which builds the URL node-saml sends) percent-encodes, or encodes differently
// (space: %20 against +).
const SIGNING_AMBIGUOUS = /[ ~!'()]/g;

/**
 * `path` with space, `~`, `!`, `'`, `(` and `)` percent-encoded: the same place for a browser,
 * but spelled so that both URL encoders node-saml uses agree on it. A RelayState signed for the
 * HTTP-Redirect binding must be one of these, or its signature covers other bytes than the URL
 * carries and the IdP refuses it. Idempotent.
 */
export function encodeRelayStatePath(path: string): string {
  return path.replace(
    SIGNING_AMBIGUOUS,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}
