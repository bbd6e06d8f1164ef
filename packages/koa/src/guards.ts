/**
 * Route guards: 401 when nobody is logged in, 403 when the user lacks a permission.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, PermissionDenied } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import type { AuthState } from './auth-state.js';
import { ChallengeError } from './bearer.js';

/** Options for {@link requirePerm}. */
export interface RequirePermOptions {
  /** The object for object-level permissions, computed per request. */
  readonly obj?: (ctx: Context) => unknown;
}

/** 401 UNAUTHENTICATED unless a user is logged in (with a Bearer challenge on bearer routes). */
export function requireAuth(): Middleware<AuthState> {
  return async (ctx, next) => {
    await assertAuthenticated(ctx);
    await next();
  };
}

/** 401 when anonymous; 403 PERMISSION_DENIED unless the user has every permission given. */
export function requirePerm(
  perms: string | readonly string[],
  options: RequirePermOptions = {},
): Middleware<AuthState> {
  const list = typeof perms === 'string' ? [perms] : [...perms];
  return async (ctx, next) => {
    const user = await assertAuthenticated(ctx);
    const obj = options.obj?.(ctx);
    if (!(await ctx.state.authenticator.hasPerms(user, list, obj))) throw new PermissionDenied();
    await next();
  };
}

async function assertAuthenticated(ctx: Context) {
  const user = await (ctx.state as AuthState).user;
  if (user.isAuthenticated) return user;
  const realm = (ctx.state as { bearerRealm?: string }).bearerRealm;
  // RFC 6750 §3.1: no error code when the request carried no token at all.
  if (realm !== undefined) throw new ChallengeError('UNAUTHENTICATED', `Bearer realm="${realm}"`);
  throw new AuthBridgeError('UNAUTHENTICATED');
}
