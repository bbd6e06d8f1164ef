/**
 * The REST token backend: a credential is good when an upstream REST service says so (RFC 7662
 * introspection, an in-house API, or a JWT issuer's key set), with the production machinery
 * around that call: cache, single-flight, deadline, retry, circuit breaker, fail-closed.
 *
 * @packageDocumentation
 */
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import {
  AuthBridgeError,
  type AnyUser,
  type AuthBackend,
  userFromStored,
  isAuthenticatedUser,
  PermissionDenied,
  type StoredUser,
  type User,
} from '@authbridge/core';
import type { CircuitBreaker, CircuitState } from './circuit-breaker.js';
import type { CheckedCredential } from './credential-verifier.js';
import { Deadline } from './deadline.js';
import { LruTtlCache } from './lru-ttl-cache.js';
import { isUpstreamFailure } from './map-upstream-error.js';
import type { RestTokenBackendOptions } from './options.js';
import { type ResolvedOptions, resolveOptions } from './resolve-options.js';
import { SingleFlight } from './single-flight.js';
import type { TokenPrincipal } from './token-principal.js';
import { hashPrefix, tokenHash } from './token-hash.js';

/** A bearer token, as taken from `Authorization: Bearer` (RFC 6750). */
export interface BearerCredentials {
  readonly token: string;
}

/** A username and password, accepted by the in-house mode when it has a password placement. */
export interface RestPasswordCredentials {
  readonly username: string;
  readonly password: string;
}

/** What {@link RestTokenBackend} accepts. */
export type RestCredentials = BearerCredentials | RestPasswordCredentials;

/**
 * A user authenticated by a REST backend: the local user plus what the token said. The token
 * fields are empty for a user reloaded by `getUser` (a session carries no token).
 */
export interface RestUser extends User {
  /** Who vouched (the mode's issuer). */
  readonly issuer: string;
  /** The subject at the issuer. */
  readonly subject: string;
  /** The OAuth client the token was issued to. */
  readonly clientId: string | undefined;
  /** The token's scopes. */
  readonly scopes: readonly string[];
  /** Permissions from the token: mapped scopes plus those the upstream granted. */
  readonly permissions: readonly string[];
  /** Token expiry, ms since the epoch. */
  readonly expiresAt: number | undefined;
  /** Attributes the in-house response mapping picked. */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** Counters for dashboards and tests. */
export interface RestBackendStats {
  /** Checks answered from the cache (good or bad). */
  readonly cacheHits: number;
  /** Checks that were not in the cache. */
  readonly cacheMisses: number;
  /** Misses that joined a check already in flight for the same credential. */
  readonly coalesced: number;
  /** Checks that went upstream. */
  readonly upstreamChecks: number;
  /** Upstream checks that failed (unavailable or timed out). */
  readonly upstreamFailures: number;
  /** Times fail-open turned an upstream failure into "no opinion". */
  readonly failOpen: number;
  /** Entries in the verdict cache. */
  readonly cacheSize: number;
  /**
   * The mode's circuit, when there are breakers: the worst state among the upstreams a check
   * depends on (open, then half-open, then closed), e.g. the JWKS and the revocation endpoint.
   */
  readonly circuit: CircuitState | undefined;
}

type Verdict = { readonly kind: 'valid'; readonly user: RestUser } | { readonly kind: 'invalid' };
const INVALID: Verdict = Object.freeze({ kind: 'invalid' });

const MAX_USERNAME_LENGTH = 256;
const MAX_PASSWORD_LENGTH = 4096;
// Visible ASCII only: tokens go into headers and bodies, and nothing legitimate needs more.
const TOKEN_SYNTAX = /^[\x21-\x7e]+$/;

/**
 * Authenticates bearer tokens (and, in the in-house mode, optionally usernames and passwords)
 * by asking a REST service, and maps the principal to a local user through the core UserStore,
 * keyed by (backend id, issuer, subject).
 *
 * Outcomes: a user for a good credential; null for a bad one (inactive, expired, wrong audience,
 * bad signature...: no opinion, the chain moves on); BACKEND_UNAVAILABLE or BACKEND_TIMEOUT when
 * the upstream gave no usable answer (fail closed), unless `dangerouslyFailOpen` is set.
 *
 * @example
 * ```ts
 * const backend = new RestTokenBackend({
 *   store: new MemoryUserStore(),
 *   mode: {
 *     kind: 'introspection',
 *     endpoint: 'https://as.example.com/token/introspection',
 *     issuer: 'https://as.example.com',
 *     audience: 'https://api.example.com',
 *     clientAuth: { method: 'client_secret_basic', clientId: 'api', clientSecret: process.env.SECRET! },
 *   },
 *   permissions: { scopeMap: { 'orders:read': ['shop.view_order'] } },
 * });
 * const user = await backend.authenticate(undefined, { token });
 * ```
 */
export class RestTokenBackend implements AuthBackend<RestCredentials, RestUser> {
  readonly id: string;
  readonly #o: ResolvedOptions;
  readonly #cache: LruTtlCache<Verdict> | undefined;
  readonly #flights = new SingleFlight<Verdict>();
  // Password checks are cached under an HMAC with a per-instance key, not a bare SHA-256: a
  // password has too little entropy for an unkeyed hash to be safe in a heap dump.
  // A KeyObject, not a Buffer: createHmac re-imports a Buffer key on every call (~6x slower).
  readonly #passwordKey = createSecretKey(randomBytes(32));
  // Aborted by close(): every check's deadline follows it, so requests in flight stop at once.
  readonly #closing = new AbortController();
  #stats = {
    cacheHits: 0,
    cacheMisses: 0,
    coalesced: 0,
    upstreamChecks: 0,
    upstreamFailures: 0,
    failOpen: 0,
  };

