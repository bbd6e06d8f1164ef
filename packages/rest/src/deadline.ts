/**
 * A per-check time budget, shared by every attempt and every body read of one check.
 *
 * @packageDocumentation
 */

/**
 * A deadline `ms` from now. Its `signal` aborts (with a TimeoutError) when the time is up, or with
 * `cancel`'s reason when `cancel` aborts first (the backend closing); pass it to every fetch so the
 * connection, the response and the body all stop at once. Uses real time (timers), not the
 * injectable clock: a deadline is about not waiting, and tests of it use short real budgets. Call
 * {@link Deadline.dispose} when the check is over so no timer lingers.
 */
export class Deadline {
  /** Aborts when the deadline passes or `cancel` aborts. */
  readonly signal: AbortSignal;
  readonly #endsAt: number;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number, cancel?: AbortSignal) {
    const controller = new AbortController();
    // AbortSignal.any holds the combined signal weakly: a long-lived `cancel` does not keep every
    // check's signal alive, and adds no listener per check.
    this.signal =
      cancel === undefined ? controller.signal : AbortSignal.any([controller.signal, cancel]);
    this.#endsAt = performance.now() + ms;
    this.#timer = setTimeout(() => {
      controller.abort(new DOMException('the check ran out of time', 'TimeoutError'));
    }, ms);
    // Never the reason the process stays alive.
    this.#timer.unref();
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return Math.max(0, this.#endsAt - performance.now());
  }

  /** Whether the time is up. */
  get expired(): boolean {
    return this.signal.aborted || this.remaining() <= 0;
  }

  /** Stops the timer. Idempotent. */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}
