/**
 * An in-process {@link UserStore} for tests and the demo.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
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
} from './user-store.js';

/** Options for {@link MemoryUserStore}. */
export interface MemoryUserStoreOptions {
  readonly clock?: Clock;
  /** Id generator; defaults to random UUIDs. */
  readonly generateId?: () => string;
}

/**
 * Users in Maps. Each method checks every constraint before it changes anything, and runs without
 * an `await` in between, so a failed write leaves nothing behind.
 */
export class MemoryUserStore implements UserStore {
  readonly #users = new Map<string, StoredUser>();
  readonly #byUsername = new Map<string, string>();
  readonly #byIdentity = new Map<string, { userId: string; identity: ExternalIdentity }>();
  readonly #clock: Clock;
  readonly #generateId: () => string;
  #closed = false;

  constructor(options: MemoryUserStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#generateId = options.generateId ?? randomUUID;
  }

  async getById(id: string): Promise<StoredUser | undefined> {
    this.#assertOpen();
    return this.#users.get(id);
  }

  async getByUsername(username: string): Promise<StoredUser | undefined> {
    this.#assertOpen();
    const id = this.#byUsername.get(username);
    return id === undefined ? undefined : this.#users.get(id);
  }

  async getByIdentity(identity: ExternalIdentity): Promise<StoredUser | undefined> {
    this.#assertOpen();
    const link = this.#byIdentity.get(identityKey(identity));
    return link && this.#users.get(link.userId);
  }

  async identitiesOf(userId: string): Promise<readonly ExternalIdentity[]> {
    this.#assertOpen();
    return [...this.#byIdentity.values()].filter((l) => l.userId === userId).map((l) => l.identity);
  }

  async create(user: NewUser): Promise<StoredUser> {
    this.#assertOpen();
    return this.#insert(normalizeProfile(user), user.passwordHash);
  }

  async provision(
    identity: ExternalIdentity,
    profile: UserProfile,
    options: ProvisionOptions,
  ): Promise<ProvisionResult | null> {
    this.#assertOpen();
    const key = identityKey(identity);
    const normalized = normalizeProfile(profile);
    const link = this.#byIdentity.get(key);
    const existing = link && this.#users.get(link.userId);
    if (existing) {
      const user =
        options.update === 'always'
          ? this.#replace(existing, patchProfile(existing, profile))
          : existing;
      return { user, created: false };
    }
    if (!options.create) return null;
    const user = this.#insert(normalized, undefined);
    this.#byIdentity.set(key, { userId: user.id, identity: freezeIdentity(identity) });
    return { user, created: true };
  }

  async update(id: string, patch: Partial<UserProfile>): Promise<StoredUser> {
    this.#assertOpen();
    const user = this.#require(id);
    return this.#replace(user, patchProfile(user, patch));
  }

  async setPassword(
    id: string,
    passwordHash: string | undefined,
    options: SetPasswordOptions = {},
  ): Promise<StoredUser> {
    this.#assertOpen();
    const user = this.#require(id);
    if (options.ifPasswordHash !== undefined && user.passwordHash !== options.ifPasswordHash)
      return user;
    const next: StoredUser = Object.freeze({
      ...user,
      passwordHash,
      sessionVersion: options.keepSessions === true ? user.sessionVersion : randomUUID(),
      updatedAt: this.#clock.now(),
    });
    this.#users.set(id, next);
    return next;
  }

  async link(userId: string, identity: ExternalIdentity): Promise<void> {
    this.#assertOpen();
    this.#require(userId);
    const key = identityKey(identity);
    const current = this.#byIdentity.get(key);
    if (current && current.userId !== userId) {
      throw new AuthBridgeError('IDENTITY_CONFLICT', undefined, {
        detail: 'identity is linked to another user',
      });
    }
    this.#byIdentity.set(key, { userId, identity: freezeIdentity(identity) });
  }

  async delete(id: string): Promise<boolean> {
    this.#assertOpen();
    const user = this.#users.get(id);
    if (!user) return false;
    this.#users.delete(id);
    this.#byUsername.delete(user.username);
    for (const [key, link] of this.#byIdentity)
      if (link.userId === id) this.#byIdentity.delete(key);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #insert(profile: NormalizedProfile, passwordHash: string | undefined): StoredUser {
    if (this.#byUsername.has(profile.username)) {
      throw new AuthBridgeError('IDENTITY_CONFLICT', undefined, {
        detail: `username "${profile.username}" is taken`,
      });
    }
    const now = this.#clock.now();
    const user = freezeUser({
      id: this.#generateId(),
      ...profile,
      passwordHash,
      sessionVersion: randomUUID(),
      createdAt: now,
      updatedAt: now,
    });
    this.#users.set(user.id, user);
    this.#byUsername.set(user.username, user.id);
    return user;
  }

  #replace(user: StoredUser, profile: NormalizedProfile): StoredUser {
    const owner = this.#byUsername.get(profile.username);
    if (owner !== undefined && owner !== user.id) {
      throw new AuthBridgeError('IDENTITY_CONFLICT', undefined, {
        detail: `username "${profile.username}" is taken`,
      });
    }
    const next = freezeUser({ ...user, ...profile, updatedAt: this.#clock.now() });
    this.#byUsername.delete(user.username);
    this.#byUsername.set(next.username, next.id);
    this.#users.set(next.id, next);
    return next;
  }

  #require(id: string): StoredUser {
    const user = this.#users.get(id);
    if (!user) throw new AuthBridgeError('NOT_FOUND', undefined, { detail: `no user ${id}` });
    return user;
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuthBridgeError('CLOSED', 'Store is closed');
  }
}

function freezeUser(user: StoredUser): StoredUser {
  return Object.freeze({
    ...user,
    groups: Object.freeze([...user.groups]),
    permissions: Object.freeze([...user.permissions]),
    attributes: Object.freeze({ ...user.attributes }),
  });
}

function freezeIdentity(identity: ExternalIdentity): ExternalIdentity {
  return Object.freeze({
    backendId: identity.backendId,
    issuer: identity.issuer,
    subject: identity.subject,
  });
}
