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

/**
 * One call {@link CircuitBreaker.acquire} let through: report its outcome on it, exactly once.
 */
export interface CircuitCall {
  /** The call reached the upstream and got a usable answer. */
  succeeded(): void;
  /** The call failed for availability reasons (transport, timeout, 5xx, 429). */
  failed(): void;
  /** The call was never made, or ended for a reason that says nothing about the upstream. */
  released(): void;
}

// A call's place: how many times the circuit had opened when it was let through, and whether it
// is the probe of a half-open circuit.
interface Permit {
  readonly period: number;
  readonly probe: boolean;
}

/** Defaults of {@link CircuitBreakerOptions}. */
export const DEFAULT_CIRCUIT_BREAKER = Object.freeze({ failureThreshold: 5, openMs: 10_000 });

/**
 * closed: calls pass, consecutive failures are counted; at the threshold the circuit opens.
 * open: calls are refused at once (BACKEND_UNAVAILABLE) until `openMs` has passed on the clock.
 * half-open: exactly one probe call passes; its success closes the circuit, its failure reopens it.
 *
 * Outcomes are reported on the call `acquire` returned: a call let through before the circuit opened that
 * ends later (a slow answer, a timeout) says nothing about the upstream now, so it neither counts
 * nor decides — it cannot close the circuit, reopen it, or free the probe's slot for a second probe.
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
  #period = 0;

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
   * Asks to make one call. Returns the call when it may go ahead; the caller must then report the
   * outcome on it.
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE while the circuit is open, or while a half-open
   * probe is already in flight.
   */
  acquire(): CircuitCall {
    if (this.#state === 'closed') return this.#call(false);
    if (this.#state === 'open') {
      if (this.#clock.now() - this.#openedAt < this.#openMs) throw this.#refusal('open');
      this.#state = 'half-open';
      this.#logger.info('rest.circuit_half_open', { upstream: this.#name });
    }
    if (this.#probing) throw this.#refusal('half-open, probe in flight');
    this.#probing = true;
    return this.#call(true);
  }

  #call(probe: boolean): CircuitCall {
    const permit: Permit = { period: this.#period, probe };
    return {
      succeeded: () => {
        this.#succeeded(permit);
      },
      failed: () => {
        this.#failed(permit);
      },
      released: () => {
        if (permit.probe) this.#probing = false;
      },
    };
  }

  #succeeded(permit: Permit): void {
    if (permit.probe) {
      this.#probing = false;
      this.#state = 'closed';
      this.#failures = 0;
      this.#logger.info('rest.circuit_closed', { upstream: this.#name });
    } else if (this.#current(permit)) {
      this.#failures = 0;
    }
  }

  #failed(permit: Permit): void {
    if (permit.probe) {
      this.#probing = false;
      this.#open('probe failed');
    } else if (this.#current(permit)) {
      this.#failures += 1;
      if (this.#failures >= this.#threshold) this.#open(`${this.#failures} consecutive failures`);
    }
  }

  // A call let through while the circuit is closed, and closed since.
  #current(permit: Permit): boolean {
    return this.#state === 'closed' && permit.period === this.#period;
  }

  #open(reason: string): void {
    this.#state = 'open';
    this.#period += 1;
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
