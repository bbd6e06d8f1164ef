/**
 * Body parsing for the routes that take one, with a client's broken body answered as a client
 * error.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';

/** Options for {@link readBody}: what `@koa/bodyparser` takes. */
export type ReadBodyOptions = NonNullable<Parameters<typeof bodyParser>[0]>;

/**
 * `@koa/bodyparser` with its failures sorted: what it throws with an HTTP status (413 too large,
 * 415 unknown encoding, 400 bad JSON) keeps it; what it throws without one while reading is the
 * client's doing too — a gzip or deflate body that does not inflate surfaces as a bare zlib error,
 * which would otherwise be a 500, an error log line and a 5xx alert anyone can fire — and becomes
 * 400 INVALID_REQUEST. Errors from the layers after it pass untouched.
 */
export function readBody(options: ReadBodyOptions): Middleware {
  const parse = bodyParser(options);
  return async (ctx, next) => {
    // An object, not a variable: it is set inside the callback, where narrowing cannot see.
    const body = { read: false };
    try {
      await parse(ctx, () => {
        body.read = true;
        return next();
      });
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (body.read || typeof status === 'number') throw error;
      throw new AuthBridgeError('INVALID_REQUEST', 'The request body could not be read', {
        cause: error,
      });
    }
  };
}
