/**
 * A circuit breaker around one upstream: after repeated failures, stop calling it for a while
 * instead of making every request wait out a deadline against a service that is down.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type Clock } from '@authbridge/core';
import type { RestLogger } from './logger.js';

/** The breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options for {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the circuit. Default 5. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe call is let through, in ms. Default 10000. */
  readonly openMs?: number;
}

/** Defaults of {@link CircuitBreakerOptions}. */
export const DEFAULT_CIRCUIT_BREAKER = Object.freeze({ failureThreshold: 5, openMs: 10_000 });

/**
 * closed: calls pass, consecutive failures are counted; at the threshold the circuit opens.
 * open: calls are refused at once (BACKEND_UNAVAILABLE) until `openMs` has passed on the clock.
 * half-open: exactly one probe call passes; its success closes the circuit, its failure reopens it.
 *
 * Time comes from the injected clock, so tests move the clock instead of sleeping.
 */
export class CircuitBreaker {
  readonly #name: string;
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #clock: Clock;
  readonly #logger: RestLogger;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(
    name: string,
    options: Required<CircuitBreakerOptions>,
    clock: Clock,
    logger: RestLogger,
  ) {
    this.#name = name;
    this.#threshold = options.failureThreshold;
    this.#openMs = options.openMs;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** The current state (an open circuit past its wait reports `half-open`). */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#openMs) {
      return 'half-open';
    }
    return this.#state;
  }

  /**
   * Asks to make one call. Returns normally when the call may go ahead (the caller must then
   * report it with {@link CircuitBreaker.succeeded} or {@link CircuitBreaker.failed}).
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE while the circuit is open, or while a half-open
   * probe is already in flight.
   */
  acquire(): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') {
      if (this.#clock.now() - this.#openedAt < this.#openMs) throw this.#refusal('open');
      this.#state = 'half-open';
      this.#logger.info('rest.circuit_half_open', { upstream: this.#name });
    }
    if (this.#probing) throw this.#refusal('half-open, probe in flight');
    this.#probing = true;
  }

  /** Reports a call that reached the upstream and got a usable answer. */
  succeeded(): void {
    if (this.#state !== 'closed') {
      this.#logger.info('rest.circuit_closed', { upstream: this.#name });
    }
    this.#state = 'closed';
    this.#failures = 0;
    this.#probing = false;
  }

  /** Reports a call that failed for availability reasons (transport, timeout, 5xx, 429). */
  failed(): void {
    this.#probing = false;
    if (this.#state === 'half-open') {
      this.#open('probe failed');
      return;
    }
    this.#failures += 1;
    if (this.#state === 'closed' && this.#failures >= this.#threshold) {
      this.#open(`${this.#failures} consecutive failures`);
    }
  }

  /** Reports a call that was acquired but never made (nothing to learn from it). */
  released(): void {
    this.#probing = false;
  }

  #open(reason: string): void {
    this.#state = 'open';
    this.#openedAt = this.#clock.now();
    this.#logger.warn('rest.circuit_open', {
      upstream: this.#name,
      reason,
      openMs: this.#openMs,
    });
  }

  #refusal(state: string): AuthBridgeError {
    return new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
      detail: `${this.#name}: circuit ${state}, call not attempted`,
    });
  }
}
