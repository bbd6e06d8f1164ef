/**
 * Request coalescing: concurrent callers asking the same question share one answer.
 *
 * @packageDocumentation
 */

interface Flight<T> {
  promise: Promise<T>;
}

/**
 * Runs at most one task per key at a time; callers arriving while it runs get the same promise.
 * The entry is dropped when the task settles, so errors are shared by the callers who were
 * waiting but never remembered.
 */
export class SingleFlight<T> {
  readonly #inFlight = new Map<string, Flight<T>>();

  /**
   * The running task for `key`, or a new one started with `task`. The task gets `isCurrent`, true
   * while it is still the task for its key: after {@link SingleFlight.forget} it is false, and a
   * task should then not cache what it found (an invalidation happened while it ran).
   */
  run(
    key: string,
    task: (isCurrent: () => boolean) => Promise<T>,
  ): { readonly promise: Promise<T>; readonly shared: boolean } {
    const running = this.#inFlight.get(key);
    if (running !== undefined) return { promise: running.promise, shared: true };
    // The entry exists before the task starts, so isCurrent is right even when called at once.
    const flight: Flight<T> = { promise: Promise.resolve(undefined as T) };
    this.#inFlight.set(key, flight);
    const isCurrent = (): boolean => this.#inFlight.get(key) === flight;
    flight.promise = task(isCurrent).finally(() => {
      // Only our own entry: `forget` may have let a newer task take the key meanwhile.
      if (isCurrent()) this.#inFlight.delete(key);
    });
    return { promise: flight.promise, shared: false };
  }

  /** Detaches the running task for `key` (or every task): later callers start afresh. */
  forget(key?: string): void {
    if (key === undefined) this.#inFlight.clear();
    else this.#inFlight.delete(key);
  }

  /** Tasks running now. */
  get size(): number {
    return this.#inFlight.size;
  }
}
