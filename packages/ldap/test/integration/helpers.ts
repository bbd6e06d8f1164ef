// Shared fixture code for the LDAP integration tests.
import { startSlapd, type SlapdServer } from '@authbridge/testkit';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import {
  LdapBackend,
  type LdapBackendOptions,
  type LdapLogFields,
  type LdapLogger,
} from '@authbridge/ldap';

export const BASE = 'dc=example,dc=org';
export const PEOPLE = `ou=people,${BASE}`;
export const GROUPS = `ou=groups,${BASE}`;

/** A logger that records every event, for asserting on failure reasons. */
export class RecordingLogger implements LdapLogger {
  readonly events: { level: string; event: string; fields: LdapLogFields }[] = [];
  debug = (event: string, fields: LdapLogFields): void => {
    this.#push('debug', event, fields);
  };
  info = (event: string, fields: LdapLogFields): void => {
    this.#push('info', event, fields);
  };
  warn = (event: string, fields: LdapLogFields): void => {
    this.#push('warn', event, fields);
  };
  error = (event: string, fields: LdapLogFields): void => {
    this.#push('error', event, fields);
  };
  #push(level: string, event: string, fields: LdapLogFields): void {
    this.events.push({ level, event, fields });
  }
  /** The reason of the last `ldap.login_failed` event. */
  lastReason(): unknown {
    return this.events.filter((e) => e.event === 'ldap.login_failed').at(-1)?.fields['reason'];
  }
}

/** Search-then-bind over StartTLS with the service account: the standard configuration. */
export function searchOptions(
  server: SlapdServer,
  logger: LdapLogger,
  extra: Partial<LdapBackendOptions> = {},
): LdapBackendOptions {
  return {
    url: server.url,
    tls: { ca: server.caCertPem },
    bindDn: server.serviceDN,
    bindPassword: server.servicePassword,
    userSearch: { base: PEOPLE },
    logger,
    ...extra,
  };
}

/**
 * Backends with {@link searchOptions} against the server `server()` returns when called (set in a
 * `before` hook), each closed by `closeAll` in the `after` hook.
 */
export function backendMaker(server: () => SlapdServer): {
  make: (extra?: Partial<LdapBackendOptions>) => LdapBackend;
  closeAll: () => Promise<void>;
} {
  const made: LdapBackend[] = [];
  return {
    make: (extra = {}) => {
      const backend = new LdapBackend(searchOptions(server(), new RecordingLogger(), extra));
      made.push(backend);
      return backend;
    },
    closeAll: async () => {
      for (const b of made.splice(0)) await b.close();
    },
  };
}

/** Counts BIND operations in slapd's log (stats level logs every operation). */
export async function bindCount(server: SlapdServer): Promise<number> {
  return ((await server.log()).match(/ BIND dn=/g) ?? []).length;
}

/** Counts accepted connections in slapd's log. */
export async function acceptCount(server: SlapdServer): Promise<number> {
  return ((await server.log()).match(/ ACCEPT from/g) ?? []).length;
}

export { startSlapd };

/**
 * A TCP proxy in front of a server that can silently drop its current connections: they stay
 * open but nothing passes any more, as when a firewall or load balancer forgets an idle flow.
 * New connections are forwarded normally, unless it was told to refuse them.
 */
export class BlackholeProxy {
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket }>();
  readonly #frozen = new Set<{ client: Socket; upstream: Socket }>();
  #refusing = false;
  port = 0;

  private constructor(targetPort: number, replyDelayMs: number) {
    this.#server = createServer((client) => {
      if (this.#refusing) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      const pair = { client, upstream };
      this.#pairs.add(pair);
      client.pipe(upstream);
      if (replyDelayMs > 0)
        // A slow directory: every answer arrives late, in order.
        upstream.on('data', (data: Buffer) => {
          setTimeout(() => {
            if (!client.destroyed) client.write(data);
          }, replyDelayMs);
        });
      else upstream.pipe(client);
      const drop = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
  }

  static async start(targetPort: number, replyDelayMs = 0): Promise<BlackholeProxy> {
    const proxy = new BlackholeProxy(targetPort, replyDelayMs);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.#pairs.size;
  }

  /**
   * Resets every new connection while the current ones keep working: the server's connection
   * limit reached, or a half-failed failover.
   */
  refuseNew(): void {
    this.#refusing = true;
  }

  /** Stops forwarding on every current connection without closing it. */
  blackhole(): void {
    for (const { client, upstream } of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    for (const pair of this.#pairs) this.#frozen.add(pair);
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    for (const { client, upstream } of [...this.#pairs, ...this.#frozen]) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}
