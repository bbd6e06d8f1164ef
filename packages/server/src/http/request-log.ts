/**
 * One JSON log line per request, with a request id. Never bodies, cookies or Authorization.
 *
 * @packageDocumentation
 */
import type { Middleware } from 'koa';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

const INCOMING_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Request state added by {@link requestLog}. */
export interface RequestLogState {
  reqId: string;
  /** A logger carrying the request id, made on first use. */
  readonly log: Logger;
}

/** Logs each request and gives handlers a child logger carrying the request id. */
export function requestLog(logger: Logger): Middleware<RequestLogState> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    // A caller-supplied id is kept only if it is short and plain: it goes into our logs.
    const reqId = INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.reqId = reqId;
    // Lazy: most requests never log from a handler, and a child logger costs a serialisation.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= logger.child({ reqId })) });
    ctx.set('X-Request-Id', reqId);
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      if (logger.isLevelEnabled('info')) {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        logger.info(
          {
            reqId,
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            ms: Math.round(ms * 10) / 10,
          },
          'request',
        );
      }
    }
  };
}
