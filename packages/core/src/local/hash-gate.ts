/**
 * A bound on password hashing running at once.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '../errors.js';
import type { PasswordHasher } from './password-hasher.js';

/** Limits of {@link gatedHasher}. */
export interface HashGateLimits {
  /** Hashes (or checks) running at once. */
  readonly concurrent: number;
  /** Hashes waiting for a turn; one more is refused. */
  readonly queued: number;
}

/**
 * Wraps `inner` so that at most `limits.concurrent` of its calls run at once, later ones waiting
 * in order, and a call that would make the queue longer than `limits.queued` is refused at once.
 *
 * Why: scrypt runs on libuv's thread pool (4 threads by default), which DNS lookups, file I/O and
 * zlib share. Every login attempt hashes, an unknown username included, so without a bound a
 * flood of junk logins fills the pool: DNS for the LDAP and token services waits seconds, and
 * real logins time out behind the junk. With it, hashing takes at most its share of the pool and
 * a flood beyond the queue is answered at once instead of piling up.
 *
 * @throws {AuthBridgeError} BACKEND_UNAVAILABLE (from the wrapped calls) when the queue is full.
 */
export function gatedHasher(inner: PasswordHasher, limits: HashGateLimits): PasswordHasher {
  let running = 0;
  const waiting: (() => void)[] = [];
  const turn = (): Promise<void> => {
    if (running < limits.concurrent) {
      running++;
      return Promise.resolve();
    }
    if (waiting.length >= limits.queued) {
      return Promise.reject(
        new AuthBridgeError('BACKEND_UNAVAILABLE', 'Too many logins at once, try again', {
          detail: `password hashing: ${limits.concurrent} running, ${limits.queued} waiting`,
        }),
      );
    }
    // The finishing call hands its place over: `running` stays as it is.
    return new Promise((resolve) => waiting.push(resolve));
  };
  const done = (): void => {
    const next = waiting.shift();
    if (next === undefined) running--;
    else next();
  };
  const gated = async <R>(work: () => Promise<R>): Promise<R> => {
    await turn();
    try {
      return await work();
    } finally {
      done();
    }
  };
  // Called as methods of `inner`: a hasher may be a class instance that uses `this`.
  const outer: PasswordHasher = {
    hash: (password, params) => gated(() => inner.hash(password, params)),
    verify: (password, encoded) => gated(() => inner.verify(password, encoded)),
  };
  return Object.freeze(outer);
}
