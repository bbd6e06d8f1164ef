/**
 * RFC 6750 for the HTTP layer: reading the bearer token from `Authorization`, and turning an
 * outcome (no token, a rejected token, an error) into a status and a `WWW-Authenticate` value.
 *
 * @packageDocumentation
 */
import { isAuthBridgeError } from '@authbridge/core';
import { AuthBridgeError } from '@authbridge/core';
import { InsufficientScope } from './insufficient-scope.js';

/** RFC 6750 §3.1 error codes. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** What the HTTP layer sends. */
export interface BearerErrorResponse {
  readonly status: number;
  /** The RFC 6750 error code, when one applies. */
  readonly error: BearerErrorCode | undefined;
  /** The `WWW-Authenticate` header value; undefined for server-side failures (5xx). */
  readonly wwwAuthenticate: string | undefined;
}

/** Options for {@link bearerErrorResponse}. */
export interface BearerChallengeOptions {
  /** The `realm` auth-param. */
  readonly realm?: string;
  /** Scopes needed, for `insufficient_scope` (an {@link InsufficientScope} error's own win). */
  readonly scope?: readonly string[];
  /** An RFC 9728 `resource_metadata` URL. */
  readonly resourceMetadata?: string;
}

/**
 * Maps the outcome of bearer authentication to an HTTP answer:
 * - `undefined`: no token was sent → 401 `Bearer realm=...` with no error code (RFC 6750 §3);
 * - `null`: a token was sent and no backend accepted it → 401 `invalid_token`;
 * - INVALID_TOKEN / INVALID_CREDENTIALS / PROTOCOL_INVALID / REPLAY_DETECTED → 401 `invalid_token`;
 * - INSUFFICIENT_SCOPE or PERMISSION_DENIED → 403 `insufficient_scope` (with `scope`);
 * - INVALID_REQUEST → 400 `invalid_request`;
 * - anything else (BACKEND_UNAVAILABLE, BACKEND_TIMEOUT, unknown errors) → its status (503, 500)
 *   and no challenge: the client did nothing wrong and retrying with another token will not help.
 *
 * @example
 * ```ts
 * const { status, wwwAuthenticate } = bearerErrorResponse(error, { realm: 'api' });
 * ctx.throw(status, { headers: wwwAuthenticate ? { 'WWW-Authenticate': wwwAuthenticate } : {} });
 * ```
 */
export function bearerErrorResponse(
  outcome: unknown,
  options: BearerChallengeOptions = {},
): BearerErrorResponse {
  if (outcome === undefined) return challenge(401, undefined, options);
  if (outcome === null) return challenge(401, 'invalid_token', options);
  if (!isAuthBridgeError(outcome))
    return { status: 500, error: undefined, wwwAuthenticate: undefined };
  switch (outcome.code) {
    case 'UNAUTHENTICATED':
      return challenge(401, undefined, options);
    case 'INVALID_TOKEN':
    case 'INVALID_CREDENTIALS':
    case 'PROTOCOL_INVALID':
    case 'REPLAY_DETECTED':
      return challenge(401, 'invalid_token', options);
    case 'INSUFFICIENT_SCOPE':
    case 'PERMISSION_DENIED': {
      const scope = outcome instanceof InsufficientScope ? outcome.requiredScopes : options.scope;
      return challenge(403, 'insufficient_scope', { ...options, scope });
    }
    case 'INVALID_REQUEST':
      return challenge(400, 'invalid_request', options);
    default:
      return { status: outcome.status, error: undefined, wwwAuthenticate: undefined };
  }
}

/**
 * Reads RFC 6750 §2.1 `Authorization: Bearer <token>`.
 *
 * @returns `{ token }`; undefined when there is no Authorization header or it uses another
 * scheme (that is "no bearer token", not an error).
 * @throws {AuthBridgeError} INVALID_REQUEST for several Authorization headers, a `Bearer` with no
 * token or with more than one, or a token outside the b64token syntax.
 */
export function parseBearerAuthorization(
  header: string | readonly string[] | undefined,
): { readonly token: string } | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') {
    if (header.length === 0) return undefined;
    if (header.length > 1)
      throw new AuthBridgeError('INVALID_REQUEST', undefined, {
        detail: 'several Authorization headers',
      });
    return parseBearerAuthorization(header[0]);
  }
  const match = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?: +(.*))?$/.exec(header.trim());
  if (match?.[1]?.toLowerCase() !== 'bearer') return undefined;
  const token = match[2] ?? '';
  if (!B64TOKEN.test(token)) {
    throw new AuthBridgeError('INVALID_REQUEST', undefined, {
      detail: 'Bearer credentials are not one b64token',
    });
  }
  return { token };
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function challenge(
  status: number,
  error: BearerErrorCode | undefined,
  options: BearerChallengeOptions,
): BearerErrorResponse {
  const params: string[] = [];
  if (options.realm !== undefined) params.push(`realm="${quoted(options.realm)}"`);
  if (error !== undefined) params.push(`error="${error}"`);
  if (error === 'insufficient_scope' && options.scope !== undefined && options.scope.length > 0) {
    const scope = options.scope
      .map(scopeToken)
      .filter((s) => s !== '')
      .join(' ');
    if (scope !== '') params.push(`scope="${scope}"`);
  }
  if (options.resourceMetadata !== undefined) {
    params.push(`resource_metadata="${quoted(options.resourceMetadata)}"`);
  }
  return {
    status,
    error,
    wwwAuthenticate: params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`,
  };
}

// RFC 6750 §3: quoted values are %x20-21 / %x23-5B / %x5D-7E; anything else is dropped, so a
// configured realm can never break the header (or inject another one).
function quoted(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

// A scope token (RFC 6749 §3.3 NQCHAR) has no space, quote or backslash.
function scopeToken(value: string): string {
  return value.replace(/[^\x21\x23-\x5b\x5d-\x7e]/g, '');
}
