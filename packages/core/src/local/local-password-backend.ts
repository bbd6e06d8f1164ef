/**
 * Local username/password accounts: Django's ModelBackend, for break-glass admins and the demo.
 *
 * @packageDocumentation
 */
import type { AuthBackend } from '../backend.js';
import { AuthBridgeError, isAuthBridgeError } from '../errors.js';
import {
  findByTypedUsername,
  type StoredUser,
  userFromStored,
  type UserProfile,
  type UserStore,
} from '../stores/user-store.js';
import type { AnyUser, User } from '../user.js';
import { gatedHasher } from './hash-gate.js';
import {
  DEFAULT_SCRYPT_PARAMS,
  hardeningParams,
  needsRehash,
  type PasswordHasher,
  type ScryptParams,
  scryptHasher,
  validateScryptParams,
} from './password-hasher.js';

/** What {@link LocalPasswordBackend} accepts. */
export interface PasswordCredentials {
  readonly username: string;
  readonly password: string;
}

/** Options for {@link LocalPasswordBackend}. */
export interface LocalPasswordBackendOptions {
  /** Where the accounts live. */
  readonly store: UserStore;
  /** Backend id stored in sessions. Default `local`. */
  readonly id?: string;
  /** scrypt parameters for new hashes. Default {@link DEFAULT_SCRYPT_PARAMS}. */
  readonly scrypt?: ScryptParams;
  /** Group name → permissions granted to its members. */
  readonly groupPermissions?: Readonly<Record<string, readonly string[]>>;
  /** Let inactive users log in (Django's AllowAllUsersModelBackend). Default false. */
  readonly allowInactive?: boolean;
  /** Rehash with current parameters after a successful login. Default true. */
  readonly rehashOnLogin?: boolean;
  /**
   * Does the hashing; default {@link scryptHasher}. Wrap it to observe the work (count or time
   * hashes); hashes must stay in the `scrypt$…` form.
   */
  readonly hasher?: PasswordHasher;
  /**
   * Password hashes (and checks) running at once; more wait their turn. Default 2, half of
   * libuv's default thread pool, which DNS and file I/O share: a flood of junk logins cannot take
   * the other half.
   */
  readonly maxConcurrentHashes?: number;
  /**
   * Hashes waiting for a turn; beyond this a login fails at once with BACKEND_UNAVAILABLE (503)
   * instead of piling up. Default 256.
   */
  readonly maxQueuedHashes?: number;
}

interface ResolvedOptions {
  readonly store: UserStore;
  readonly id: string;
  readonly scrypt: ScryptParams;
  readonly groupPermissions: ReadonlyMap<string, readonly string[]>;
  readonly allowInactive: boolean;
  readonly rehashOnLogin: boolean;
  readonly hasher: PasswordHasher;
}

// Longer passwords are refused before hashing: hashing megabytes on request is a free DoS.
/** The longest password a local login takes (longer ones are refused before any hashing). */
export const MAX_PASSWORD_LENGTH = 4096;
/** The longest username a local login takes. */
export const MAX_USERNAME_LENGTH = 256;

/**
 * Checks usernames and passwords against scrypt hashes in a {@link UserStore}.
 *
 * Unknown users cost the same as known ones: a dummy hash is verified so response time does not
 * reveal who exists. A wrong password for a user whose stored hash is weaker than the current
 * parameters pays the difference too (Django's `harden_runtime`).
 *
 * @example
 * ```ts
 * const local = new LocalPasswordBackend({ store: new MemoryUserStore() });
 * await local.createUser({ username: 'admin', isSuperuser: true, isStaff: true }, 'correct horse');
 * ```
 */
export class LocalPasswordBackend implements AuthBackend<PasswordCredentials> {
  readonly id: string;
  readonly #options: ResolvedOptions;
  readonly #dummies = new Map<string, Promise<string>>();

  /** @throws {AuthBridgeError} CONFIG_INVALID for a missing store or bad parameters. */
  constructor(options: LocalPasswordBackendOptions) {
    this.#options = resolveOptions(options);
    this.id = this.#options.id;
  }

