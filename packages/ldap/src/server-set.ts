/**
 * Several directory servers with ordered failover and per-server backoff.
 *
 * @packageDocumentation
 */
import type { ResolvedServer } from './ldap-backend-options.js';

interface ServerState {
  failures: number;
  downUntil: number;
}

/** The configured servers, and which of them recently failed. */
export class ServerSet {
  readonly #servers: readonly ResolvedServer[];
  readonly #state = new Map<ResolvedServer, ServerState>();
  readonly #backoffMs: number;

  constructor(servers: readonly ResolvedServer[], backoffMs: number) {
    this.#servers = servers;
    this.#backoffMs = backoffMs;
  }

  /**
   * Servers in the order to try: healthy ones in configured order, then those in backoff, soonest
   * available first. A server in backoff is still tried last, so an outage of all servers is
   * noticed as soon as one comes back rather than after the backoff.
   */
  order(now = performance.now()): ResolvedServer[] {
    const up: ResolvedServer[] = [];
    const down: ResolvedServer[] = [];
    for (const s of this.#servers) {
      if ((this.#state.get(s)?.downUntil ?? 0) <= now) up.push(s);
      else down.push(s);
    }
    const until = (s: ResolvedServer): number => this.#state.get(s)?.downUntil ?? 0;
    down.sort((a, b) => until(a) - until(b));
    return [...up, ...down];
  }

  /** Records a failed connection: backoff doubles per failure in a row, up to 8× the base. */
  markFailed(server: ResolvedServer, now = performance.now()): void {
    const state = this.#state.get(server) ?? { failures: 0, downUntil: 0 };
    state.failures += 1;
    state.downUntil = now + this.#backoffMs * Math.min(8, 2 ** (state.failures - 1));
    this.#state.set(server, state);
  }

  /** Records a working connection. */
  markOk(server: ResolvedServer): void {
    this.#state.delete(server);
  }
}
