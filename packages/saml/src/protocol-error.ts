/**
 * The two ways a SAML message fails: invalid or replayed. The public message stays generic; the
 * reason goes to `detail`, for logs only.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';

/** A message that failed validation; `reason` is for logs. */
export function protocolInvalid(reason: string, cause?: unknown): AuthBridgeError {
  return new AuthBridgeError('PROTOCOL_INVALID', undefined, {
    detail: reason,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A message (or the assertion inside it) seen before. */
export function replayDetected(reason: string): AuthBridgeError {
  return new AuthBridgeError('REPLAY_DETECTED', undefined, { detail: reason });
}
