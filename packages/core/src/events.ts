/**
 * A small typed event emitter with no dependency on `node:events`, so core runs anywhere.
 *
 * Listeners may be async; `emit` awaits them in registration order and lets their errors propagate
 * (Django's `Signal.send` semantics: a broken receiver is a bug the caller should see).
 *
 * @packageDocumentation
 */

/** A listener for one event's payload. */
export type Listener<T> = (payload: T) => void | Promise<void>;

/** A typed emitter over an event map `{ eventName: payload }`. */
export class TypedEmitter<TEvents extends object> {
  readonly #listeners = new Map<keyof TEvents, Listener<never>[]>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof TEvents>(event: K, listener: Listener<TEvents[K]>): () => void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
    return () => {
      this.off(event, listener);
    };
  }

  /** Removes a listener added with {@link TypedEmitter.on}. */
  off<K extends keyof TEvents>(event: K, listener: Listener<TEvents[K]>): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    const index = list.indexOf(listener);
    if (index >= 0) list.splice(index, 1);
  }

  /** Calls every listener of `event` in order and waits for each. */
  async emit<K extends keyof TEvents>(event: K, payload: TEvents[K]): Promise<void> {
    // Copy first: a listener that removes itself must not make us skip the next one.
    const list = [...(this.#listeners.get(event) ?? [])] as Listener<TEvents[K]>[];
    for (const listener of list) await listener(payload);
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof TEvents): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}
