/**
 * The host's edge: what every request passes through on its way in and every response on its way
 * out — a request id, error mapping, security headers, latency metrics and one access-log line.
 *
 * One middleware rather than four: each Koa layer is an async frame on every request, and these
 * four always run together, in this order.
 *
 * @packageDocumentation
 */
import { isAuthBridgeError } from '@authbridge/core';
import { sendError } from '@authbridge/koa';
import type { Middleware } from 'koa';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { HostMetrics } from './metrics.js';

/** Request state added by {@link edge}. */
export interface EdgeState {
  /** This request's id, also sent back as `X-Request-Id` and in the host's log lines about it. */
  reqId: string;
}

/** Options for {@link edge}. */
export interface EdgeOptions {
  readonly logger: Logger;
  readonly metrics: HostMetrics;
  /**
   * Origins forms may be sent to besides the host itself (the SAML IdPs: Chrome applies
   * form-action to the redirects a form submission leads to).
   */
  readonly formTargets: readonly string[];
}

const INCOMING_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives each request an id (a caller's `X-Request-Id` is kept only if short and plain: it goes into
 * our logs), turns errors into JSON with `sendError` (5xx details logged, not shown), sets security
 * headers, observes latency by matched route, and logs one line per request at `info` — never
 * bodies, cookies or Authorization.
 *
 * Headers follow what each kind of response needs. Every response: `nosniff`, `no-store` (unless
 * the route chose its own caching), a CSP that forbids framing and loading anything, HSTS under
 * TLS. HTML pages also get the page policy (no scripts; forms only to the host and its IdPs),
 * `X-Frame-Options` for browsers without CSP, and referrer and opener isolation — the OWASP sets
 * for documents and for REST responses respectively. A response that sets its own CSP (the SAML
 * POST form) keeps it.
 */
export function edge(options: EdgeOptions): Middleware<EdgeState> {
  const { logger, metrics } = options;
  const formAction = ["'self'", ...new Set(options.formTargets)].join(' ');
  const pageCsp = `default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
  return async (ctx, next) => {
    const start = performance.now();
    // Node's own objects rather than Koa's accessors below: this runs on every request, and each
    // accessor is a few calls deep.
    const req = ctx.req;
    const res = ctx.res;
    const incoming = req.headers['x-request-id'];
    const reqId =
      typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.reqId = reqId;
    try {
      await next();
      // Koa answers an unrouted path or method with a text body: give it the JSON error shape.
      const status = res.statusCode;
      if ((status === 404 || status === 405 || status === 501) && ctx.body == null) {
        ctx.body =
          status === 404
            ? { code: 'NOT_FOUND', message: 'Not found' }
            : {
                code: 'INVALID_REQUEST',
                message: status === 405 ? 'Method not allowed' : 'Not implemented',
              };
        ctx.status = status; // setting a body makes Koa's status 200
      }
    } catch (error) {
      // A refused form says why in the log only: behind a proxy that passes its own Host on,
      // every login fails here, and the operator needs to see the two origins to fix it.
      if (isAuthBridgeError(error, 'CSRF_FAILED'))
        logger.warn({ reqId, detail: error.detail }, 'csrf check failed');
      sendError(ctx, error, {
        error: (fields, message) => {
          logger.error({ ...fields, reqId }, message);
        },
      });
    }
    // Straight on the Node response: fixed strings, nothing for Koa's `ctx.set` to add.
    if (!res.headersSent) {
      res.setHeader('X-Request-Id', reqId);
      const type = res.getHeader('content-type');
      setSecurityHeaders(res, typeof type === 'string' && type.startsWith('text/html'), pageCsp);
      if (ctx.secure)
        res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    }
    const ms = performance.now() - start;
    const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
    const method = req.method ?? '';
    metrics.observeRequest(method, route, res.statusCode, ms / 1000);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        { reqId, method, path: ctx.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 },
        'request',
      );
    }
  };
}

const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

function setSecurityHeaders(res: ServerResponse, html: boolean, pageCsp: string): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (!res.hasHeader('cache-control')) res.setHeader('Cache-Control', 'no-store');
  if (!res.hasHeader('content-security-policy'))
    res.setHeader('Content-Security-Policy', html ? pageCsp : DATA_CSP);
  if (html) {
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  }
}
