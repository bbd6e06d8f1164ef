/**
 * One overall deadline per authentication: connect, StartTLS, search, bind and group lookups all
 * draw from the same budget, so a directory that stops answering fails the call on time.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';

/** A point in time after which work for one call is abandoned. */
export class Deadline {
  readonly #at: number;

  /** @param ms - the budget from now, in milliseconds. */
  constructor(ms: number) {
    this.#at = performance.now() + ms;
  }

  /** Milliseconds left (0 when expired). */
  remaining(): number {
    return Math.max(0, this.#at - performance.now());
  }

  /**
   * Runs `promise` against the deadline. On expiry, `onExpire` is called (to destroy the socket the
   * work is stuck on) and the call rejects with BACKEND_TIMEOUT.
   */
  async run<T>(promise: Promise<T>, what: string, onExpire?: () => void): Promise<T> {
    const left = this.remaining();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onExpire?.();
        reject(new AuthBridgeError('BACKEND_TIMEOUT', undefined, { detail: `${what}: deadline` }));
      }, left);
    });
    // The losing promise's rejection is handled, or it would surface as unhandled.
    promise.catch(() => undefined);
    try {
      return await Promise.race([promise, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