  accepts(credentials: unknown): credentials is PasswordCredentials {
    if (credentials === null || typeof credentials !== 'object') return false;
    const c = credentials as Record<string, unknown>;
    return typeof c['username'] === 'string' && typeof c['password'] === 'string';
  }

  async authenticate(_request: unknown, credentials: PasswordCredentials): Promise<User | null> {
    const { username, password } = credentials;
    // Refused before any I/O; the caller learns nothing it did not already know.
    if (
      username === '' ||
      password === '' ||
      username.length > MAX_USERNAME_LENGTH ||
      password.length > MAX_PASSWORD_LENGTH
    ) {
      return null;
    }
    const { hasher } = this.#options;
    // Stores keep usernames NFKC-normalized; so does Django's login form (UsernameField).
    const stored = await findByTypedUsername(this.#options.store, username);
    if (stored?.passwordHash === undefined) {
      await hasher.verify(password, await this.#dummy(this.#options.scrypt));
      return null;
    }
    if (!(await hasher.verify(password, stored.passwordHash))) {
      // Django's harden_runtime: an unknown user pays a check at the current parameters, so a
      // wrong password for a hash made with weaker ones (or a malformed hash) would answer faster
      // and tell who exists and whose hash is old. It pays the difference, no more (more would
      // answer slower and tell the same).
      const extra = hardeningParams(stored.passwordHash, this.#options.scrypt);
      if (extra !== undefined) await hasher.verify(password, await this.#dummy(extra));
      return null;
    }
    if (!this.#canAuthenticate(stored)) return null;
    if (this.#options.rehashOnLogin && needsRehash(stored.passwordHash, this.#options.scrypt)) {
      return this.#rehash(stored, password);
    }
    return userFromStored(stored);
  }

  async getUser(userId: string): Promise<User | null> {
    const stored = await this.#options.store.getById(userId);
    // As Django's ModelBackend: a user deactivated mid-session is anonymous on the next request.
    return stored && this.#canAuthenticate(stored) ? userFromStored(stored) : null;
  }

  async getAllPermissions(user: AnyUser, obj?: unknown): Promise<ReadonlySet<string>> {
    // No object-level permissions here, and nothing for anonymous or inactive users.
    if (obj !== undefined && obj !== null) return new Set();
    if (!user.isAuthenticated || !user.isActive) return new Set();
    const stored = await this.#options.store.getById(user.id);
    if (!stored) return new Set();
    const perms = new Set(stored.permissions);
    for (const group of stored.groups) {
      for (const perm of this.#options.groupPermissions.get(group) ?? []) perms.add(perm);
    }
    return perms;
  }

  /** Creates a local account with a password. */
  async createUser(profile: UserProfile, password: string): Promise<User> {
    assertPassword(password);
    const passwordHash = await this.#options.hasher.hash(password, this.#options.scrypt);
    return userFromStored(await this.#options.store.create({ ...profile, passwordHash }));
  }

  /** Sets a new password; other sessions of the user end (its session version rotates). */
  async setPassword(userId: string, password: string): Promise<User> {
    assertPassword(password);
    return userFromStored(
      await this.#options.store.setPassword(
        userId,
        await this.#options.hasher.hash(password, this.#options.scrypt),
      ),
    );
  }

  async close(): Promise<void> {
    // The store belongs to the caller, who may share it; nothing of our own to release.
  }

  // Same password, stronger hash: keep the session version so current sessions survive — but write
  // only over the hash just checked, so a password reset made while the scrypt runs took place is
  // never undone, and the login that checked the old password fails.
  async #rehash(stored: StoredUser, password: string): Promise<User | null> {
    const rehashed = await this.#options.hasher.hash(password, this.#options.scrypt);
    let current: StoredUser;
    try {
      current = await this.#options.store.setPassword(stored.id, rehashed, {
        keepSessions: true,
        ifPasswordHash: stored.passwordHash,
      });
    } catch (error) {
      // Deleted since it was read: a failed login, as for an unknown user — not a NOT_FOUND, which
      // a login route would answer with a 404.
      if (isAuthBridgeError(error, 'NOT_FOUND')) return null;
      throw error;
    }
    // Refused: the hash changed since it was checked. Only a rehash of the same password keeps the
    // session version — another login of this user upgrading the hash at the same time — so the
    // password checked here is still the user's. A reset or a change rotates the session version:
    // the password checked here is no longer the user's.
    if (
      current.passwordHash !== rehashed &&
      (current.sessionVersion !== stored.sessionVersion || current.passwordHash === undefined)
    ) {
      return null;
    }
    return this.#canAuthenticate(current) ? userFromStored(current) : null;
  }

  #canAuthenticate(user: StoredUser): boolean {
    return this.#options.allowInactive || user.isActive;
  }

  // A dummy hash per parameters (the current ones, and each hardening step): made once, lazily,
  // with those parameters so the work is the same. A failed attempt (a full hashing queue) is
  // not kept: the next login makes it again.
  #dummy(params: ScryptParams): Promise<string> {
    const key = `${params.logN}$${params.r}$${params.p}`;
    let made = this.#dummies.get(key);
    if (made === undefined) {
      made = this.#options.hasher
        .hash('authbridge-dummy-password', params)
        .catch((error: unknown) => {
          this.#dummies.delete(key);
          throw error;
        });
      this.#dummies.set(key, made);
    }
    return made;
  }
}

function assertPassword(password: string): void {
  if (typeof password !== 'string' || password === '' || password.length > MAX_PASSWORD_LENGTH) {
    throw new AuthBridgeError(
      'INVALID_REQUEST',
      `password must be 1..${MAX_PASSWORD_LENGTH} characters`,
    );
  }
}

function resolveOptions(options: LocalPasswordBackendOptions): ResolvedOptions {
  // Checked at runtime: options often come from parsed configuration, not typed code.
  const raw: unknown = options;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    typeof (raw as { store?: unknown }).store !== 'object'
  ) {
    throw new AuthBridgeError('CONFIG_INVALID', 'LocalPasswordBackend needs a store');
  }
  const id = options.id ?? 'local';
  if (typeof id !== 'string' || id === '')
    throw new AuthBridgeError('CONFIG_INVALID', 'id must be a non-empty string');
  const groupPermissions = new Map<string, readonly string[]>();
  for (const [group, perms] of Object.entries(options.groupPermissions ?? {})) {
    if (!Array.isArray(perms) || !perms.every((p) => typeof p === 'string')) {
      throw new AuthBridgeError(
        'CONFIG_INVALID',
        `groupPermissions.${group} must be a list of strings`,
      );
    }
    groupPermissions.set(group, Object.freeze([...perms]));
  }
  const hasher = options.hasher ?? scryptHasher;
  if (typeof hasher.hash !== 'function' || typeof hasher.verify !== 'function') {
    throw new AuthBridgeError('CONFIG_INVALID', 'hasher needs hash and verify functions');
  }
  const concurrent = options.maxConcurrentHashes ?? 2;
  const queued = options.maxQueuedHashes ?? 256;
  if (!Number.isSafeInteger(concurrent) || concurrent < 1)
    throw new AuthBridgeError('CONFIG_INVALID', 'maxConcurrentHashes must be a positive integer');
  if (!Number.isSafeInteger(queued) || queued < 0)
    throw new AuthBridgeError('CONFIG_INVALID', 'maxQueuedHashes must be an integer of 0 or more');
  return Object.freeze({
    store: options.store,
    id,
    scrypt: validateScryptParams(options.scrypt ?? DEFAULT_SCRYPT_PARAMS),
    groupPermissions,
    allowInactive: options.allowInactive ?? false,
    rehashOnLogin: options.rehashOnLogin ?? true,
    hasher: gatedHasher(hasher, { concurrent, queued }),
  });
}
