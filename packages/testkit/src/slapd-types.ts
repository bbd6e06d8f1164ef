/** Options for `startSlapd`. */
export interface SlapdOptions {
  /**
   * Extra LDIF appended after the seed, each entry either LDIF text or a path to an LDIF file
   * (relative to the working directory). Entries are loaded with slapadd before slapd starts,
   * so they must be plain add records (no `changetype`), and because slapadd runs no overlays,
   * entries that are members of groupOfNames groups must carry their `memberOf` values.
   * Default: none.
   */
  readonly ldif?: readonly string[];
  /**
   * `'default'` seeds `docker/openldap/ldif/*.ldif` (users, groups, password policies and the
   * service account, see docker/openldap/README.md); `'none'` only creates the base entry
   * `dc=example,dc=org` (so `serviceDN` does not exist unless `ldif` adds it). Default `'default'`.
   */
  readonly seed?: 'default' | 'none';
  /**
   * `'native'` runs the installed slapd as a child process; `'docker'` runs the
   * docker/openldap image through testcontainers; `'auto'` uses Docker when a Docker engine
   * answers, else native. Default: the `AUTHBRIDGE_LDAP` environment variable (`native`,
   * `docker` or `auto`), else `'auto'`.
   */
  readonly mode?: 'auto' | 'native' | 'docker';
  /**
   * slapd's debug level for its log (`slapd -d`), a name or number: `'stats'` (default) logs
   * every connection and operation, so a test can read what a client actually sent (for
   * example, prove that a BIND never happened); `'none'` keeps the log quiet.
   */
  readonly logLevel?: string;
}

/**
 * A running OpenLDAP server for tests. Dispose it with `await using` or call
 * {@link SlapdServer.stop} (in an `after` hook); the process, its temp directory and its
 * container are gone afterwards, and also if the test process exits or is killed.
 */
export interface SlapdServer extends AsyncDisposable {
  /** `ldap://127.0.0.1:<port>`; StartTLS is available on it. */
  readonly url: string;
  /** `ldaps://127.0.0.1:<ldapsPort>`. */
  readonly ldapsUrl: string;
  /** Always the IPv4 loopback address: the server listens nowhere else. */
  readonly host: '127.0.0.1';
  /** Port of {@link SlapdServer.url}. */
  readonly port: number;
  /** Port of {@link SlapdServer.ldapsUrl}. */
  readonly ldapsPort: number;
  /** `dc=example,dc=org`. */
  readonly baseDN: string;
  /** The rootdn, `cn=admin,dc=example,dc=org`; not subject to access control or ppolicy. */
  readonly adminDN: string;
  /** The rootdn's password, random per server. */
  readonly adminPassword: string;
  /**
   * The seeded service account for search-then-bind, `cn=authbridge,ou=service,dc=example,dc=org`:
   * it may read every entry and compare (not read) userPassword. Anonymous clients may not
   * search at all.
   */
  readonly serviceDN: string;
  /** Password of {@link SlapdServer.serviceDN}. */
  readonly servicePassword: string;
  /** PEM of the test CA that issued the server certificate; pass it as `tlsOptions.ca`. */
  readonly caCertPem: string;
  /** Path of a file holding {@link SlapdServer.caCertPem} (for CLI tools: `LDAPTLS_CACERT`). */
  readonly caCertPath: string;
  /** DNS name in the server certificate besides `localhost`; the SAN also has IP 127.0.0.1. */
  readonly serverName: string;
  /** The server's private temp directory (`authbridge-slapd-*`), removed by {@link SlapdServer.stop}. */
  readonly dir: string;
  /** The slapd process id while it runs natively; `undefined` in Docker mode and while not running. */
  readonly pid: number | undefined;
  /** How this server runs. */
  readonly mode: 'native' | 'docker';
  /** slapd's log (stderr) so far, at the configured `logLevel`. */
  log(): Promise<string>;
  /**
   * Stops the server and deletes its directory (and container). SIGTERM first, SIGKILL if it has
   * not exited within a few seconds. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * Stops slapd (if running) and starts it again on the same ports with the same data; resolves
   * once it accepts binds. Clients' connections are dropped, as with a server restart or an idle
   * timeout.
   */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered. */
  pause(): void;
  /** Unfreezes the server after {@link SlapdServer.pause}. */
  resume(): void;
  /** Kills slapd with SIGKILL and keeps its data, like a crash; {@link SlapdServer.restart} brings it back. */
  kill(): Promise<void>;
}

/** {@link SlapdOptions} with defaults applied. */
export interface ResolvedSlapdOptions {
  readonly ldif: readonly string[];
  readonly seed: 'default' | 'none';
  readonly logLevel: string;
}
