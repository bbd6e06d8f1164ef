/**
 * The LDAP authentication backend: search-then-bind or direct bind over ldapts, with groups,
 * group gates, flags and permissions, and provisioning into a core {@link UserStore}.
 *
 * @packageDocumentation
 */
import {
  type AnyUser,
  type AuthBackend,
  AuthBridgeError,
  MemoryUserStore,
  PermissionDenied,
  type User,
  userFromStored,
  type UserStore,
} from '@authbridge/core';
import { type Entry, type Filter, PasswordPolicyControl } from 'ldapts';
import { randomUUID } from 'node:crypto';
import { CredentialCache } from './credential-cache.js';
import { Deadline } from './deadline.js';
import { escapeDnValue, firstRdnValue, formatDn, isDnWithin, normalizeDn, parseDn } from './dn.js';
import { FailureTiming } from './failure-timing.js';
import { userFilter } from './filters.js';
import { evaluateGroupQuery } from './group-query.js';
import { resolveGroups } from './group-resolver.js';
import {
  type LdapBackendOptions,
  type ResolvedLdapOptions,
  resolveLdapOptions,
} from './ldap-backend-options.js';
import { type LdapConnection, openConnection } from './ldap-connection.js';
import {
  type BindOutcome,
  classifyBindError,
  type LdapFailureReason,
  reasonFromPasswordPolicy,
  toBackendError,
} from './map-ldap-error.js';
import { ServerSet } from './server-set.js';
import { readRootDse, ServicePool } from './service-pool.js';
import { TtlCache } from './ttl-cache.js';

/** What {@link LdapBackend} accepts. */
export interface LdapCredentials {
  readonly username: string;
  readonly password: string;
}

// Longer input is refused before any I/O: no directory has such names, and it bounds the work.
const MAX_USERNAME_LENGTH = 256;
const MAX_PASSWORD_LENGTH = 4096;

type LoginResult =
  | { readonly kind: 'user'; readonly user: User }
  | {
      readonly kind: 'fail';
      readonly reason: LdapFailureReason;
      readonly adSubCode?: string;
      /** For the failure's timing (see FailureTiming): a real user's refused bind, or no user. */
      readonly timing?: 'refused-bind' | 'no-user';
    };

interface FoundEntry {
  readonly dn: string;
  readonly entry: Entry;
}

function values(entry: Entry, attribute: string): (string | Buffer)[] {
  const wanted = attribute.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key.toLowerCase() !== wanted || key === 'dn') continue;
    return Array.isArray(value) ? value : [value];
  }
  return [];
}

