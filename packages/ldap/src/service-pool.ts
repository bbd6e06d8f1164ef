/**
 * A small pool of service-account connections for searches.
 *
 * LDAP multiplexes operations on one connection, so each pooled connection serves many concurrent
 * searches; the pool only spreads load and limits sockets. A connection is checked before every
 * use (still connected, still bound, younger than the maximum lifetime) and rebuilt (connect,
 * StartTLS, bind) when it is not. One idle for longer than `poolIdlePingMs` is also pinged (a
 * root DSE read within `healthCheckTimeoutMs`) first: a socket a firewall or load balancer
 * dropped without a FIN looks connected until an operation hangs on it. User binds never come
 * here: a bind changes a connection's identity, so each login binds on its own connection.
 *
 * A connection other callers may be using is retired, not destroyed, when it gets too old or a
 * caller gives up on it (its deadline): it leaves its slot at once, so new callers get another,
 * and is closed when the last caller using it is done. Every caller leaves by its deadline or when
 * ldapts' per-operation timeout (`timeoutMs`) ends its operation, whichever comes first, so a
 * retired connection is closed at most `timeoutMs` later. Only a connection whose socket is gone
 * is destroyed outright: its operations fail anyway. (ldapts itself destroys the socket when an
 * operation runs into that per-operation timeout: the others on it then fail with a connection
 * error, and run() retries each once on a new connection.)
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { Deadline } from './deadline.js';
import type { ResolvedLdapOptions } from './ldap-backend-options.js';
import type { LdapConnection } from './ldap-connection.js';
import { openConnection } from './ldap-connection.js';
import { isConnectionError, toBackendError } from './map-ldap-error.js';
import type { ServerSet } from './server-set.js';

interface Slot {
  conn: LdapConnection | undefined;
  building: Promise<LdapConnection> | undefined;
  /** A ping of `conn` in progress, shared by everyone who wants the slot meanwhile. */
  pinging: Promise<void> | undefined;
  /** When `conn` last finished an operation or a ping, or was built (performance.now()). */
  lastUsed: number;
}

/** The cheapest read every directory answers, to anyone: the root DSE, no attributes. */
export async function readRootDse(conn: LdapConnection, timeLimitSeconds: number): Promise<void> {
  await conn.client.search('', {
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['1.1'],
    sizeLimit: 1,
    timeLimit: timeLimitSeconds,
  });
}

/** Service-account connections, rebuilt on demand. */
export class ServicePool {
  readonly #options: ResolvedLdapOptions;
  readonly #servers: ServerSet;
  readonly #slots: Slot[];
  /**
   * Callers running work on each connection, counted per connection, not per slot: a slot's
   * connection changes while earlier callers still use the one it had.
   */
  readonly #users = new Map<LdapConnection, number>();
  /** Connections out of their slot, closed when their last user leaves (or at close()). */
  readonly #retired = new Set<LdapConnection>();
  #next = 0;
  #closed = false;

