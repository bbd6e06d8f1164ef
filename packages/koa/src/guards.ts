/**
 * Route guards: 401 when nobody is logged in, 403 when the user lacks a permission.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, PermissionDenied } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import type { AuthState } from './auth-state.js';
import { ChallengeError } from './bearer.js';

/** Options for {@link requireAuth}. */
export interface RequireAuthOptions {
  /**
   * The `WWW-Authenticate` challenge of a 401 on a route that is not behind `bearer()` (which
   * sends its own), e.g. `Bearer realm="api"` on an API route that also accepts a session. An HTTP
   * 401 must carry a challenge (RFC 9110 §15.5.2); a route for browsers alone may have none.
   */
  readonly challenge?: string;
}

/** Options for {@link requirePerm}. */
export interface RequirePermOptions extends RequireAuthOptions {
  /** The object for object-level permissions, computed per request. */
  readonly obj?: (ctx: Context) => unknown;
}

/** 401 UNAUTHENTICATED unless a user is logged in (with a Bearer challenge on bearer routes). */
export function requireAuth(options: RequireAuthOptions = {}): Middleware<AuthState> {
  const challenge = checkedChallenge(options.challenge);
  return async (ctx, next) => {
    // The check inline rather than through assertAuthenticated: one async call less on every
    // request of a guarded route.
    if (!(await ctx.state.user).isAuthenticated) refuse(ctx, challenge);
    await next();
  };
}

/** 401 when anonymous; 403 PERMISSION_DENIED unless the user has every permission given. */
export function requirePerm(
  perms: string | readonly string[],
  options: RequirePermOptions = {},
): Middleware<AuthState> {
  const list = typeof perms === 'string' ? [perms] : [...perms];
  const challenge = checkedChallenge(options.challenge);
  return async (ctx, next) => {
    const user = await ctx.state.user;
    if (!user.isAuthenticated) refuse(ctx, challenge);
    const obj = options.obj?.(ctx);
    if (!(await ctx.state.authenticator.hasPerms(user, list, obj))) throw new PermissionDenied();
    await next();
  };
}

function refuse(ctx: Context, challenge: string | undefined): never {
  const realm = (ctx.state as { bearerRealm?: string }).bearerRealm;
  // RFC 6750 §3.1: no error code when the request carried no token at all.
  if (realm !== undefined) throw new ChallengeError('UNAUTHENTICATED', `Bearer realm="${realm}"`);
  if (challenge !== undefined) throw new ChallengeError('UNAUTHENTICATED', challenge);
  throw new AuthBridgeError('UNAUTHENTICATED');
}

// A header value: visible ASCII and spaces only (no line breaks to split the response on).
const CHALLENGE = /^[\x20-\x7e]+$/;

function checkedChallenge(challenge: string | undefined): string | undefined {
  if (challenge !== undefined && !CHALLENGE.test(challenge))
    throw new AuthBridgeError('CONFIG_INVALID', 'challenge must be a one-line header value');
  return challenge;
}
