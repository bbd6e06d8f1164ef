/**
 * CSRF protection for session-backed forms, as Django's: the request's origin is checked, then a
 * synchronizer token kept in the session (for a visitor with nothing else in a session, in the
 * CSRF cookie `sessions()` keeps instead), rotated at login, required on every unsafe method.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import type { Context, Middleware } from 'koa';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthState } from './auth-state.js';
import { CSRF_SESSION_KEY } from './session.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SECRET_BYTES = 32;
// A masked token: 32 random bytes, then the secret XOR those bytes, base64url (86 characters).
const MASKED = /^[A-Za-z0-9_-]{86}$/;

/** Options for {@link csrf}. */
export interface CsrfOptions {
  /**
   * Origins besides the request's own whose pages may post here (`https://app.example.com`),
   * as Django's `CSRF_TRUSTED_ORIGINS`. Default none.
   */
  readonly trustedOrigins?: readonly string[];
}

/**
 * The token for forms on this request (`<input type="hidden" name="_csrf" value="…">`). Masked
 * afresh on every call, as Django's: the secret never appears twice the same in a page, so a
 * compressed page that also echoes what an attacker sent leaks nothing by its size (BREACH).
 */
export function csrfToken(ctx: Context): string {
  const session = (ctx.state as AuthState).session;
  if (!session) throw new TypeError('sessions() middleware is not mounted');
  let secret = session.get(CSRF_SESSION_KEY);
  if (typeof secret !== 'string') {
    secret = randomBytes(SECRET_BYTES).toString('base64url');
    session.set(CSRF_SESSION_KEY, secret);
  }
  const mask = randomBytes(SECRET_BYTES);
  return Buffer.concat([mask, xor(mask, Buffer.from(secret as string, 'base64url'))]).toString(
    'base64url',
  );
}

/**
 * Refuses unsafe requests (POST, PUT, PATCH, DELETE...) with CSRF_FAILED (403) unless they come
 * from this site and carry the session's token:
 * - an `Origin` header must be the request's own origin (scheme and host, as Koa sees them behind
 *   a trusted proxy) or a trusted one — never `null`, which an attacker can have a browser send
 *   (a sandboxed frame, a redirected POST); as in Django, a site's own forms under
 *   `Referrer-Policy: no-referrer` send `null` too and fail. Over HTTPS a request without `Origin`
 *   must have a same-origin `Referer`, as Django checks (a sibling subdomain can plant a cookie,
 *   SameSite does not stop it, and a double-submitted token alone would pass);
 * - the `_csrf` body field or `x-csrf-token` header must be a token of {@link csrfToken} for the
 *   session's secret.
 *
 * Unlike koa-csrf it never skips silently: without a session every unsafe request fails. Mount
 * after a body parser and {@link sessions}; not on stateless bearer routes or SAML endpoints.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a trusted origin that is not an origin.
 */
export function csrf(options: CsrfOptions = {}): Middleware<AuthState> {
  const trusted = new Set(
    (options.trustedOrigins ?? []).map((origin) => {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {
        parsed = undefined;
      }
      if (parsed?.origin !== origin || parsed.origin === 'null')
        throw new AuthBridgeError(
          'CONFIG_INVALID',
          'trustedOrigins are origins: scheme://host[:port], nothing after',
        );
      return origin;
    }),
  );
  return async (ctx, next) => {
    if (!SAFE_METHODS.has(ctx.method)) {
      const elsewhere = foreignOrigin(ctx, trusted);
      if (elsewhere !== undefined)
        throw new AuthBridgeError('CSRF_FAILED', undefined, { detail: elsewhere });
      const expected = ctx.state.session?.get(CSRF_SESSION_KEY);
      const body = (ctx.request as { body?: unknown }).body;
      const fromBody =
        typeof body === 'object' && body !== null
          ? (body as Record<string, unknown>)['_csrf']
          : undefined;
      const given = typeof fromBody === 'string' ? fromBody : ctx.get('x-csrf-token');
      if (typeof expected !== 'string' || !matches(given, expected))
        throw new AuthBridgeError('CSRF_FAILED');
    }
    await next();
  };
}

// Why the request is not from this site (for logs: an operator behind a proxy that rewrites Host
// sees what to set), or undefined when it is.
function foreignOrigin(ctx: Context, trusted: ReadonlySet<string>): string | undefined {
  const own = `${ctx.protocol}://${ctx.host}`;
  const origin = ctx.get('origin');
  // `null` is refused with the rest: an attacker can make a browser send it on purpose.
  if (origin !== '') {
    return origin === own || trusted.has(origin)
      ? undefined
      : `Origin ${origin} is neither this host (${own}) nor a trusted origin`;
  }
  // No Origin (an older browser, a privacy setting): over HTTPS the Referer must say where the
  // form was, as Django requires; over plain HTTP a Referer is too easily stripped to insist.
  if (!ctx.secure) return undefined;
  let referer: URL;
  try {
    referer = new URL(ctx.get('referer'));
  } catch {
    return 'no Origin, and no usable Referer over HTTPS';
  }
  return referer.origin === own || trusted.has(referer.origin)
    ? undefined
    : `Referer origin ${referer.origin} is neither this host (${own}) nor a trusted origin`;
}

// Whether `token` is a masked form of `secret`. Only masked tokens are taken: the secret itself is
// never handed out (the visitor's CSRF cookie is HttpOnly), so a bare secret is not a token.
function matches(token: string, secret: string): boolean {
  if (!MASKED.test(token)) return false;
  const bytes = Buffer.from(token, 'base64url');
  const plain = Buffer.from(secret, 'base64url');
  if (plain.length !== SECRET_BYTES) return false;
  return timingSafeEqual(xor(bytes.subarray(0, SECRET_BYTES), bytes.subarray(SECRET_BYTES)), plain);
}

// Byte by byte, over the secret's length: masking and unmasking are the same operation.
function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}
