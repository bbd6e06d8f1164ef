/**
 * Local users linked to external identities.
 *
 * A person who logs in through LDAP, SAML or a token service becomes a local user once, linked by
 * (backend id, issuer, subject). Links are made on first login or by an explicit `link` call,
 * never by matching e-mail addresses or usernames: that is how accounts get taken over.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '../errors.js';
import { createUser, type User } from '../user.js';

/** Who an external system says a person is. */
export interface ExternalIdentity {
  /** The authbridge backend id (e.g. `ldap`, `saml`). */
  readonly backendId: string;
  /** Who vouches: an LDAP backend's `issuer` (default `ldap`), a SAML IdP entityID, a token issuer. */
  readonly issuer: string;
  /** The stable subject at that issuer (entryUUID, NameID, `sub`). */
  readonly subject: string;
}

/** The profile fields a store keeps for a user. */
export interface UserProfile {
  readonly username: string;
  readonly email?: string | undefined;
  readonly displayName?: string | undefined;
  readonly isActive?: boolean | undefined;
  readonly isStaff?: boolean | undefined;
  readonly isSuperuser?: boolean | undefined;
  readonly groups?: readonly string[] | undefined;
  /** Permissions granted to this user directly (`app_label.codename`). */
  readonly permissions?: readonly string[] | undefined;
  /** Any other JSON-serialisable attributes. */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined;
}

