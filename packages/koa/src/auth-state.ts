/**
 * The typed state the middleware adds to `ctx.state`, with no global type augmentation: an app
 * types its Koa instance or router as `Koa<AuthState>` / `Router<AuthState>`.
 *
 * @packageDocumentation
 */
import type { AnyUser, Authenticator, User } from '@authbridge/core';
import type { Session } from './session.js';

/** What {@link authbridge} puts on `ctx.state`. */
export interface AuthState<TUser extends User = User> {
  /**
   * The current user, resolved lazily: the session lookup and the backend's `getUser` run only
   * when this is first awaited, and once per request.
   */
  readonly user: Promise<AnyUser<TUser>>;
  /** The chain, for permission checks in handlers. */
  readonly authenticator: Authenticator<TUser>;
  /** Present when the session middleware runs before this one. */
  session?: Session;
  /** How this request was authenticated: a session, a bearer token, or not at all. */
  authVia?: 'session' | 'bearer' | undefined;
}
