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
  /** `realm` in challenges. Default `authbridge`. */
  readonly realm?: string;
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const AUTHORIZATION = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const BEARER_SCHEME = /^Bearer(?: |$)/i;

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
 * 401 `invalid_token`. Tokens in the query string are not read (they end up in logs). A backend
 * outage propagates (503).
 */
export function bearer<TUser extends User>(
  options: BearerOptions<TUser>,
): Middleware<AuthState<TUser>> {
  const realm = (options.realm ?? 'authbridge').replace(/["\\]/g, '');
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
      throw new ChallengeError(
        'INVALID_REQUEST',
        `Bearer realm="${realm}", error="invalid_request"`,
      );
    const user = await options.authenticator.authenticate(ctx, { token: match[1] });
    if (!user)
      throw new ChallengeError('INVALID_TOKEN', `Bearer realm="${realm}", error="invalid_token"`);
    setKnownUser(ctx, user);
    ctx.state.authVia = 'bearer';
    await next();
  };
}
