/**
 * Response headers every page of the host carries.
 *
 * @packageDocumentation
 */
import type { Middleware } from 'koa';

/**
 * Sets conservative security headers: no framing, no MIME sniffing, no referrer leakage, a strict
 * Content-Security-Policy (the pages use no scripts), HSTS under TLS, and no caching of responses
 * that may carry personal data.
 */
export function securityHeaders(formTargets: readonly string[] = []): Middleware {
  // Chrome applies form-action to the redirects a form submission leads to, so the origins the
  // host redirects forms to (SAML IdPs for login and logout) must be listed next to 'self'.
  const formAction = ["'self'", ...new Set(formTargets)].join(' ');
  return async (ctx, next) => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (!ctx.response.get('Content-Security-Policy')) {
      ctx.set(
        'Content-Security-Policy',
        `default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
      );
    }
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (!ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
  };
}
