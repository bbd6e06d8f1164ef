/**
 * Prometheus metrics, in a registry owned by one app (never the process-global one, so two apps in
 * one process — tests — do not collide).
 *
 * @packageDocumentation
 */
import type { Authenticator } from '@authbridge/core';
import { type RestBackendStats, RestTokenBackend } from '@authbridge/rest';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isLoginAttempt } from './login-attempt.js';
import { RequestHistogram } from './request-histogram.js';

/** The host's metrics. */
export interface HostMetrics {
  readonly registry: Registry;
  readonly loginDuration: Histogram<'backend'>;
  /** Records one HTTP request's latency under its method, matched route and status. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
}

/** Creates the registry and counts logins from the chain's events. */
export function createMetrics(authenticator: Authenticator): HostMetrics {
  const registry = new Registry();
  const logins = new Counter({
    name: 'authbridge_logins_total',
    help: 'Login attempts by backend and outcome',
    labelNames: ['backend', 'outcome'] as const,
    registers: [registry],
  });
  const loginDuration = new Histogram({
    name: 'authbridge_login_duration_seconds',
    help: 'Time to authenticate a login through the backend chain',
    labelNames: ['backend'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const httpDuration = new RequestHistogram(
    registry,
    'authbridge_http_request_duration_seconds',
    'HTTP request latency',
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  );
  // Token-cache and breaker figures are read from each REST backend when Prometheus scrapes.
  const rest = authenticator.backends.filter(
    (b): b is RestTokenBackend => b instanceof RestTokenBackend,
  );
  const CIRCUIT = { closed: 0, 'half-open': 0.5, open: 1 } as const;
  // Counters, not gauges: rate() and increase() are defined on counters only. The backend counts;
  // each scrape copies its count.
  const restCounters: [name: string, help: string, read: (s: RestBackendStats) => number][] = [
    [
      'authbridge_token_cache_hits_total',
      'Token checks answered from the cache, by backend',
      (s) => s.cacheHits,
    ],
    [
      'authbridge_token_cache_misses_total',
      'Token checks not in the cache, by backend',
      (s) => s.cacheMisses,
    ],
  ];
  for (const [name, help, read] of restCounters) {
    new Counter({
      name,
      help,
      labelNames: ['backend'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const b of rest) this.inc({ backend: b.id }, read(b.stats()));
      },
    });
  }
  const restGauges: [
    name: string,
    help: string,
    read: (s: RestBackendStats) => number | undefined,
  ][] = [
    [
      'authbridge_circuit_open',
      'Circuit breaker state by backend: 0 closed, 0.5 half-open, 1 open',
      (s) => s.circuit && CIRCUIT[s.circuit],
    ],
  ];
  for (const [name, help, read] of restGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['backend'] as const,
      registers: [registry],
      collect() {
        for (const b of rest) {
          const value = read(b.stats());
          if (value !== undefined) this.set({ backend: b.id }, value);
        }
      },
    });
  }
  authenticator.events.on('loggedIn', ({ user }) => {
    logins.inc({ backend: user.backendId ?? 'unknown', outcome: 'success' });
  });
  authenticator.events.on('loginFailed', ({ credentials, deniedBy, failedBy }) => {
    // Successes are counted at login() only, so failures are login attempts only too.
    if (!isLoginAttempt(credentials)) return;
    // `none`: no backend took the credentials; a backend that refused them with an error (a
    // forged SAML response) or vetoed is named.
    logins.inc({
      backend: deniedBy ?? failedBy ?? 'none',
      outcome: deniedBy ? 'denied' : 'failure',
    });
  });
  return {
    registry,
    loginDuration,
    observeRequest: (method, route, status, seconds) => {
      httpDuration.observe(method, route, status, seconds);
    },
  };
}
