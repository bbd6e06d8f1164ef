/**
 * The one place where what goes wrong upstream becomes an authbridge error code: fetch and socket
 * failures, HTTP statuses, unparsable bodies and jose's error classes. Nothing else in this
 * package inspects a foreign error; nothing anywhere inspects a message.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, isAuthBridgeError } from '@authbridge/core';
import { errors as joseErrors } from 'jose';

/** What a failed token check means: the token is bad (no opinion), or the upstream failed. */
export type CheckFailure =
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'error'; readonly error: AuthBridgeError };

/** Whether `error` is an upstream outage: the cases fail-open (if enabled) may swallow. */
export function isUpstreamFailure(error: unknown): error is AuthBridgeError {
  return (
    isAuthBridgeError(error, 'BACKEND_UNAVAILABLE') || isAuthBridgeError(error, 'BACKEND_TIMEOUT')
  );
}

/**
 * A fetch that threw. `timedOut` says whether the check's own deadline fired (then the error is a
 * timeout, whatever shape the abort took); otherwise it is a transport failure.
 */
export function fromTransportError(
  error: unknown,
  upstream: string,
  timedOut: boolean,
): AuthBridgeError {
  if (isAuthBridgeError(error)) return error;
  if (timedOut || isTimeoutError(error)) {
    return new AuthBridgeError('BACKEND_TIMEOUT', undefined, {
      detail: `${upstream}: no answer within the deadline`,
      cause: error,
    });
  }
  return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
    detail: `${upstream}: ${transportReason(error)}`,
    cause: error,
  });
}

/** An HTTP status the caller did not expect (5xx, 429, a 4xx from misconfiguration, a 3xx). */
export function fromStatus(status: number, upstream: string): AuthBridgeError {
  return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
    detail: `${upstream}: unexpected HTTP status ${status}`,
  });
}

/** A body that is not what the protocol promises (not JSON, not an object, a field of the wrong type). */
export function malformedResponse(
  upstream: string,
  what: string,
  cause?: unknown,
): AuthBridgeError {
  return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
    detail: `${upstream}: malformed response (${what})`,
    cause,
  });
}

/** A response body larger than the configured cap. */
export function oversizedResponse(upstream: string, limit: number): AuthBridgeError {
  return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
    detail: `${upstream}: response body over ${limit} bytes`,
  });
}

/**
 * Classifies an error from jose's `jwtVerify` with a remote key set. Anything about the token
 * itself (signature, claims, algorithm, format, unknown key) makes it invalid; anything about
 * fetching or parsing the key set is an upstream failure.
 */
export function fromJoseError(error: unknown, upstream: string): CheckFailure {
  if (isAuthBridgeError(error)) return { kind: 'error', error };
  if (error instanceof joseErrors.JWKSTimeout) {
    return {
      kind: 'error',
      error: new AuthBridgeError('BACKEND_TIMEOUT', undefined, {
        detail: `${upstream}: key set not fetched within the deadline`,
        cause: error,
      }),
    };
  }
  if (error instanceof joseErrors.JWKSInvalid) {
    return { kind: 'error', error: malformedResponse(upstream, 'not a JWK set', error) };
  }
  if (
    error instanceof joseErrors.JWTExpired ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys ||
    error instanceof joseErrors.JWKInvalid ||
    error instanceof joseErrors.JWEInvalid
  ) {
    return { kind: 'invalid', reason: error.code };
  }
  if (error instanceof joseErrors.JOSEError) {
    // The generic class: a non-200 or unparsable key set response.
    return { kind: 'error', error: malformedResponse(upstream, error.code, error) };
  }
  return { kind: 'error', error: fromTransportError(error, upstream, false) };
}

/** Origin and path of a URL, never its query (which might carry a credential). */
export function upstreamLabel(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function isTimeoutError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

// The errno code (ECONNREFUSED, ENOTFOUND, ECONNRESET, CERT_HAS_EXPIRED...) of fetch's
// `TypeError: fetch failed`, which keeps it on `cause`.
function transportReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = current.cause;
  }
  return error instanceof Error ? error.name : 'transport failure';
}
