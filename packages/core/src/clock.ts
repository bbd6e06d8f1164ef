/**
 * Injectable time, so tests move the clock instead of sleeping.
 *
 * @packageDocumentation
 */

/** A source of "now" in milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
  /** Sets the time. */
  set(ms: number): void {
    this.#now = ms;
  }
}
