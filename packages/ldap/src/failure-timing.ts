/**
 * How long a failed login takes: at least `minFailureMs`, and for an unknown user (search then
 * bind) as long as a wrong password of a real user.
 *
 * The dummy bind gives an unknown user's login the same steps as a wrong password, but not the
 * same cost: a directory refuses a DN that does not exist without checking a password, while a
 * real user's wrong password costs a hash check (100 ms and more with a slow scheme such as crypt
 * with many rounds). So the durations of the last logins of both kinds are kept, in memory, and a
 * login that found no user waits for the difference of their medians: unknown users then take, in
 * the median, as long as refused binds. (Waiting until each takes the refused binds' median would
 * make every unknown user at least that slow: with a fast hash, slower than a wrong password.)
 *
 * @packageDocumentation
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** A monotonic clock in milliseconds, and a wait: injectable, so tests need not sleep. */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** `performance.now()` and a real timer. */
const systemTimer: Timer = Object.freeze({
  now: () => performance.now(),
  sleep: async (ms: number) => {
    await sleep(ms);
  },
});

/** Durations remembered per kind: recent enough to follow the directory's load, enough for a median. */
const SAMPLES = 32;

/** The last {@link SAMPLES} durations of one kind of failure. */
class Window {
  readonly #samples: number[] = [];
  #next = 0;

  add(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % SAMPLES;
  }

  /** The median (the upper one of an even count), or undefined without samples. */
  median(): number | undefined {
    const sorted = [...this.#samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
}

/** The wait at the end of a failed login. */
export class FailureTiming {
  readonly #minFailureMs: number;
  readonly #maxMs: number;
  readonly #timer: Timer;
  readonly #refused = new Window();
  readonly #unknown = new Window();

  /**
   * @param minFailureMs - the floor for every failure.
   * @param maxMs - an unknown user never waits past this (the login's `timeoutMs`).
   */
  constructor(minFailureMs: number, maxMs: number, timer: Timer = systemTimer) {
    this.#minFailureMs = minFailureMs;
    this.#maxMs = maxMs;
    this.#timer = timer;
  }

  /** The timer's now: where a login's `started` comes from. */
  now(): number {
    return this.#timer.now();
  }

  /**
   * Ends a failed login that began at `started`. A refused bind of a real user (`refused-bind`)
   * and a login that found no user (`no-user`) are recorded; the latter then waits for the
   * difference of the two medians, up to `maxMs` from `started` (nothing before a refused bind
   * has been seen). Every failure takes at least `minFailureMs`.
   */
  async settle(started: number, kind?: 'refused-bind' | 'no-user'): Promise<void> {
    const elapsed = this.#timer.now() - started;
    let until = this.#minFailureMs;
    if (kind === 'refused-bind') this.#refused.add(elapsed);
    if (kind === 'no-user') {
      this.#unknown.add(elapsed);
      const refused = this.#refused.median();
      // Whole milliseconds: a timer cannot wait less than one, and would overshoot a fraction.
      const pad = refused === undefined ? 0 : Math.floor(refused - (this.#unknown.median() ?? 0));
      if (pad >= 1) until = Math.max(until, Math.min(elapsed + pad, this.#maxMs));
    }
    if (elapsed < until) await this.#timer.sleep(until - elapsed);
  }
}