/** A stored user: a full profile plus what the store itself keeps. */
export interface StoredUser extends NormalizedProfile {
  readonly id: string;
  /** A local password hash (see `hashPassword`), for break-glass accounts; usually absent. */
  readonly passwordHash: string | undefined;
  /** Rotated whenever the password changes: session layers use it to end other sessions. */
  readonly sessionVersion: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** When an existing linked user's profile is rewritten from what the identity source says. */
export type UpdatePolicy = 'always' | 'never';

/** Options for {@link UserStore.provision}. */
export interface ProvisionOptions {
  /** Create a user for an identity seen for the first time (false: Django-auth-ldap's `noNewUsers`). */
  readonly create: boolean;
  /**
   * Update a known user on every login (`always`) with the fields the identity source sent — a
   * field left undefined (say `isActive`, when the source has no opinion) keeps its stored value,
   * so a user deactivated locally stays inactive — or keep the stored profile (`never`).
   */
  readonly update: UpdatePolicy;
}

/** What {@link UserStore.provision} did. */
export interface ProvisionResult {
  readonly user: StoredUser;
  readonly created: boolean;
}

/** Options for {@link UserStore.setPassword}. */
export interface SetPasswordOptions {
  /**
   * Keep `sessionVersion` (the password itself did not change). Default false. Only for a new hash
   * of the same password: a login whose own rehash was refused trusts an unchanged session
   * version to mean the password it checked is still the user's.
   */
  readonly keepSessions?: boolean;
  /**
   * Write only if the stored hash is still this one, atomically; otherwise write nothing and
   * return the user as it stands. A rehash at login must not undo a change made meanwhile.
   */
  readonly ifPasswordHash?: string;
}

/** New local user: a profile plus, optionally, a password hash. */
export interface NewUser extends UserProfile {
  readonly passwordHash?: string | undefined;
}

/**
 * Where local users live. Usernames are unique; an identity links to exactly one user.
 * Conflicts reject with IDENTITY_CONFLICT, a missing user with NOT_FOUND, an outage with
 * STORE_UNAVAILABLE. Every write is all-or-nothing.
 */
export interface UserStore {
  getById(id: string): Promise<StoredUser | undefined>;
  /**
   * The user with exactly this username. Stored usernames are NFKC-normalized
   * ({@link normalizeUsername}): normalize what a person typed before looking it up.
   */
  getByUsername(username: string): Promise<StoredUser | undefined>;
  getByIdentity(identity: ExternalIdentity): Promise<StoredUser | undefined>;
  /** The identities linked to a user. */
  identitiesOf(userId: string): Promise<readonly ExternalIdentity[]>;
  /** Creates a local user with no identity (break-glass admin, demo users). */
  create(user: NewUser): Promise<StoredUser>;
  /**
   * Get-or-create by identity, in one transaction: the user and its link are written together or
   * not at all. Returns null when the identity is unknown and `create` is false.
   */
  provision(
    identity: ExternalIdentity,
    profile: UserProfile,
    options: ProvisionOptions,
  ): Promise<ProvisionResult | null>;
  /** Changes profile fields. */
  update(id: string, patch: Partial<UserProfile>): Promise<StoredUser>;
  /**
   * Sets (or clears) the password hash and rotates `sessionVersion`, which ends the user's other
   * sessions; `keepSessions` skips the rotation (a rehash of the same password).
   */
  setPassword(
    id: string,
    passwordHash: string | undefined,
    options?: SetPasswordOptions,
  ): Promise<StoredUser>;
  /** Links an identity to an existing user: an explicit, administrative act. */
  link(userId: string, identity: ExternalIdentity): Promise<void>;
  /** Deletes a user and its links; true when it existed. */
  delete(id: string): Promise<boolean>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

/** A profile with every field present, as both stores write it. */
export interface NormalizedProfile {
  readonly username: string;
  readonly email: string | undefined;
  readonly displayName: string | undefined;
  readonly isActive: boolean;
  readonly isStaff: boolean;
  readonly isSuperuser: boolean;
  readonly groups: readonly string[];
  readonly permissions: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

/**
 * A username as stores keep it: NFKC-normalized, as Django's `AbstractBaseUser.normalize_username`.
 * Otherwise `admin` and a fullwidth `ａｄｍｉｎ` (or a name typed with combining accents and the same
 * name precomposed) are two users that look alike. Apply it to a typed username before
 * {@link UserStore.getByUsername}; a directory or token service is still sent what was typed.
 */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC');
}

/**
 * The user a person means by the username they typed: the one stored under its NFKC form, or —
 * when there is none and the typed name is not in that form — one stored under the name exactly
 * as typed. Stores kept names as given before they normalized them; such a user can still log in
 * (and is normalized when renamed).
 */
export async function findByTypedUsername(
  store: Pick<UserStore, 'getByUsername'>,
  typed: string,
): Promise<StoredUser | undefined> {
  const normalized = normalizeUsername(typed);
  const found = await store.getByUsername(normalized);
  if (found !== undefined || normalized === typed) return found;
  return store.getByUsername(typed);
}

/**
 * Validates and fills a profile, shared by every store so they agree on defaults. The username is
 * normalized with {@link normalizeUsername}.
 *
 * @throws {AuthBridgeError} INVALID_REQUEST for an empty username or a non-JSON attribute value.
 */
export function normalizeProfile(profile: UserProfile): NormalizedProfile {
  const username =
    typeof profile.username === 'string' ? normalizeUsername(profile.username) : undefined;
  if (username === undefined || username.trim() === '') {
    throw new AuthBridgeError('INVALID_REQUEST', 'username must be a non-empty string');
  }
  const attributes = profile.attributes ?? {};
  let copy: Record<string, unknown>;
  try {
    // A JSON round trip both checks serialisability and drops prototypes (no `__proto__` games).
    copy = JSON.parse(JSON.stringify(attributes)) as Record<string, unknown>;
  } catch (cause) {
    throw new AuthBridgeError('INVALID_REQUEST', 'attributes must be JSON-serialisable', { cause });
  }
  return {
    username,
    email: profile.email ?? undefined,
    displayName: profile.displayName ?? undefined,
    isActive: profile.isActive ?? true,
    isStaff: profile.isStaff ?? false,
    isSuperuser: profile.isSuperuser ?? false,
    groups: [...new Set(profile.groups ?? [])],
    permissions: [...new Set(profile.permissions ?? [])],
    attributes: copy,
  };
}

/**
 * Applies a partial patch on top of a stored user's profile. A username in the patch is normalized;
 * without one, the stored username is kept as it is.
 */
export function patchProfile(user: StoredUser, patch: Partial<UserProfile>): NormalizedProfile {
  const defined = Object.fromEntries(
    Object.entries(patch as Record<string, unknown>).filter(([, v]) => v !== undefined),
  );
  const next = normalizeProfile({ ...user, ...defined });
  // A user stored before usernames were normalized keeps its name until it is renamed: normalizing
  // it on any update would make deactivating a lookalike of `admin` clash with `admin` itself.
  return defined['username'] === undefined ? { ...next, username: user.username } : next;
}

/** The key two identities share exactly when they are the same identity. */
export function identityKey(identity: ExternalIdentity): string {
  for (const part of [identity.backendId, identity.issuer, identity.subject]) {
    if (typeof part !== 'string' || part === '') {
      throw new AuthBridgeError('INVALID_REQUEST', 'identity needs backendId, issuer and subject');
    }
  }
  return JSON.stringify([identity.backendId, identity.issuer, identity.subject]);
}

/**
 * The {@link User} a backend returns for a stored user: every backend that provisions into a
 * {@link UserStore} answers `authenticate` and `getUser` with this.
 */
export function userFromStored(stored: StoredUser): User {
  return createUser({
    id: stored.id,
    username: stored.username,
    isActive: stored.isActive,
    isStaff: stored.isStaff,
    isSuperuser: stored.isSuperuser,
    email: stored.email,
    displayName: stored.displayName,
    groups: stored.groups,
    sessionVersion: stored.sessionVersion,
  });
}
