/**
 * A {@link UserStore} in an SQLite file: the embedded default.
 *
 * Every write is one `BEGIN IMMEDIATE` transaction, so a crash at any point leaves either the whole
 * user with its identity link, or nothing.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type Clock, systemClock } from '../clock.js';
import { AuthBridgeError } from '../errors.js';
import {
  type ExternalIdentity,
  identityKey,
  type NewUser,
  type NormalizedProfile,
  normalizeProfile,
  patchProfile,
  type ProvisionOptions,
  type ProvisionResult,
  type SetPasswordOptions,
  type StoredUser,
  type UserProfile,
  type UserStore,
} from '../stores/user-store.js';
import { runSqlite } from './map-sqlite-error.js';
import { ReadCache, resolveReadCacheOptions, type SqliteReadCacheOptions } from './read-cache.js';
import { openSqliteDatabase, transaction } from './sqlite-database.js';

/** Options for {@link SqliteUserStore}. */
export interface SqliteUserStoreOptions {
  /** Database file path, or `:memory:`. */
  readonly path: string;
  readonly clock?: Clock;
  /** Id generator; defaults to random UUIDs. */
  readonly generateId?: () => string;
  /**
   * Cache for `getById` and `identitiesOf` (every request with a session loads its user, a
   * directory or token backend checks the user's identity links, and permission checks do both
   * again). Default on; `false` turns it off.
   */
  readonly readCache?: SqliteReadCacheOptions | false;
}

interface UserRow {
  id: string;
  username: string;
  email: string | null;
  display_name: string | null;
  is_active: number;
  is_staff: number;
  is_superuser: number;
  groups_json: string;
  permissions_json: string;
  attributes_json: string;
  password_hash: string | null;
  session_version: string;
  created_at: number;
  updated_at: number;
}

interface IdentityRow {
  backend_id: string;
  issuer: string;
  subject: string;
}