function firstString(entry: Entry, attribute: string): string | undefined {
  const v = values(entry, attribute)[0];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

function strings(entry: Entry, attribute: string): string[] {
  return values(entry, attribute).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

/** Formats AD's binary objectGUID (mixed-endian) as the usual GUID string. */
function formatGuid(bytes: Buffer): string {
  if (bytes.length !== 16) return bytes.toString('hex');
  const h = (b: Buffer): string => b.toString('hex');
  const le = (start: number, len: number): string =>
    h(Buffer.from(bytes.subarray(start, start + len)).reverse());
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${h(bytes.subarray(8, 10))}-${h(bytes.subarray(10, 16))}`;
}

/** The DNS name of the Active Directory domain holding an entry: its DN's trailing DC values. */
function adDomainOf(dn: string): string {
  const labels: string[] = [];
  for (const rdn of parseDn(dn).reverse()) {
    const [ava, ...more] = rdn;
    if (ava?.type !== 'dc' || more.length > 0) break;
    labels.unshift(ava.value);
  }
  return labels.join('.').toLowerCase();
}

// A bind the server answered with a refusal (wrong password, locked account...).
type RefusedBind = Extract<BindOutcome, { kind: 'refused' }>;

/**
 * Authenticates users against an LDAP directory.
 *
 * `authenticate` resolves to `null` for every kind of bad login (unknown user, wrong password,
 * locked or expired account, not in the required group) so nothing leaks to the client; the
 * reason goes to the logger. It throws `PermissionDenied` for a member of `denyGroup` (a veto),
 * and BACKEND_UNAVAILABLE / BACKEND_TIMEOUT when the directory cannot answer: an outage is never
 * a wrong password.
 *
 * @example
 * ```ts
 * const ldap = new LdapBackend({
 *   url: 'ldap://ldap.example.org',
 *   tls: { ca: readFileSync('ca.pem', 'utf8') },
 *   bindDn: 'cn=authbridge,ou=service,dc=example,dc=org',
 *   bindPassword: process.env.LDAP_PASSWORD,
 *   userSearch: { base: 'ou=people,dc=example,dc=org' },
 *   groups: { base: 'ou=groups,dc=example,dc=org', strategies: ['memberOf'] },
 *   groupPermissions: { admins: ['app.manage'] },
 * });
 * ```
 */
export class LdapBackend implements AuthBackend<LdapCredentials> {
  readonly id: string;
  readonly #o: ResolvedLdapOptions;
  readonly #servers: ServerSet;
  readonly #pool: ServicePool;
  readonly #store: UserStore;
  readonly #ownsStore: boolean;
  // Username → DN only: the entry itself (groups, id, profile) is read at every login.
  readonly #dnCache: TtlCache<string, string>;
  // (entry id, DN) → groups.
  readonly #groupCache: TtlCache<string, Map<string, string>>;
  readonly #credentials: CredentialCache<LoginResult>;
  readonly #userAttributes: string[];
  readonly #failures: FailureTiming;
  #closed = false;

  /** @throws {AuthBridgeError} CONFIG_INVALID for bad options. */
  constructor(options: LdapBackendOptions) {
    this.#o = resolveLdapOptions(options);
    this.id = this.#o.id;
    this.#servers = new ServerSet(this.#o.servers, this.#o.failoverBackoffMs);
    this.#pool = new ServicePool(this.#o, this.#servers);
    this.#ownsStore = this.#o.store === undefined;
    this.#store = this.#o.store ?? new MemoryUserStore();
    const { cache, clock } = this.#o;
    this.#dnCache = new TtlCache(cache.dnTtlMs, cache.maxEntries, clock);
    this.#groupCache = new TtlCache(cache.groupTtlMs, cache.maxEntries, clock);
    this.#credentials = new CredentialCache(cache.credentialTtlMs, cache.maxEntries, clock);
    this.#failures = new FailureTiming(this.#o.minFailureMs, this.#o.timeoutMs);
    const o = this.#o;
    const attrs = new Set([
      o.usernameAttribute,
      o.idAttribute,
      o.emailAttribute,
      o.displayNameAttribute,
      ...Object.values(o.extraAttributes),
    ]);
    if (o.groups?.strategies.has('memberOf')) attrs.add('memberOf');
    if (o.groups?.strategies.has('posix')) attrs.add('gidNumber');
    this.#userAttributes = [...attrs];
  }

  accepts(credentials: unknown): credentials is LdapCredentials {
    if (credentials === null || typeof credentials !== 'object') return false;
    const c = credentials as Record<string, unknown>;
    return typeof c['username'] === 'string' && typeof c['password'] === 'string';
  }

  async authenticate(_request: unknown, credentials: LdapCredentials): Promise<User | null> {
    const started = this.#failures.now();
    const username: unknown = credentials.username;
    const password: unknown = credentials.password;
    // Refused before any I/O: an empty password is an "unauthenticated bind" that servers accept
    // as success (RFC 4513 §5.1.2), and NUL or oversized input has no business on the wire.
    if (
      typeof username !== 'string' ||
      typeof password !== 'string' ||
      username === '' ||
      password === '' ||
      username.trim() === '' ||
      username.length > MAX_USERNAME_LENGTH ||
      password.length > MAX_PASSWORD_LENGTH ||
      username.includes('\0')
    ) {
      return this.#fail({ kind: 'fail', reason: 'empty-credentials' }, undefined, started);
    }
    if (this.#closed) throw new AuthBridgeError('CLOSED', 'LDAP backend is closed');
    const deadline = new Deadline(this.#o.timeoutMs);
    let result: LoginResult;
    try {
      result = await this.#credentials.get(
        username,
        password,
        () => this.#login(username, password, deadline),
        (r) => r.kind === 'user',
      );
    } catch (error) {
      // PermissionDenied and store errors pass through; raw ldapts errors become outage codes.
      if (error instanceof AuthBridgeError) throw error;
      throw toBackendError(error);
    }
    if (result.kind === 'user') {
      // The directory's answer may come from the credential cache; the local user is read now,
      // so a local deactivation (or a changed flag) counts at once, not when the entry expires.
      const stored = await this.#store.getById(result.user.id);
      if (stored === undefined || (!stored.isActive && !this.#o.allowInactive))
        return this.#fail({ kind: 'fail', reason: 'inactive' }, username, started);
      return userFromStored(stored);
    }
    return this.#fail(result, username, started);
  }

  async #fail(result: LoginResult, username: string | undefined, started: number): Promise<null> {
    if (result.kind === 'fail') {
      this.#o.logger.info('ldap.login_failed', {
        backend: this.id,
        reason: result.reason,
        adSubCode: result.adSubCode,
        username,
      });
    }
    await this.#failures.settle(started, result.kind === 'fail' ? result.timing : undefined);
    return null;
  }

  async #login(username: string, password: string, deadline: Deadline): Promise<LoginResult> {
    const o = this.#o;
    let found: FoundEntry | undefined;
    let userDn: string;
    // The DN came from the cache: the entry is read after the bind.
    let cachedDn = false;
    // Search flow: what the user's entry must match, whether its DN was searched for or cached.
    let ownFilter: Filter | undefined;
    if (o.flow.kind === 'search') {
      ownFilter = userFilter(o.usernameAttribute, username, o.flow.filter);
      const lookup = await this.#findUser(username, ownFilter, deadline);
      if (lookup.kind === 'fail') {
        if (!o.dummyBind) return lookup;
        await this.#dummyBind(password, deadline);
        // The dummy bind costs the directory no password check: #fail evens out the time.
        return { ...lookup, timing: 'no-user' };
      }
      found = lookup.found;
      cachedDn = found === undefined;
      userDn = lookup.dn;
    } else if (o.flow.kind === 'template') {
      const value = escapeDnValue(username);
      // A function, not a string: `$&`, `$'` and friends in a username are not patterns.
      userDn = o.flow.template.replace('{username}', () => value);
    } else {
      // Not a DN, so nothing to escape; a second `@` or `\` could name another domain's
      // account, and control characters have no place in a logon name.
      // eslint-disable-next-line no-control-regex -- control characters are what is refused.
      if (/[@\\\u0000-\u001f\u007f]/.test(username))
        return { kind: 'fail', reason: 'user-not-found' };
      userDn = o.flow.template.replace('{username}', () => username);
    }

    const policy = new PasswordPolicyControl();
    const { conn, refused } = await this.#bindAs(userDn, password, deadline, policy);
    try {
      if (refused !== undefined) {
        if (found !== undefined || cachedDn) this.#dnCache.delete(username);
        return {
          kind: 'fail',
          reason: refused.reason,
          ...(refused.adSubCode === undefined ? {} : { adSubCode: refused.adSubCode }),
          // The user was found first: what an unknown user's login waits for.
          ...(o.flow.kind === 'search' ? { timing: 'refused-bind' as const } : {}),
        };
      }
      const state = reasonFromPasswordPolicy(policy.value);
      if (state === 'grace-login' && o.allowGraceLogins) {
        o.logger.warn('ldap.grace_login', {
          backend: this.id,
          username,
          remaining: policy.value?.graceAuthNsRemaining,
        });
      } else if (state !== undefined) {
        return { kind: 'fail', reason: state };
      }
      if (cachedDn) {
        // Only the DN was remembered: the entry (groups, id, profile) is read now, as the directory
        // has it — a group removed, or another person at the same DN, shows at once. It must still
        // match what the search matched (the login name and userSearch.filter): a renamed user, or
        // one the filter now excludes, is unknown here as it would be to the search.
        const entries = await this.#pool.run(deadline, 'user read', (c) =>
          this.#search(c, deadline, userDn, ownFilter, 'base'),
        );
        const entry = entries[0];
        if (entry === undefined) {
          this.#dnCache.delete(username);
          return { kind: 'fail', reason: 'user-not-found' };
        }
        found = { dn: entry.dn, entry };
      }
      if (found === undefined && o.flow.kind === 'bindName') {
        // Active Directory bind name: find our own entry, as ourselves.
        const flow = o.flow;
        const own = async (filter: Filter): Promise<Entry[]> => {
          const perBase = await Promise.all(
            flow.bases.map((base) => this.#search(conn, deadline, base, filter, flow.scope, 2)),
          );
          return uniqueByDn(perBase);
        };
        let entries = await own(
          flow.form === 'upn'
            ? userFilter('userPrincipalName', userDn, flow.filter)
            : userFilter('sAMAccountName', username, flow.filter),
        );
        if (entries.length === 0 && flow.form === 'upn') {
          // AD also binds name@domain as an implicit UPN: the account whose sAMAccountName is
          // `name` in the domain whose DNS name is `domain`, whatever its userPrincipalName says.
          // AD and Samba refuse a userPrincipalName that another account's implies, so that
          // account is the one bound; one of that name in another domain, or under an alternate
          // suffix (which names no domain), is not.
          const domain = flow.template.slice(flow.template.indexOf('@') + 1).toLowerCase();
          entries = (await own(userFilter('sAMAccountName', username, flow.filter))).filter(
            (e) => adDomainOf(e.dn) === domain,
          );
          // Windows AD does not enforce UPN uniqueness (KB 251359; replication can also make
          // clashes): another account, outside the search bases or the filter, may hold this
          // name as its explicit UPN and be the one bound. So the entry found must take the same
          // password by its own DN, or the login is not its.
          const [candidate] = entries;
          if (entries.length === 1 && candidate !== undefined) {
            const outcome = await this.#rebind(conn, candidate.dn, password, deadline);
            if (outcome !== 'bound') return { kind: 'fail', reason: 'user-not-found' };
          }
        }
        const [entry, ...others] = entries;
        if (entry === undefined) return { kind: 'fail', reason: 'user-not-found' };
        if (others.length > 0) return { kind: 'fail', reason: 'ambiguous-user' };
        found = { dn: entry.dn, entry };
      } else if (found === undefined) {
        // Direct bind: read our own entry, as ourselves.
        const entries = await this.#search(conn, deadline, userDn, undefined, 'base');
        const entry = entries[0];
        if (entry === undefined) return { kind: 'fail', reason: 'user-not-found' };
        found = { dn: entry.dn, entry };
      }
      return await this.#finish(found, conn, deadline);
    } finally {
      void conn.close();
    }
  }

  async #findUser(
    username: string,
    filter: Filter,
    deadline: Deadline,
  ): Promise<
    | { kind: 'found'; dn: string; found: FoundEntry | undefined }
    | Extract<LoginResult, { kind: 'fail' }>
  > {
    const cached = this.#dnCache.get(username);
    if (cached !== undefined) return { kind: 'found', dn: cached, found: undefined };
    const flow = this.#o.flow;
    if (flow.kind !== 'search') throw new AuthBridgeError('INTERNAL');
    const perBase = await Promise.all(
      flow.bases.map((base) =>
        this.#pool.run(deadline, 'user search', (conn) =>
          this.#search(conn, deadline, base, filter, flow.scope, 2),
        ),
      ),
    );
    const [entry, ...others] = uniqueByDn(perBase);
    if (entry === undefined) return { kind: 'fail', reason: 'user-not-found' };
    if (others.length > 0) return { kind: 'fail', reason: 'ambiguous-user' };
    const found = { dn: entry.dn, entry };
    this.#dnCache.set(username, entry.dn);
    return { kind: 'found', dn: entry.dn, found };
  }

  async #search(
    conn: LdapConnection,
    deadline: Deadline,
    base: string,
    filter: Filter | undefined,
    scope: 'base' | 'one' | 'sub',
    sizeLimit = 0,
  ): Promise<Entry[]> {
    try {
      const result = await deadline.run(
        conn.client.search(base, {
          scope,
          ...(filter === undefined ? {} : { filter }),
          attributes: this.#userAttributes,
          sizeLimit,
          timeLimit: this.#o.searchTimeLimitSeconds,
          ...(this.#o.idFormat === 'guid'
            ? { explicitBufferAttributes: [this.#o.idAttribute] }
            : {}),
        }),
        // Nothing to destroy on expiry: a pooled connection is shared (the pool retires it), and
        // the login's own connection is closed when the login ends.
        'search',
      );
      return result.searchEntries;
    } catch (error) {
      // "No such object" for a base search on our own DN is a vanished user, not an outage.
      if (scope === 'base' && (error as { code?: unknown }).code === 32) return [];
      throw error;
    }
  }

  /**
   * Binds the user's own connection again as `dn`: 'bound', or 'refused' when the directory says
   * no (any refusal). A transport failure or the deadline is thrown, as an outage.
   */
  async #rebind(
    conn: LdapConnection,
    dn: string,
    password: string,
    deadline: Deadline,
  ): Promise<'bound' | 'refused'> {
    try {
      await deadline.run(conn.client.bind(dn, password), 'bind');
      return 'bound';
    } catch (error) {
      const outcome = classifyBindError(error, undefined, conn.server.url);
      if (outcome.kind === 'error') throw outcome.error;
      return 'refused';
    }
  }

  async #dummyBind(password: string, deadline: Deadline): Promise<void> {
    // Same work as a real failed login: connection, TLS, a bind that fails. The DN cannot exist.
    const flow = this.#o.flow;
    const base = flow.kind === 'search' ? (flow.bases[0] ?? '') : '';
    const dn = formatDn([
      [{ type: this.#o.usernameAttribute, value: `authbridge-dummy-${randomUUID()}` }],
      ...parseDn(base),
    ]);
    // Failures as the real bind has them: a refused bind is the expected outcome; an outage (no
    // connection, no TLS, the deadline) is an error, as it is for a known user on the same
    // outage — swallowed here, it told unknown users (a plain failure) from known ones (503).
    const { conn } = await this.#bindAs(dn, password, deadline);
    void conn.close();
  }

  /**
   * Connects and binds as `dn`. The bind is the connection's (see openConnection): a server that
   * does not answer it is failed over within this login. A refusal is an answer — it ends the
   * failover and is returned; any other failure of the last server tried is thrown.
   */
  async #bindAs(
    dn: string,
    password: string,
    deadline: Deadline,
    policy?: PasswordPolicyControl,
  ): Promise<{ conn: LdapConnection; refused: RefusedBind | undefined }> {
    const { conn, bound } = await openConnection(
      this.#o,
      this.#servers,
      deadline,
      (ms) => new Deadline(ms),
      async (c): Promise<RefusedBind | undefined> => {
        try {
          await c.client.bind(dn, password, policy);
          return undefined;
        } catch (error) {
          const outcome = classifyBindError(error, policy?.value, c.server.url);
          // Raw, for openConnection to judge: a transport failure moves on to the next server,
          // an LDAP result (referral, strongerAuthRequired...) is the server's answer and ends
          // the failover — it would say the same to everyone, and must not demote it.
          if (outcome.kind === 'error') throw error;
          return outcome;
        }
      },
    );
    return { conn, refused: bound };
  }

  async #finish(
    found: FoundEntry,
    userConn: LdapConnection,
    deadline: Deadline,
  ): Promise<LoginResult> {
    const o = this.#o;
    const entry = found.entry;
    const rawId = values(entry, o.idAttribute)[0];
    if (rawId === undefined) {
      throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
        detail: `entry has no ${o.idAttribute}: check idAttribute`,
      });
    }
    const subject =
      typeof rawId === 'string'
        ? rawId
        : o.idFormat === 'guid'
          ? formatGuid(rawId)
          : rawId.toString('utf8');
    let groupDns = new Map<string, string>();
    if (o.groups !== undefined) {
      // The entry's id as well as its DN: a DN is reused (someone leaves, someone new gets the same
      // uid), and the newcomer must not inherit the groups cached for the one who left.
      const key = JSON.stringify([subject, normalizeDn(found.dn)]);
      const cached = this.#groupCache.get(key);
      if (cached !== undefined) {
        groupDns = cached;
      } else {
        const groups = o.groups;
        groupDns = await resolveGroups(
          groups,
          {
            dn: found.dn,
            uid: firstString(entry, o.usernameAttribute) ?? '',
            gidNumber: firstString(entry, 'gidNumber'),
            memberOf: strings(entry, 'memberOf'),
          },
          async (base, filter) => {
            const run = async (conn: LdapConnection): Promise<string[]> => {
              const result = await deadline.run(
                conn.client.search(base, {
                  scope: 'sub',
                  filter,
                  attributes: ['1.1'],
                  timeLimit: o.searchTimeLimitSeconds,
                  paged: { pageSize: groups.pageSize },
                }),
                // As in #search: the pool retires a shared connection, the login closes its own.
                'group search',
              );
              return result.searchEntries.map((e) => e.dn);
            };
            // With a service account, groups are read as it (a consistent view); otherwise as the user.
            return o.bind === undefined
              ? run(userConn)
              : this.#pool.run(deadline, 'group search', run);
          },
        );
        this.#groupCache.set(key, groupDns);
      }
    }
    const normalized = new Set(groupDns.keys());
    // The veto comes after the password check: deny-group membership is not revealed to guessers.
    if (o.denyGroup !== undefined && evaluateGroupQuery(o.denyGroup, normalized)) {
      o.logger.info('ldap.login_denied', { backend: this.id, dn: found.dn });
      throw new PermissionDenied();
    }
    if (o.requireGroup !== undefined && !evaluateGroupQuery(o.requireGroup, normalized)) {
      return { kind: 'fail', reason: 'require-group' };
    }
    // An unconfigured flag is undefined, not a default: the store then keeps what it has, so a
    // flag set locally (say an account deactivated by an admin) survives the next login.
    const flag = (q: typeof o.userFlags.isActive): boolean | undefined =>
      q === undefined ? undefined : evaluateGroupQuery(q, normalized);
    const isActive = flag(o.userFlags.isActive);
    if (isActive === false && !o.allowInactive) return { kind: 'fail', reason: 'inactive' };

    const username = firstString(entry, o.usernameAttribute);
    if (username === undefined) {
      throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
        detail: `entry has no ${o.usernameAttribute}`,
      });
    }
    const attributes: Record<string, unknown> = { dn: found.dn };
    for (const [field, attr] of Object.entries(o.extraAttributes)) {
      const v = strings(entry, attr);
      if (v.length > 0) attributes[field] = v.length === 1 ? v[0] : v;
    }
    // Names (the user's groups, `groupPermissions`) only from groups inside `groups.base` when one
    // is set: memberOf lists groups anywhere in the directory, and a group of the same name in
    // another subtree (a delegated OU) must not grant what `admins` grants. DN-based gates above
    // see every group found (a gate outside groups.base needs memberOf; see the options).
    const bases = o.groups?.bases ?? [];
    const named = [...groupDns.values()].filter(
      (dn) => bases.length === 0 || bases.some((base) => isDnWithin(dn, base)),
    );
    const groupNames = [...new Set(named.map((dn) => firstRdnValue(dn)))].sort();
    const provisioned = await this.#store.provision(
      { backendId: this.id, issuer: o.issuer, subject },
      {
        username,
        email: firstString(entry, o.emailAttribute),
        displayName: firstString(entry, o.displayNameAttribute),
        isActive,
        isStaff: flag(o.userFlags.isStaff),
        isSuperuser: flag(o.userFlags.isSuperuser),
        groups: groupNames,
        attributes,
      },
      { create: !o.noNewUsers, update: o.updateUsers },
    );
    if (provisioned === null) return { kind: 'fail', reason: 'no-new-users' };
    if (!provisioned.user.isActive && !o.allowInactive) return { kind: 'fail', reason: 'inactive' };
    return { kind: 'user', user: userFromStored(provisioned.user) };
  }

  async getUser(userId: string): Promise<User | null> {
    const stored = await this.#store.getById(userId);
    if (stored === undefined) return null;
    // Only users this backend provisioned: a local break-glass account is not ours to vouch for.
    const identities = await this.#store.identitiesOf(stored.id);
    if (!identities.some((i) => i.backendId === this.id)) return null;
    if (!stored.isActive && !this.#o.allowInactive) return null;
    return userFromStored(stored);
  }

  async getAllPermissions(user: AnyUser, obj?: unknown): Promise<ReadonlySet<string>> {
    // No object-level permissions here, and nothing for anonymous or inactive users.
    if (obj !== undefined && obj !== null) return new Set();
    if (!user.isAuthenticated || !user.isActive) return new Set();
    const stored = await this.getUser(user.id);
    if (stored === null) return new Set();
    const perms = new Set<string>();
    for (const group of stored.groups) {
      for (const perm of this.#o.groupPermissions.get(group.toLowerCase()) ?? []) perms.add(perm);
    }
    return perms;
  }

  async hasPerm(user: AnyUser, perm: string, obj?: unknown): Promise<boolean> {
    return (await this.getAllPermissions(user, obj)).has(perm);
  }

  async hasModulePerms(user: AnyUser, label: string): Promise<boolean> {
    for (const perm of await this.getAllPermissions(user)) {
      if (perm.startsWith(`${label}.`)) return true;
    }
    return false;
  }

  /**
   * Resolves when the directory answers: a root DSE read on a pooled service-account connection
   * (connected, StartTLS, bound as the service account), within `healthCheckTimeoutMs`. For
   * readiness probes; it never touches a user entry.
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE when no server answers in time, the service
   *   bind is refused, or the backend is closed; the cause and the server go to `detail`.
   */
  async healthCheck(): Promise<void> {
    if (this.#closed) {
      throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, { detail: 'backend is closed' });
    }
    const deadline = new Deadline(this.#o.healthCheckTimeoutMs);
    try {
      await this.#pool.run(deadline, 'health check', (conn) =>
        readRootDse(conn, this.#o.searchTimeLimitSeconds),
      );
    } catch (error) {
      const e = toBackendError(error);
      this.#o.logger.warn('ldap.health_check_failed', {
        backend: this.id,
        code: e.code,
        detail: e.detail,
      });
      // One code for probes: a timeout is unavailability too.
      throw e.code === 'BACKEND_UNAVAILABLE'
        ? e
        : new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, { detail: e.detail, cause: e });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#credentials.clear();
    this.#dnCache.clear();
    this.#groupCache.clear();
    await this.#pool.close();
    if (this.#ownsStore) await this.#store.close();
  }
}

/** The entries of several searches, one per DN: overlapping bases must not turn one user into two. */
function uniqueByDn(perBase: readonly (readonly Entry[])[]): Entry[] {
  const byDn = new Map<string, Entry>();
  for (const entry of perBase.flat()) byDn.set(normalizeDn(entry.dn), entry);
  return [...byDn.values()];
}
