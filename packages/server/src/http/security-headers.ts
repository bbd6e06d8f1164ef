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
  const csp = `default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
  return async (ctx, next) => {
    await next();
    const headers = ctx.response.headers;
    ctx.set(FIXED);
    // Responses that set their own (the SAML POST form) keep it.
    if (headers['content-security-policy'] === undefined) ctx.set('Content-Security-Policy', csp);
    if (headers['cache-control'] === undefined) ctx.set('Cache-Control', 'no-store');
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  };
}

const FIXED: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
});