/** Users and identity links in SQLite. */
export class SqliteUserStore implements UserStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #generateId: () => string;
  // Prepared once per SQL text: preparing is most of the cost of a point lookup.
  readonly #statements = new Map<string, StatementSync>();
  readonly #cache: ReadCache<StoredUser> | undefined;
  readonly #identityCache: ReadCache<readonly ExternalIdentity[]> | undefined;
  #closed = false;

  /** @throws {AuthBridgeError} STORE_UNAVAILABLE when the file cannot be opened or migrated. */
  constructor(options: SqliteUserStoreOptions) {
    const cacheOptions = resolveReadCacheOptions(options.readCache);
    this.#db = openSqliteDatabase(options.path);
    this.#clock = options.clock ?? systemClock;
    this.#generateId = options.generateId ?? randomUUID;
    this.#cache = cacheOptions && new ReadCache(this.#db, this.#clock, cacheOptions);
    this.#identityCache = cacheOptions && new ReadCache(this.#db, this.#clock, cacheOptions);
  }

  async getById(id: string): Promise<StoredUser | undefined> {
    return this.#run('getById', () => {
      const cached = this.#cache?.get(id);
      if (cached !== undefined) return cached;
      const user = this.#selectUser('id = ?', id);
      if (user !== undefined) this.#cache?.set(id, user);
      return user;
    });
  }

  async getByUsername(username: string): Promise<StoredUser | undefined> {
    return this.#run('getByUsername', () => this.#selectUser('username = ?', username));
  }

  async getByIdentity(identity: ExternalIdentity): Promise<StoredUser | undefined> {
    identityKey(identity);
    return this.#run('getByIdentity', () => this.#selectByIdentity(identity));
  }

  async identitiesOf(userId: string): Promise<readonly ExternalIdentity[]> {
    return this.#run('identitiesOf', () => {
      const cached = this.#identityCache?.get(userId);
      if (cached !== undefined) return cached;
      const rows = this.#sql(
        'SELECT backend_id, issuer, subject FROM identities WHERE user_id = ? ORDER BY created_at, backend_id',
      ).all(userId) as unknown as IdentityRow[];
      // Frozen: a cached list is handed to every caller.
      const identities = Object.freeze(
        rows.map((r) =>
          Object.freeze({ backendId: r.backend_id, issuer: r.issuer, subject: r.subject }),
        ),
      );
      this.#identityCache?.set(userId, identities);
      return identities;
    });
  }

  async create(user: NewUser): Promise<StoredUser> {
    const profile = normalizeProfile(user);
    return this.#runWrite('create', () =>
      transaction(this.#db, () => this.#insert(profile, user.passwordHash)),
    );
  }

  async provision(
    identity: ExternalIdentity,
    profile: UserProfile,
    options: ProvisionOptions,
  ): Promise<ProvisionResult | null> {
    identityKey(identity);
    const normalized = normalizeProfile(profile);
    return this.#runWrite('provision', () =>
      transaction(this.#db, () => {
        const existing = this.#selectByIdentity(identity);
        if (existing) {
          const user =
            options.update === 'always'
              ? this.#write(existing, patchProfile(existing, profile))
              : existing;
          return { user, created: false };
        }
        if (!options.create) return null;
        // The user row and its link commit together or not at all.
        const user = this.#insert(normalized, undefined);
        this.#insertLink(user.id, identity);
        return { user, created: true };
      }),
    );
  }

  async update(id: string, patch: Partial<UserProfile>): Promise<StoredUser> {
    return this.#runWrite('update', () =>
      transaction(this.#db, () => {
        const user = this.#require(id);
        return this.#write(user, patchProfile(user, patch));
      }),
    );
  }

  async setPassword(
    id: string,
    passwordHash: string | undefined,
    options: SetPasswordOptions = {},
  ): Promise<StoredUser> {
    return this.#runWrite('setPassword', () =>
      transaction(this.#db, () => {
        const user = this.#require(id);
        // Compared inside the write transaction: nobody changes the row between check and write.
        if (options.ifPasswordHash !== undefined && user.passwordHash !== options.ifPasswordHash)
          return user;
        const sessionVersion = options.keepSessions === true ? user.sessionVersion : randomUUID();
        this.#sql(
          'UPDATE users SET password_hash = ?, session_version = ?, updated_at = ? WHERE id = ?',
        ).run(passwordHash ?? null, sessionVersion, this.#clock.now(), id);
        return this.#require(id);
      }),
    );
  }

  async link(userId: string, identity: ExternalIdentity): Promise<void> {
    identityKey(identity);
    this.#runWrite('link', () => {
      transaction(this.#db, () => {
        this.#require(userId);
        const owner = this.#sql(
          'SELECT user_id FROM identities WHERE backend_id = ? AND issuer = ? AND subject = ?',
        ).get(identity.backendId, identity.issuer, identity.subject) as
          { user_id: string } | undefined;
        if (owner?.user_id === userId) return;
        if (owner) {
          throw new AuthBridgeError('IDENTITY_CONFLICT', undefined, {
            detail: 'identity is linked to another user',
          });
        }
        this.#insertLink(userId, identity);
      });
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.#runWrite(
      'delete',
      () => Number(this.#sql('DELETE FROM users WHERE id = ?').run(id).changes) === 1,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #sql(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #selectUser(where: string, value: string): StoredUser | undefined {
    const row = this.#sql(`SELECT * FROM users WHERE ${where}`).get(value) as UserRow | undefined;
    return row && rowToUser(row);
  }

  #selectByIdentity(identity: ExternalIdentity): StoredUser | undefined {
    const row = this.#sql(
      'SELECT u.* FROM users u JOIN identities i ON i.user_id = u.id WHERE i.backend_id = ? AND i.issuer = ? AND i.subject = ?',
    ).get(identity.backendId, identity.issuer, identity.subject) as UserRow | undefined;
    return row && rowToUser(row);
  }

  #insert(profile: NormalizedProfile, passwordHash: string | undefined): StoredUser {
    const now = this.#clock.now();
    const id = this.#generateId();
    this.#sql(
      `INSERT INTO users (id, username, email, display_name, is_active, is_staff, is_superuser, groups_json,
           permissions_json, attributes_json, password_hash, session_version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(id, ...profileColumns(profile), passwordHash ?? null, randomUUID(), now, now);
    return this.#require(id);
  }

  #write(user: StoredUser, profile: NormalizedProfile): StoredUser {
    this.#sql(
      `UPDATE users SET username = ?, email = ?, display_name = ?, is_active = ?, is_staff = ?, is_superuser = ?,
           groups_json = ?, permissions_json = ?, attributes_json = ?, updated_at = ? WHERE id = ?`,
    ).run(...profileColumns(profile), this.#clock.now(), user.id);
    return this.#require(user.id);
  }

  #insertLink(userId: string, identity: ExternalIdentity): void {
    this.#sql(
      'INSERT INTO identities (backend_id, issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(identity.backendId, identity.issuer, identity.subject, userId, this.#clock.now());
  }

  #require(id: string): StoredUser {
    const user = this.#selectUser('id = ?', id);
    if (!user) throw new AuthBridgeError('NOT_FOUND', undefined, { detail: `no user ${id}` });
    return user;
  }

  #run<T>(operation: string, work: () => T): T {
    return runSqlite(this.#closed, operation, work);
  }

  // Every write that can change a users row or an identity link: the caches cannot tell which ids
  // a write touched (provision may update a user found by identity), so they forget everything.
  #runWrite<T>(operation: string, work: () => T): T {
    try {
      return this.#run(operation, work);
    } finally {
      this.#cache?.clear();
      this.#identityCache?.clear();
    }
  }
}

function profileColumns(
  p: NormalizedProfile,
): [string, string | null, string | null, number, number, number, string, string, string] {
  return [
    p.username,
    p.email ?? null,
    p.displayName ?? null,
    p.isActive ? 1 : 0,
    p.isStaff ? 1 : 0,
    p.isSuperuser ? 1 : 0,
    JSON.stringify(p.groups),
    JSON.stringify(p.permissions),
    JSON.stringify(p.attributes),
  ];
}

function rowToUser(row: UserRow): StoredUser {
  return Object.freeze({
    id: row.id,
    username: row.username,
    email: row.email ?? undefined,
    displayName: row.display_name ?? undefined,
    isActive: row.is_active === 1,
    isStaff: row.is_staff === 1,
    isSuperuser: row.is_superuser === 1,
    groups: Object.freeze(JSON.parse(row.groups_json) as string[]),
    permissions: Object.freeze(JSON.parse(row.permissions_json) as string[]),
    attributes: Object.freeze(JSON.parse(row.attributes_json) as Record<string, unknown>),
    passwordHash: row.password_hash ?? undefined,
    sessionVersion: row.session_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}
