/**
 * CSRF protection for session-backed forms: a synchronizer token kept in the session (for a visitor
 * with nothing else in a session, in the CSRF cookie `sessions()` keeps instead), rotated at login,
 * required on every unsafe method.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthState } from './auth-state.js';
import { CSRF_SESSION_KEY } from './session.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The token for forms on this request (`<input type="hidden" name="_csrf" value="…">`). */
export function csrfToken(ctx: Context): string {
  const session = (ctx.state as AuthState).session;
  if (!session) throw new TypeError('sessions() middleware is not mounted');
  let secret = session.get(CSRF_SESSION_KEY);
  if (typeof secret !== 'string') {
    secret = randomBytes(32).toString('base64url');
    session.set(CSRF_SESSION_KEY, secret);
  }
  return secret as string;
}

/**
 * Refuses unsafe requests (POST, PUT, PATCH, DELETE...) whose `_csrf` body field or
 * `x-csrf-token` header does not match the session's token, with CSRF_FAILED (403). Unlike
 * koa-csrf it never skips silently: without a session every unsafe request fails. Mount after a
 * body parser and {@link sessions}; do not mount it on stateless bearer routes.
 */
export function csrf(): Middleware<AuthState> {
  return async (ctx, next) => {
    if (!SAFE_METHODS.has(ctx.method)) {
      const expected = ctx.state.session?.get(CSRF_SESSION_KEY);
      const body = (ctx.request as { body?: unknown }).body;
      const fromBody =
        typeof body === 'object' && body !== null
          ? (body as Record<string, unknown>)['_csrf']
          : undefined;
      const given = typeof fromBody === 'string' ? fromBody : ctx.get('x-csrf-token');
      if (typeof expected !== 'string' || !equal(given, expected))
        throw new AuthBridgeError('CSRF_FAILED');
    }
    await next();
  };
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
