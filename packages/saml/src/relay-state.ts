/**
 * RelayState as a return path: only a same-origin absolute path is ever followed, so a crafted
 * RelayState cannot turn the ACS into an open redirect.
 *
 * @packageDocumentation
 */

/** The SAML bindings' limit on RelayState (Bindings §3.4.3, §3.5.3). */
export const MAX_RELAY_STATE_BYTES = 80;

const BASE = 'https://relay-state.invalid';

/**
 * Whether `value` is a path on this origin: starts with one `/`, no backslash, no control
 * characters, at most 80 bytes, and resolves to the same origin.
 */
export function isSafeRelayState(value: unknown): value is string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    Buffer.byteLength(value) > MAX_RELAY_STATE_BYTES
  ) {
    return false;
  }
  // `//host` and `/\host` are protocol-relative URLs to browsers.
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return false;
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) return false;
  }
  try {
    const url = new URL(value, BASE);
    return url.origin === BASE && url.pathname.startsWith('/') && !url.pathname.startsWith('//');
  } catch {
    return false;
  }
}

/** `value` when it is a safe same-origin path (see {@link isSafeRelayState}), else `fallback`. */
export function safeRelayState(value: unknown, fallback = '/'): string {
  return isSafeRelayState(value) ? value : fallback;
}