  /** @throws {AuthBridgeError} CONFIG_INVALID naming the first bad option. */
  constructor(options: RestTokenBackendOptions) {
    this.#o = resolveOptions(options);
    this.id = this.#o.id;
    this.#cache =
      this.#o.cache === undefined
        ? undefined
        : new LruTtlCache<Verdict>(this.#o.cache.maxEntries, this.#o.clock);
    if (this.#o.failOpen) {
      this.#o.logger.warn('rest.fail_open_enabled', {
        backend: this.id,
        note: 'upstream failures will be treated as "no opinion" instead of errors',
      });
    }
  }

  accepts(credentials: unknown): credentials is RestCredentials {
    if (credentials === null || typeof credentials !== 'object') return false;
    const c = credentials as Record<string, unknown>;
    if (typeof c['token'] === 'string') {
      return this.#o.acceptsTokens && c['password'] === undefined;
    }
    return (
      this.#o.acceptsPasswords &&
      typeof c['username'] === 'string' &&
      typeof c['password'] === 'string'
    );
  }

  /**
   * Checks the credential: from the cache when a live verdict is there, else upstream (one call
   * for all concurrent checks of the same credential).
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE / BACKEND_TIMEOUT when the upstream fails (not
   * with `dangerouslyFailOpen`); IDENTITY_CONFLICT or STORE_UNAVAILABLE from the user store;
   * CLOSED after `close()`, also when `close()` came while the check ran. PermissionDenied from a
   * response hook is a veto.
   */
  async authenticate(_request: unknown, credentials: RestCredentials): Promise<RestUser | null> {
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED');
    const key = this.#keyOf(credentials);
    if (key === undefined) return null;
    const cached = this.#cache?.get(key);
    if (cached !== undefined) {
      this.#stats.cacheHits += 1;
      return cached.kind === 'valid' ? this.#asStoredNow(cached.user) : null;
    }
    this.#stats.cacheMisses += 1;
    const { token, username, password } = credentials as BearerCredentials &
      RestPasswordCredentials;
    // #keyOf accepted exactly one of the two shapes.
    const credential: CheckedCredential =
      typeof token === 'string'
        ? { kind: 'token', token }
        : { kind: 'password', username, password };
    const flight = this.#flights.run(key, (isCurrent) => this.#verify(key, credential, isCurrent));
    if (flight.shared) this.#stats.coalesced += 1;
    let verdict: Verdict;
    try {
      verdict = await this.#whileOpen(flight.promise);
    } catch (error) {
      // CLOSED is not an upstream failure: close() never turns into fail-open.
      if (this.#o.failOpen && isUpstreamFailure(error)) {
        this.#stats.failOpen += 1;
        this.#o.logger.warn('rest.fail_open', {
          backend: this.id,
          code: error.code,
          detail: error.detail,
          credential: hashPrefix(key),
        });
        return null;
      }
      throw error;
    }
    return verdict.kind === 'valid' ? verdict.user : null;
  }

  /**
   * A cached verdict's user as the store has it now. The verdict is the token's and may be reused;
   * the user is ours: a local deactivation, a changed flag or a deleted user counts at once, as it
   * does for sessions (`getUser`), not when the cache entry expires.
   */
  async #asStoredNow(user: RestUser): Promise<RestUser | null> {
    const stored = await this.#o.store.getById(user.id);
    if (stored === undefined || !stored.isActive) return null;
    return restUser(stored, user);
  }

  async getUser(userId: string): Promise<RestUser | null> {
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED');
    const stored = await this.#o.store.getById(userId);
    if (stored === undefined || !stored.isActive) return null;
    const identity = (await this.#o.store.identitiesOf(userId)).find(
      (i) => i.backendId === this.id && i.issuer === this.#o.issuer,
    );
    if (identity === undefined) return null;
    // A session carries no token: the user comes back with no token scopes or permissions.
    return restUser(stored, {
      issuer: identity.issuer,
      subject: identity.subject,
      clientId: undefined,
      scopes: [],
      permissions: [],
      expiresAt: undefined,
      attributes: Object.freeze({}),
    });
  }

  /**
   * Whether `user` has `perm`: granted by the token (scope map, scope prefix, upstream
   * permissions) when there is no object; otherwise asked of the remote permission endpoint, if
   * configured. A missing permission is false.
   *
   * @throws {PermissionDenied} when the remote endpoint explicitly denies.
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE / BACKEND_TIMEOUT when it cannot answer; CLOSED
   * after `close()`, also when `close()` came while the question ran.
   */
  async hasPerm(user: AnyUser<RestUser>, perm: string, obj?: unknown): Promise<boolean> {
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED');
    if (typeof perm !== 'string' || perm === '') return false;
    const rest = this.#ours(user);
    if (rest === undefined) return false;
    const onObject = obj !== undefined && obj !== null;
    if (!onObject && rest.permissions.includes(perm)) return true;
    const remote = this.#o.remotePermissions;
    if (remote === undefined) return false;
    const decision = await this.#whileOpen(
      remote.decide(
        { issuer: rest.issuer, subject: rest.subject, username: rest.username },
        perm,
        obj,
      ),
    );
    if (decision === 'deny') {
      throw new PermissionDenied(undefined, { detail: `${this.id}: remote deny of ${perm}` });
    }
    return decision === 'allow';
  }

  /** The token's permissions (none for objects, other backends' users or inactive users). */
  async getAllPermissions(user: AnyUser<RestUser>, obj?: unknown): Promise<ReadonlySet<string>> {
    if (obj !== undefined && obj !== null) return new Set();
    return new Set(this.#ours(user)?.permissions ?? []);
  }

  /**
   * Forgets cached verdicts: for one credential (a raw token string, or credentials as passed to
   * `authenticate`), or all of them. A check in flight for it will not be cached either.
   */
  invalidate(target?: string | RestCredentials): void {
    if (target === undefined) {
      this.#cache?.clear();
      this.#flights.forget();
      this.#o.remotePermissions?.clear();
      return;
    }
    const key = this.#keyOf(typeof target === 'string' ? { token: target } : target);
    if (key !== undefined) this.invalidateHash(key);
  }

  /** Forgets the cached verdict for a token known only by its {@link tokenHash}. */
  invalidateHash(hash: string): void {
    this.#cache?.delete(hash);
    this.#flights.forget(hash);
  }

  /** Counters since construction. */
  stats(): RestBackendStats {
    return {
      ...this.#stats,
      cacheSize: this.#cache?.size ?? 0,
      circuit: worstCircuit(this.#o.breakers),
    };
  }

  /**
   * Readiness: whether the token service answers. Introspection (and a JWT mode's revocation
   * endpoint) is asked about a random token (a working server says `active: false`); every mode
   * counts as down while a circuit it depends on is open (that upstream failed the last calls).
   * The key set is not fetched, and an in-house REST service is not sent made-up credentials, so
   * for those only the breaker speaks.
   *
   * @throws {AuthBridgeError} BACKEND_UNAVAILABLE / BACKEND_TIMEOUT; CLOSED after `close()`.
   */
  async healthCheck(): Promise<void> {
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED');
    if (this.#o.breakers.some((b) => b.state === 'open')) {
      throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
        detail: `${this.id}: circuit open`,
      });
    }
    await this.#o.verifier.probe?.(new Deadline(this.#o.deadlineMs, this.#closing.signal));
  }

  // A method, not a field: TypeScript would keep a field narrowed across an await.
  #isClosed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * `work`'s outcome, unless close() came while it ran: then CLOSED, whatever stopped it (the
   * abort) or whatever it answered (an upstream or fetch that ignored the abort).
   */
  async #whileOpen<T>(work: Promise<T>): Promise<T> {
    let value: T;
    try {
      value = await work;
    } catch (error) {
      if (this.#isClosed()) throw new AuthBridgeError('CLOSED', undefined, { cause: error });
      throw error;
    }
    if (this.#isClosed()) throw new AuthBridgeError('CLOSED');
    return value;
  }

  /**
   * Stops the backend: checks in flight are aborted (their requests cancelled) and reject with
   * CLOSED, as does every later call; caches are dropped and connection pools released.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#isClosed()) return;
    this.#closing.abort(new AuthBridgeError('CLOSED'));
    this.#cache?.clear();
    this.#flights.forget();
    this.#o.remotePermissions?.close();
    this.#o.verifier.close();
    // The store belongs to the caller, who may share it.
  }

  // Shape checks and the cache key; undefined means "not a credential worth asking about".
  // The cache key, or undefined for "not a credential worth asking about" (shape checks). This
  // is the whole cost of a cache hit besides the lookup, so it allocates nothing.
  #keyOf(credentials: RestCredentials): string | undefined {
    const { token, username, password } = credentials as Partial<
      BearerCredentials & RestPasswordCredentials
    >;
    if (typeof token === 'string') {
      if (token.length > this.#o.maxCredentialLength || !TOKEN_SYNTAX.test(token)) return undefined;
      return tokenHash(token);
    }
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    if (
      username === '' ||
      password === '' ||
      username.length > MAX_USERNAME_LENGTH ||
      password.length > MAX_PASSWORD_LENGTH ||
      // eslint-disable-next-line no-control-regex -- rejecting control characters is the point.
      /[\x00-\x1f\x7f]/.test(username)
    ) {
      return undefined;
    }
    return `p:${createHmac('sha256', this.#passwordKey).update(username).update('\0').update(password).digest('hex')}`;
  }

  async #verify(
    key: string,
    credential: CheckedCredential,
    isCurrent: () => boolean,
  ): Promise<Verdict> {
    this.#stats.upstreamChecks += 1;
    let verdict: Verdict;
    let expiresAt: number | undefined;
    const deadline = new Deadline(this.#o.deadlineMs, this.#closing.signal);
    try {
      const result = await this.#o.verifier.verify(credential, deadline);
      if (!result.ok) {
        this.#o.logger.debug('rest.credential_rejected', {
          backend: this.id,
          reason: result.reason,
          credential: hashPrefix(key),
        });
        verdict = INVALID;
      } else {
        const user = await this.#toUser(result.principal);
        verdict = user === null ? INVALID : { kind: 'valid', user };
        expiresAt = result.principal.expiresAt;
      }
    } catch (error) {
      // A failure caused by close() aborting the check says nothing about the upstream.
      if (isUpstreamFailure(error) && !this.#isClosed()) {
        this.#stats.upstreamFailures += 1;
        this.#o.logger.warn('rest.upstream_failed', {
          backend: this.id,
          code: error.code,
          detail: error.detail,
          credential: hashPrefix(key),
        });
      }
      throw error;
    } finally {
      deadline.dispose();
    }
    const cache = this.#o.cache;
    const entries = this.#cache;
    // Not cached when an invalidation came while the check was running.
    if (cache !== undefined && entries !== undefined && isCurrent()) {
      const now = this.#o.clock.now();
      if (verdict.kind === 'valid') {
        // RFC 7662 §4: never cached beyond the token's exp.
        const until = Math.min(now + cache.ttlMs, expiresAt ?? Number.POSITIVE_INFINITY);
        entries.set(key, verdict, until);
      } else {
        entries.set(key, verdict, now + cache.negativeTtlMs);
      }
    }
    return verdict;
  }

  async #toUser(principal: TokenPrincipal): Promise<RestUser | null> {
    const { store, provisioning } = this.#o;
    const identity = { backendId: this.id, issuer: principal.issuer, subject: principal.subject };
    const profile = {
      username: provisioning.username(principal),
      email: principal.email,
      displayName: principal.displayName,
      groups: principal.groups,
    };
    let stored = await store.getByIdentity(identity);
    if (stored === undefined) {
      // provision is get-or-create in one step, so two first logins at once make one user.
      const result = await store.provision(identity, profile, {
        create: provisioning.create,
        update: 'never',
      });
      stored = result?.user;
    } else if (provisioning.update === 'always' && stored.isActive && changes(stored, profile)) {
      // A patch, not provision's full rewrite: what the token does not know (isActive, isStaff,
      // isSuperuser, local permissions, and groups when the upstream gives none) stays as the
      // local administrator set it.
      stored = await store.update(stored.id, profile);
    }
    // Unknown and not to be created, or deactivated locally: no opinion, as Django's backends.
    if (stored === undefined || !stored.isActive) return null;
    return restUser(stored, {
      issuer: principal.issuer,
      subject: principal.subject,
      clientId: principal.clientId,
      scopes: principal.scopes,
      permissions: this.#tokenPermissions(principal),
      expiresAt: principal.expiresAt,
      attributes: principal.attributes,
    });
  }

  #tokenPermissions(principal: TokenPrincipal): readonly string[] {
    const perms = new Set(principal.permissions);
    for (const scope of principal.scopes) {
      for (const perm of this.#o.scopeMap.get(scope) ?? []) perms.add(perm);
      if (this.#o.scopePrefix !== undefined) perms.add(`${this.#o.scopePrefix}${scope}`);
    }
    return Object.freeze([...perms]);
  }

  // The user as this backend made it, if it is one of ours and may have permissions at all.
  #ours(user: AnyUser<RestUser>): RestUser | undefined {
    if (!isAuthenticatedUser(user) || !user.isActive) return undefined;
    if (user.backendId !== undefined && user.backendId !== this.id) return undefined;
    const candidate = user as Partial<RestUser>;
    if (candidate.issuer !== this.#o.issuer || !Array.isArray(candidate.permissions))
      return undefined;
    return user;
  }
}

const CIRCUIT_SEVERITY: Readonly<Record<CircuitState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
};

// The state that says the most about whether checks can pass: one open circuit fails them all.
function worstCircuit(breakers: readonly CircuitBreaker[]): CircuitState | undefined {
  let worst: CircuitState | undefined;
  for (const { state } of breakers) {
    if (worst === undefined || CIRCUIT_SEVERITY[state] > CIRCUIT_SEVERITY[worst]) worst = state;
  }
  return worst;
}

function restUser(
  stored: StoredUser,
  token: Pick<
    RestUser,
    'issuer' | 'subject' | 'clientId' | 'scopes' | 'permissions' | 'expiresAt' | 'attributes'
  >,
): RestUser {
  return Object.freeze({
    ...userFromStored(stored),
    issuer: token.issuer,
    subject: token.subject,
    clientId: token.clientId,
    scopes: Object.freeze([...token.scopes]),
    permissions: Object.freeze([...token.permissions]),
    expiresAt: token.expiresAt,
    attributes: token.attributes,
  });
}

// Whether `profile` would change `stored`: a login that changes nothing writes nothing.
function changes(
  stored: StoredUser,
  profile: {
    readonly username: string;
    readonly email: string | undefined;
    readonly displayName: string | undefined;
    readonly groups: readonly string[] | undefined;
  },
): boolean {
  return (
    stored.username !== profile.username ||
    (profile.email !== undefined && stored.email !== profile.email) ||
    (profile.displayName !== undefined && stored.displayName !== profile.displayName) ||
    (profile.groups !== undefined &&
      (stored.groups.length !== new Set(profile.groups).size ||
        !profile.groups.every((g) => stored.groups.includes(g))))
  );
}
