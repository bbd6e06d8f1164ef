/**
 * One LDAP connection: TCP or TLS, upgraded with StartTLS when configured, that never reconnects
 * behind our back.
 *
 * ldapts silently re-opens a dropped socket on the next operation, and the new socket is neither
 * bound nor upgraded with StartTLS: a search would go out anonymously and in plaintext. The
 * connection factories below therefore hand out exactly one socket; a second attempt fails, the
 * operation rejects, and the pool builds a proper connection (connect, StartTLS, bind) instead.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { Client } from 'ldapts';
import { connect as netConnect, isIP, Socket } from 'node:net';
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContext,
  connect as tlsConnect,
  type TLSSocket,
} from 'node:tls';
import type { Deadline } from './deadline.js';
import type { ResolvedLdapOptions, ResolvedServer } from './ldap-backend-options.js';
import { isConnectionError, toBackendError } from './map-ldap-error.js';
import type { ServerSet } from './server-set.js';

// One TLS context per backend configuration: parsing the CA bundle and setting up an OpenSSL
// context for every connection is a large share of a login's CPU time (one connection each).
const secureContexts = new WeakMap<ResolvedLdapOptions, SecureContext>();

function secureContextFor(options: ResolvedLdapOptions): SecureContext {
  let context = secureContexts.get(options);
  if (context === undefined) {
    context = createSecureContext(options.tls);
    secureContexts.set(options, context);
  }
  return context;
}

function refusedSocket(): Socket {
  const socket = new Socket();
  process.nextTick(() =>
    socket.destroy(new Error('LDAP connection lost; authbridge does not reconnect silently')),
  );
  return socket;
}

/** An open connection to one server. */
export class LdapConnection {
  /** The ldapts client; valid while {@link LdapConnection.usable}. */
  readonly client: Client;
  readonly server: ResolvedServer;
  /** When it was opened (performance.now()). */
  readonly openedAt = performance.now();
  readonly #sockets: Socket[] = [];
  #destroyed = false;

  private constructor(
    server: ResolvedServer,
    options: ResolvedLdapOptions,
    tlsOptions: ConnectionOptions,
    first: Socket,
  ) {
    this.server = server;
    this.#track(first);
    let handedOut = false;
    // The socket we opened ourselves, exactly once; any later (re)connect attempt fails.
    const once = (): Socket => {
      if (handedOut) return refusedSocket();
      handedOut = true;
      return first;
    };
    this.client = new Client({
      url: server.url,
      // Per-operation safety net; the per-call deadline is enforced around each operation.
      timeout: options.timeoutMs,
      createConnection: once,
      createSecureConnection: (arg: unknown) => {
        if (typeof arg === 'object' && arg !== null && 'socket' in arg) {
          // StartTLS: upgrade the socket we already have, with our TLS settings only.
          const socket = tlsConnect({ ...tlsOptions, socket: (arg as { socket: Socket }).socket });
          this.#track(socket);
          return socket;
        }
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- ldapts only needs a Socket here; the TLS socket was opened and verified by us.
        return once() as TLSSocket;
      },
    });
  }

  /**
   * Connects to `server` (and upgrades with StartTLS when configured) within `deadline`.
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE or BACKEND_TIMEOUT; a failed StartTLS aborts.
   */
  static async open(
    server: ResolvedServer,
    options: ResolvedLdapOptions,
    deadline: Deadline,
  ): Promise<LdapConnection> {
    let secureContext: SecureContext | undefined;
    try {
      if (server.secure || server.startTls) secureContext = secureContextFor(options);
    } catch (error) {
      // An unusable CA or client certificate: no server can be reached with it.
      throw toBackendError(error, server.url);
    }
    const tlsOptions: ConnectionOptions = {
      ...options.tls,
      ...(secureContext === undefined ? {} : { secureContext }),
      host: server.host,
      // SNI must be a name, never an IP address (RFC 6066); verification then uses `host`.
      ...(options.tls.servername === undefined && isIP(server.host) === 0
        ? { servername: server.host }
        : {}),
    };
    let socket: Socket | undefined;
    const opening = new Promise<Socket>((resolve, reject) => {
      const s = server.secure
        ? tlsConnect({ ...tlsOptions, port: server.port })
        : netConnect({ host: server.host, port: server.port });
      socket = s;
      s.once(server.secure ? 'secureConnect' : 'connect', () => {
        s.removeAllListeners('error');
        // Until ldapts attaches its own handlers, an error must not crash the process.
        s.on('error', () => undefined);
        resolve(s);
      });
      s.once('error', reject);
    });
    let conn: LdapConnection | undefined;
    try {
      const open = await deadline.run(opening, 'connect', () => socket?.destroy());
      conn = new LdapConnection(server, options, tlsOptions, open);
      if (server.startTls) {
        const c = conn;
        await deadline.run(c.client.startTLS({}), 'starttls', () => {
          c.destroy();
        });
      }
      return conn;
    } catch (error) {
      // A failed StartTLS aborts: the connection is dropped, never used in plaintext.
      conn?.destroy();
      socket?.destroy();
      throw toBackendError(error, server.url);
    }
  }

