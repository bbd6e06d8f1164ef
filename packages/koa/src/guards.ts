/**
 * Route guards: 401 when nobody is logged in (or, for pages, a redirect to the login page), 403
 * when the user lacks a permission.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, isSafeLocalPath, PermissionDenied } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import type { AuthState } from './auth-state.js';
import { bearerChallenge, ChallengeError } from './bearer.js';

/** Options for {@link requireAuth}. */
export interface RequireAuthOptions {
  /**
   * The `WWW-Authenticate` challenge of a 401 on a route that is not behind `bearer()` (which
   * sends its own), e.g. `Bearer realm="api"` on an API route that also accepts a session. An HTTP
   * 401 must carry a challenge (RFC 9110 §15.5.2); a route for browsers alone may have none.
   */
  readonly challenge?: string;
  /**
   * For pages: send an anonymous visitor to the login page instead of answering 401, as Django's
   * `login_required` — a 303 to `loginUrl` with `next` set to the path and query asked for. A
   * same-origin path; not together with `challenge`. Requests behind `bearer()` still get its 401.
   */
  readonly loginUrl?: string;
}

/** Options for {@link requirePerm}. */
export interface RequirePermOptions extends RequireAuthOptions {
  /** The object for object-level permissions, computed per request. */
  readonly obj?: (ctx: Context) => unknown;
}

/**
 * 401 UNAUTHENTICATED unless a user is logged in (with a Bearer challenge on bearer routes), or
 * with `loginUrl` a redirect to the login page.
 */
export function requireAuth(options: RequireAuthOptions = {}): Middleware<AuthState> {
  const anonymous = refusal(options);
  return async (ctx, next) => {
    // The check inline rather than through assertAuthenticated: one async call less on every
    // request of a guarded route.
    if (!(await ctx.state.user).isAuthenticated) {
      anonymous(ctx);
      return;
    }
    await next();
  };
}

/**
 * Passes when the user has every permission given; otherwise an anonymous request is refused as
 * by {@link requireAuth} and a logged-in user gets 403 PERMISSION_DENIED. As Django's
 * `permission_required`, the backends are asked first, also for the anonymous user: a backend may
 * grant the anonymous user something (a public wiki page), and the login page is only for those
 * who lack the permission.
 */
export function requirePerm(
  perms: string | readonly string[],
  options: RequirePermOptions = {},
): Middleware<AuthState> {
  const list = typeof perms === 'string' ? [perms] : [...perms];
  const anonymous = refusal(options);
  return async (ctx, next) => {
    const user = await ctx.state.user;
    const obj = options.obj?.(ctx);
    if (!(await ctx.state.authenticator.hasPerms(user, list, obj))) {
      if (!user.isAuthenticated) {
        anonymous(ctx);
        return;
      }
      // RFC 6750 §3.1: a token that does not reach the resource is refused with a challenge too.
      const realm = (ctx.state as { bearerRealm?: string }).bearerRealm;
      if (realm !== undefined && ctx.state.authVia === 'bearer')
        throw new ChallengeError(
          'INSUFFICIENT_SCOPE',
          bearerChallenge(realm, 'insufficient_scope'),
        );
      throw new PermissionDenied();
    }
    await next();
  };
}

/** What a guard does with an anonymous request: throws a 401, or redirects to the login page. */
function refusal(options: RequireAuthOptions): (ctx: Context) => void {
  const challenge = checkedChallenge(options.challenge);
  const loginUrl = options.loginUrl;
  if (loginUrl !== undefined) {
    if (!isSafeLocalPath(loginUrl))
      throw new AuthBridgeError('CONFIG_INVALID', 'loginUrl must be a same-origin path');
    if (challenge !== undefined)
      throw new AuthBridgeError(
        'CONFIG_INVALID',
        'give a guard a challenge or a loginUrl, not both',
      );
  }
  const separator = loginUrl?.includes('?') === true ? '&' : '?';
  return (ctx) => {
    const realm = (ctx.state as { bearerRealm?: string }).bearerRealm;
    // RFC 6750 §3.1: no error code when the request carried no token at all.
    if (realm !== undefined) throw new ChallengeError('UNAUTHENTICATED', bearerChallenge(realm));
    if (loginUrl !== undefined) {
      // 303: whatever the method was, the browser comes back to the login page with a GET.
      ctx.status = 303;
      ctx.redirect(`${loginUrl}${separator}next=${encodeURIComponent(ctx.originalUrl)}`);
      return;
    }
    if (challenge !== undefined) throw new ChallengeError('UNAUTHENTICATED', challenge);
    throw new AuthBridgeError('UNAUTHENTICATED');
  };
}

// A header value: visible ASCII and spaces only (no line breaks to split the response on).
const CHALLENGE = /^[\x20-\x7e]+$/;

function checkedChallenge(challenge: string | undefined): string | undefined {
  if (challenge !== undefined && !CHALLENGE.test(challenge))
    throw new AuthBridgeError('CONFIG_INVALID', 'challenge must be a one-line header value');
  return challenge;
}
