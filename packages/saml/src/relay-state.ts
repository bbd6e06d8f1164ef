/**
 * RelayState as a return path: only a same-origin absolute path is ever followed, so a crafted
 * RelayState cannot turn the ACS into an open redirect.
 *
 * @packageDocumentation
 */
import { isSafeLocalPath, MAX_RELAY_STATE_BYTES } from '@authbridge/core';

export { MAX_RELAY_STATE_BYTES };

/**
 * Whether `value` may be used as RelayState and redirected to: a same-origin path (core's
 * {@link isSafeLocalPath}) of at most {@link MAX_RELAY_STATE_BYTES} bytes, the SAML limit.
 */
export function isSafeRelayState(value: unknown): value is string {
  return isSafeLocalPath(value, MAX_RELAY_STATE_BYTES);
}

/** `value` if {@link isSafeRelayState}, else `fallback` (default `/`). */
export function safeRelayState(value: unknown, fallback = '/'): string {
  return isSafeRelayState(value) ? value : fallback;
}
