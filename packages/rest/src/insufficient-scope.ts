/**
 * The error for a token that is good but does not carry the scope a route needs.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type AnyUser } from '@authbridge/core';

/**
 * INSUFFICIENT_SCOPE (403), naming the scopes that were needed so the RFC 6750 challenge can
 * list them ({@link bearerErrorResponse} does).
 */
export class InsufficientScope extends AuthBridgeError {
  /** The scopes the request needed. */
  readonly requiredScopes: readonly string[];

  constructor(requiredScopes: readonly string[], message?: string) {
    super('INSUFFICIENT_SCOPE', message);
    this.requiredScopes = Object.freeze([...requiredScopes]);
  }
}

/**
 * Throws unless `user` authenticated with a token carrying every scope in `required`.
 *
 * @throws {InsufficientScope} naming all of `required` when any is missing (also for users that
 * carry no token scopes, such as one reloaded from a session).
 * @example
 * ```ts
 * requireScopes(ctx.state.user, ['orders:write']);
 * ```
 */
export function requireScopes(user: AnyUser, required: readonly string[]): void {
  const scopes = (user as { scopes?: unknown }).scopes;
  const held = new Set(Array.isArray(scopes) ? (scopes as unknown[]) : []);
  if (!user.isAuthenticated || !required.every((s) => held.has(s))) {
    throw new InsufficientScope(required);
  }
}
