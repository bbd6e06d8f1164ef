/**
 * Stateless bearer-token authentication (RFC 6750): no session, no CSRF, and a `WWW-Authenticate`
 * challenge that survives Koa's error handling because it travels on the error.
 *
 * @packageDocumentation
 */
import { ANONYMOUS_USER, AuthBridgeError, type Authenticator, type User } from '@authbridge/core';
import type { Middleware } from 'koa';
import type { AuthState } from './auth-state.js';
import { setKnownUser } from './session-auth.js';

/** Options for {@link bearer}. */
export interface BearerOptions<TUser extends User> {
  readonly authenticator: Authenticator<TUser>;
  /** `realm` in challenges: printable ASCII, no `"` or `\\`. Default `authbridge`. */
  readonly realm?: string;
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const AUTHORIZATION = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const BEARER_SCHEME = /^Bearer(?: |$)/i;
// A quoted-string's content without quoting: visible ASCII and spaces, no `"` or `\`.
const REALM = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * @internal The RFC 6750 §3 challenge for `realm`: bare when the request carried no token, with
 * `error` when it carried one that was refused.
 */
export function bearerChallenge(
  realm: string,
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope',
): string {
  return error === undefined
    ? `Bearer realm="${realm}"`
    : `Bearer realm="${realm}", error="${error}"`;
}

/** An error carrying the headers Koa (and {@link errorHandler}) must send with it. */
export class ChallengeError extends AuthBridgeError {
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    code: 'UNAUTHENTICATED' | 'INVALID_TOKEN' | 'INVALID_REQUEST' | 'INSUFFICIENT_SCOPE',
    challenge: string,
  ) {
    super(code);
    this.headers = Object.freeze({ 'WWW-Authenticate': challenge });
  }
}

/**
 * Reads `Authorization: Bearer <token>` and authenticates `{ token }` through the chain. No header,
 * or another scheme: the request goes on as anonymous (guards then answer 401 with a bare
 * challenge). A malformed Bearer header is 400 `invalid_request`; a token no backend accepts is
 * 401 `invalid_token`, as is one a backend refuses with a 4xx error of its own (a malformed or
 * replayed token). Tokens in the query string are not read (they end up in logs). A backend outage
 * propagates (503).
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a realm that is not printable ASCII or holds `"` or
 * `\`: it goes into a header on every refusal.
 */
export function bearer<TUser extends User>(
  options: BearerOptions<TUser>,
): Middleware<AuthState<TUser>> {
  const realm = options.realm ?? 'authbridge';
  if (!REALM.test(realm))
    throw new AuthBridgeError('CONFIG_INVALID', 'realm must be printable ASCII without " or \\');
  const invalidToken = bearerChallenge(realm, 'invalid_token');
  return async (ctx, next) => {
    (ctx.state as { authenticator: Authenticator<TUser> }).authenticator = options.authenticator;
    (ctx.state as { bearerRealm?: string }).bearerRealm = realm;
    const header = ctx.req.headers.authorization ?? '';
    // Another scheme (Basic, Negotiate...) carries no bearer token: RFC 6750 §3.1 answers that like
    // a request without credentials, with a bare challenge from the guards, not a 400.
    if (header === '' || !BEARER_SCHEME.test(header)) {
      setKnownUser(ctx, ANONYMOUS_USER);
      await next();
      return;
    }
    const match = AUTHORIZATION.exec(header);
    if (!match?.[1])
      throw new ChallengeError('INVALID_REQUEST', bearerChallenge(realm, 'invalid_request'));
    let user: TUser | null;
    try {
      user = await options.authenticator.authenticate(ctx, { token: match[1] });
    } catch (error) {
      // A backend that refuses the token with an error of its own (4xx) refuses it all the same:
      // the answer is RFC 6750's, with its challenge. Outages (5xx) pass through.
      if (
        error instanceof AuthBridgeError &&
        error.status < 500 &&
        !(error instanceof ChallengeError)
      )
        throw new ChallengeError('INVALID_TOKEN', invalidToken);
      throw error;
    }
    if (!user) throw new ChallengeError('INVALID_TOKEN', invalidToken);
    setKnownUser(ctx, user);
    ctx.state.authVia = 'bearer';
    await next();
  };
}
