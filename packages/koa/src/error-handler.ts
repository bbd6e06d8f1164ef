/**
 * Turns errors into JSON `{ code, message }` with the right status and headers. Mount it first.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import type { Context, Middleware } from 'koa';

/** Where 5xx details go. */
export interface ErrorLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

/** Options for {@link errorHandler}. */
export interface ErrorHandlerOptions {
  readonly logger?: ErrorLogger;
}

/**
 * Catches everything downstream and answers with {@link sendError}. Mount it first (or call
 * `sendError` from your own outermost middleware).
 */
export function errorHandler(options: ErrorHandlerOptions = {}): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      sendError(ctx, error, options.logger);
    }
  };
}

/**
 * Answers a request that failed with `error`. An {@link AuthBridgeError} keeps its status and
 * code; its `headers` (a `WWW-Authenticate` challenge) are sent with the JSON body. A Koa HTTP
 * error (`ctx.throw(404)`) keeps its status. Anything else is a 500 INTERNAL. The client sees the
 * message only for 4xx; 5xx details (detail, stack) go to `logger`.
 */
export function sendError(ctx: Context, error: unknown, logger?: ErrorLogger): void {
  const headers = (error as { headers?: unknown }).headers;
  if (error instanceof AuthBridgeError) {
    ctx.status = error.status;
    ctx.body = error.toJSON();
  } else {
    const e = error as { status?: unknown; expose?: unknown; message?: unknown };
    const status =
      typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
    ctx.status = status;
    ctx.body = {
      code: status >= 500 ? 'INTERNAL' : 'INVALID_REQUEST',
      message:
        status < 500 && e.expose === true
          ? String(e.message)
          : status >= 500
            ? 'Internal error'
            : 'Invalid request',
    };
  }
  if (headers && typeof headers === 'object') ctx.set(headers as Record<string, string>);
  if (ctx.status >= 500) {
    const e = error as { code?: unknown; detail?: unknown; stack?: unknown };
    logger?.error(
      { code: e.code, detail: e.detail, stack: e.stack, path: ctx.path, method: ctx.method },
      'request failed',
    );
  }
}