  /** Connected, not destroyed, and never silently re-opened. */
  get usable(): boolean {
    return !this.#destroyed && this.client.isConnected;
  }

  /** Drops the connection at once (a stuck server, a deadline): no goodbye. */
  destroy(): void {
    this.#destroyed = true;
    for (const s of this.#sockets) s.destroy();
  }

  /**
   * Says goodbye (UNBIND) if the peer is still there, then drops the connection. Never throws,
   * and never waits long: a dead peer gets no goodbye.
   */
  async close(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const unbind = this.client.unbind().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      unbind,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 250);
      }),
    ]);
    clearTimeout(timer);
    for (const s of this.#sockets) s.destroy();
  }

  #track(socket: Socket): void {
    this.#sockets.push(socket);
    // ldapts does not watch a StartTLS socket for closure, so `isConnected` can stay true on a
    // dead connection; we watch every socket ourselves.
    socket.once('close', () => {
      this.#destroyed = true;
    });
  }
}

/**
 * Opens a connection to the first server that answers, in failover order, within `deadline`, and
 * runs `bind` on it (the service bind, a user's bind, or nothing): the connection comes back with
 * what `bind` resolved to (a user's bind reports a refusal that way).
 *
 * Each server gets at most `connectTimeoutMs` to accept the connection (and StartTLS), and as
 * much again to answer the bind, so one dead server cannot eat the whole budget; the last server
 * to try gets whatever is left for its bind. A server that fails either step for availability
 * reasons — refused, reset, silent (a hung directory behind a load balancer or TLS terminator
 * takes the connection and never answers) — is marked failed and the next one is tried within
 * the same deadline, as is one that answers busy or unavailable. Any other LDAP result thrown by
 * `bind` (a refused service bind) ends the failover: it is the server's answer, not its failure.
 *
 * @throws {AuthBridgeError} BACKEND_UNAVAILABLE / BACKEND_TIMEOUT when no server answers in time,
 * or BACKEND_UNAVAILABLE for an LDAP result to the bind.
 */
export async function openConnection<T>(
  options: ResolvedLdapOptions,
  servers: ServerSet,
  deadline: Deadline,
  makeAttemptDeadline: (ms: number) => Deadline,
  bind: (conn: LdapConnection) => Promise<T>,
): Promise<{ conn: LdapConnection; bound: T }> {
  let last: AuthBridgeError | undefined;
  const order = servers.order();
  for (const [i, server] of order.entries()) {
    const left = deadline.remaining();
    if (left <= 0) break;
    let opened: LdapConnection | undefined;
    try {
      const conn = await LdapConnection.open(
        server,
        options,
        makeAttemptDeadline(Math.min(left, options.connectTimeoutMs)),
      );
      opened = conn;
      const lastServer = i === order.length - 1;
      const budget = deadline.remaining();
      const bound = await makeAttemptDeadline(
        lastServer ? budget : Math.min(budget, options.connectTimeoutMs),
      )
        // Destroying the socket ends the stuck bind; an answer after that is never read.
        .run(bind(conn), 'bind', () => {
          conn.destroy();
        });
      servers.markOk(server);
      return { conn, bound };
    } catch (error) {
      opened?.destroy();
      if (!isConnectionError(error)) throw toBackendError(error, server.url);
      last = toBackendError(error, server.url);
      servers.markFailed(server);
      options.logger.warn('ldap.server_failed', { server: server.url, detail: last.detail });
    }
  }
  throw (
    last ?? new AuthBridgeError('BACKEND_TIMEOUT', undefined, { detail: 'no time left to connect' })
  );
}