  constructor(options: ResolvedLdapOptions, servers: ServerSet) {
    this.#options = options;
    this.#servers = servers;
    this.#slots = Array.from({ length: options.poolSize }, () => ({
      conn: undefined,
      building: undefined,
      pinging: undefined,
      lastUsed: 0,
    }));
  }

  /**
   * Runs `work` on a healthy pooled connection within `deadline`. If the connection turns out to
   * be dead (an idle drop the health check could not see yet), it is replaced and `work` runs
   * once more on the new one.
   */
  async run<T>(
    deadline: Deadline,
    what: string,
    work: (conn: LdapConnection) => Promise<T>,
  ): Promise<T> {
    const slot = this.#slots[this.#next++ % this.#slots.length];
    if (slot === undefined)
      throw new AuthBridgeError('INTERNAL', undefined, { detail: 'no pool slot' });
    for (let attempt = 0; ; attempt++) {
      const { conn, fresh } = await this.#acquire(slot, deadline);
      this.#users.set(conn, this.#usersOf(conn) + 1);
      try {
        // Nothing to do on expiry: the connection is shared, and the stuck operation is bounded by
        // ldapts' per-operation timeout. The catch below retires it.
        return await deadline.run(work(conn), what);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        // A connection that still works (our deadline ran out, the server said busy) may be
        // serving others: retired, not cut off under them.
        if (conn.usable) this.#retire(slot, conn);
        else this.#discard(slot, conn);
        const e = toBackendError(error, conn.server.url);
        // A fresh connection that fails is an outage, not a stale socket: do not loop.
        if (fresh || attempt > 0 || e.code === 'BACKEND_TIMEOUT') throw e;
        this.#options.logger.info('ldap.pool_reconnect', {
          server: conn.server.url,
          detail: e.detail,
        });
      } finally {
        this.#release(conn);
        slot.lastUsed = performance.now();
      }
    }
  }

  async #acquire(
    slot: Slot,
    deadline: Deadline,
  ): Promise<{ conn: LdapConnection; fresh: boolean }> {
    // At most two rounds: a failed ping empties the slot, and the next round builds.
    for (let round = 0; round < 2; round++) {
      if (this.#closed) throw new AuthBridgeError('CLOSED', 'LDAP backend is closed');
      const current = slot.conn;
      if (current === undefined) break;
      if (!this.#healthy(current)) {
        this.#retire(slot, current);
        break;
      }
      const idleFor = performance.now() - slot.lastUsed;
      if (this.#usersOf(current) > 0 || idleFor <= this.#options.poolIdlePingMs) {
        return { conn: current, fresh: false };
      }
      slot.pinging ??= this.#ping(slot, current, deadline).finally(() => {
        slot.pinging = undefined;
      });
      await deadline.run(slot.pinging, 'pool ping');
      if (slot.conn === current) return { conn: current, fresh: false };
    }
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED', 'LDAP backend is closed');
    if (slot.conn !== undefined && this.#healthy(slot.conn)) {
      // Someone else rebuilt the slot while we waited for the ping.
      return { conn: slot.conn, fresh: false };
    }
    // Concurrent callers wait for one rebuild instead of each opening a socket. The connection is
    // put in the slot by the build itself, not by a waiter: a build that outlives every waiter's
    // deadline still lands there (for the next caller, and for close()) instead of leaking a
    // socket bound as the service account.
    slot.building ??= this.#build(deadline)
      .then((built) => {
        if (this.#isClosed()) {
          void built.close();
          throw new AuthBridgeError('CLOSED', 'LDAP backend is closed');
        }
        slot.conn = built;
        slot.lastUsed = performance.now();
        return built;
      })
      .finally(() => {
        slot.building = undefined;
      });
    const conn = await deadline.run(slot.building, 'pool connect');
    return { conn, fresh: true };
  }

  /**
   * Pings an idle pooled connection; on failure (or no answer within `healthCheckTimeoutMs`) the
   * connection is dropped from the slot so the caller builds a new one. Never rejects.
   */
  async #ping(slot: Slot, conn: LdapConnection, deadline: Deadline): Promise<void> {
    const budget = new Deadline(Math.min(deadline.remaining(), this.#options.healthCheckTimeoutMs));
    try {
      await budget.run(readRootDse(conn, this.#options.searchTimeLimitSeconds), 'pool ping', () => {
        conn.destroy();
      });
      slot.lastUsed = performance.now();
    } catch (error) {
      this.#discard(slot, conn);
      this.#options.logger.info('ldap.pool_ping_failed', {
        server: conn.server.url,
        detail: toBackendError(error, conn.server.url).detail,
      });
    }
  }

  // A method, not the field: the field may change while we await, which narrowing cannot see.
  #isClosed(): boolean {
    return this.#closed;
  }

  #healthy(conn: LdapConnection): boolean {
    const bound = this.#options.bind === undefined || conn.client.isBound;
    return (
      conn.usable && bound && performance.now() - conn.openedAt < this.#options.poolMaxLifetimeMs
    );
  }

  async #build(deadline: Deadline): Promise<LdapConnection> {
    // The rebuild is shared, so it gets its own budget rather than the first caller's remainder.
    const budget = new Deadline(Math.max(deadline.remaining(), this.#options.connectTimeoutMs));
    const bind = this.#options.bind;
    // A refused service bind is a configuration or directory problem, never a user's fault:
    // openConnection reports it as an outage.
    const { conn } = await openConnection(
      this.#options,
      this.#servers,
      budget,
      (ms) => new Deadline(ms),
      async (c) => {
        if (bind !== undefined) await c.client.bind(bind.dn, bind.password);
      },
    );
    return conn;
  }

  #discard(slot: Slot, conn: LdapConnection): void {
    if (slot.conn === conn) slot.conn = undefined;
    this.#retired.delete(conn);
    conn.destroy();
  }

  /** Takes `conn` out of its slot; it is closed now if unused, else when its last user leaves. */
  #retire(slot: Slot, conn: LdapConnection): void {
    if (slot.conn === conn) slot.conn = undefined;
    if (this.#usersOf(conn) > 0) this.#retired.add(conn);
    else void conn.close();
  }

  #usersOf(conn: LdapConnection): number {
    return this.#users.get(conn) ?? 0;
  }

  #release(conn: LdapConnection): void {
    const left = this.#usersOf(conn) - 1;
    if (left > 0) {
      this.#users.set(conn, left);
      return;
    }
    this.#users.delete(conn);
    if (this.#retired.delete(conn)) void conn.close();
  }

  /** Closes every connection, retired ones still in use too. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    // A build still running closes its connection itself when it lands (see #acquire).
    const conns = this.#slots.flatMap((s) => (s.conn === undefined ? [] : [s.conn]));
    for (const s of this.#slots) s.conn = undefined;
    conns.push(...this.#retired);
    this.#retired.clear();
    await Promise.all(conns.map((c) => c.close()));
  }
}
