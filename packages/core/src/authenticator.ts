/**
 * The backend chain: Django's `authenticate`, `get_user` and permission helpers over an ordered
 * list of backends.
 *
 * @packageDocumentation
 */
import type { AnyAuthBackend } from './backend.js';
import { cleanCredentials } from './clean-credentials.js';
import { AuthBridgeError, type AuthBridgeErrorCode, PermissionDenied } from './errors.js';
import { TypedEmitter } from './events.js';
import { ANONYMOUS_USER, type AnonymousUser, type AnyUser, type User } from './user.js';

/** Payloads of the chain's events. */
export interface AuthEvents<TUser extends User = User, TRequest = unknown> {
  /** A session layer logged `user` in (the session holds the login; it is saved with the response). */
  loggedIn: { readonly request: TRequest | undefined; readonly user: TUser };
  /** A session layer is logging out; fired before the session is destroyed. */
  loggedOut: { readonly request: TRequest | undefined; readonly user: TUser | null };
  /**
   * No backend returned a user, one vetoed, or one refused the credentials with a client error (a
   * forged or replayed SAML response: `authenticate` still rejects with it). Secrets in
   * `credentials` are masked. For logs and metrics, never for the client.
   */
  loginFailed: {
    readonly request: TRequest | undefined;
    readonly credentials: Readonly<Record<string, unknown>>;
    /** The backend that raised PermissionDenied, when one did. */
    readonly deniedBy?: string | undefined;
    /** The backend that refused the credentials with an error, when one did. */
    readonly failedBy?: string | undefined;
    /** That error's code (`PROTOCOL_INVALID`, `REPLAY_DETECTED`...). */
    readonly code?: AuthBridgeErrorCode | undefined;
  };
}

/** Options for {@link Authenticator}. */
export interface AuthenticatorOptions<TUser extends User = User, TRequest = unknown> {
  /** The chain, in the order it is asked. Ids must be unique. */
  readonly backends: readonly AnyAuthBackend<TUser, TRequest>[];
}

/** A user as the chain returns it: tagged with the id of the backend that authenticated it. */
export type TaggedUser<TUser extends User> = TUser & { readonly backendId: string };

/**
 * An ordered chain of backends.
 *
 * @example
 * ```ts
 * const auth = new Authenticator({ backends: [ldap, local] });
 * const user = await auth.authenticate(ctx, { username, password }); // null when nobody matched
 * ```
 */
export class Authenticator<TUser extends User = User, TRequest = unknown> {
  /** `loggedIn`, `loggedOut`, `loginFailed`. */
  readonly events = new TypedEmitter<AuthEvents<TUser, TRequest>>();
  readonly #backends: readonly AnyAuthBackend<TUser, TRequest>[];
  readonly #byId: ReadonlyMap<string, AnyAuthBackend<TUser, TRequest>>;
  #closing: Promise<void> | undefined;

  /** @throws {AuthBridgeError} CONFIG_INVALID when there are no backends or two share an id. */
  constructor(options: AuthenticatorOptions<TUser, TRequest>) {
    const backends = [...options.backends];
    if (backends.length === 0) {
      throw new AuthBridgeError('CONFIG_INVALID', 'No authentication backends have been defined');
    }
    const byId = new Map<string, AnyAuthBackend<TUser, TRequest>>();
    for (const backend of backends) {
      if (typeof backend.id !== 'string' || backend.id === '') {
        throw new AuthBridgeError('CONFIG_INVALID', 'Every backend needs a non-empty id');
      }
      if (byId.has(backend.id)) {
        throw new AuthBridgeError('CONFIG_INVALID', `Duplicate backend id "${backend.id}"`);
      }
      byId.set(backend.id, backend);
    }
    this.#backends = Object.freeze(backends);
    this.#byId = byId;
  }

  /** The backends, in chain order. */
  get backends(): readonly AnyAuthBackend<TUser, TRequest>[] {
    return this.#backends;
  }

  /** The backend with this id, if configured. */
  backend(id: string): AnyAuthBackend<TUser, TRequest> | undefined {
    return this.#byId.get(id);
  }

  /**
   * Asks each backend that accepts `credentials`, in order. Returns the first user (tagged with
   * the backend id), or null when every backend had no opinion or one raised PermissionDenied;
   * both fire `loginFailed`. Any other error propagates; one that refuses the credentials (a 4xx
   * AuthBridgeError) fires `loginFailed` first, an outage (5xx) does not.
   */
  async authenticate(
    request: TRequest | undefined,
    credentials: unknown,
  ): Promise<TaggedUser<TUser> | null> {
    this.#assertOpen();
    let deniedBy: string | undefined;
    for (const backend of this.#backends) {
      if (!backend.accepts(credentials)) continue;
      // `undefined` too: the type says null, but a JavaScript backend's bare `return` gives that.
      let user: TUser | null | undefined;
      try {
        user = await backend.authenticate(request, credentials);
      } catch (error) {
        if (error instanceof PermissionDenied) {
          deniedBy = backend.id;
          break;
        }
        // Refused credentials are a failed login for the audit trail, whether a backend says so
        // with null or, to keep the reason, with an error (SAML). Nobody's credentials were judged
        // when a directory or store was down: that is an outage, not a failed login.
        if (error instanceof AuthBridgeError && error.status < 500)
          await this.events.emit('loginFailed', {
            request,
            credentials: cleanCredentials(credentials),
            failedBy: backend.id,
            code: error.code,
          });
        throw error;
      }
      // Django's `is None`: a JavaScript backend's bare `return` (undefined) is no opinion either,
      // never a user made of nothing but a backend id.
      if (user == null) continue;
      // A new frozen record rather than a mutation: backends may cache and share user objects.
      return Object.freeze({ ...user, backendId: backend.id });
    }
    await this.events.emit('loginFailed', {
      request,
      credentials: cleanCredentials(credentials),
      deniedBy,
    });
    return null;
  }

  /**
   * Reloads a user through the backend that authenticated it. A backend no longer configured, or
   * a backend that returns null (deleted, deactivated), gives the anonymous user.
   */
  async getUser(userId: string, backendId: string): Promise<TaggedUser<TUser> | AnonymousUser> {
    this.#assertOpen();
    const backend = this.#byId.get(backendId);
    if (!backend) return ANONYMOUS_USER;
    const user: TUser | null | undefined = await backend.getUser(userId);
    if (user == null) return ANONYMOUS_USER;
    return Object.freeze({ ...user, backendId: backend.id });
  }

  /**
   * Whether `user` has `perm` (on `obj`): an active superuser has every permission; an inactive
   * user has none; otherwise backends are ORed, and PermissionDenied from one means false at once.
   */
  async hasPerm(user: AnyUser<TUser>, perm: string, obj?: unknown): Promise<boolean> {
    this.#assertOpen();
    if (typeof perm !== 'string') throw new TypeError('perm must be a string');
    const shortcut = activeShortcut(user);
    if (shortcut !== undefined) return shortcut;
    return this.#anyBackend(async (backend) => {
      if (backend.hasPerm) return backend.hasPerm(user, perm, obj);
      if (backend.getAllPermissions) return (await backend.getAllPermissions(user, obj)).has(perm);
      return false;
    });
  }

  /**
   * Whether `user` has every permission in `perms` (true for an empty list).
   *
   * @throws {TypeError} when `perms` is a bare string or not iterable: `hasPerms(u, 'a.b')` would
   * otherwise check the characters one by one.
   */
  async hasPerms(user: AnyUser<TUser>, perms: Iterable<string>, obj?: unknown): Promise<boolean> {
    // Checked at runtime too: JavaScript callers pass strings, and a string is iterable.
    const value: unknown = perms;
    if (
      typeof value === 'string' ||
      value === null ||
      typeof value !== 'object' ||
      !(Symbol.iterator in value)
    ) {
      throw new TypeError('perms must be an iterable of permissions, not a string');
    }
    for (const perm of perms) {
      if (!(await this.hasPerm(user, perm, obj))) return false;
    }
    return true;
  }

  /** Whether `user` has any permission in the app `label` (Django's `has_module_perms`). */
  async hasModulePerms(user: AnyUser<TUser>, label: string): Promise<boolean> {
    this.#assertOpen();
    if (typeof label !== 'string') throw new TypeError('label must be a string');
    const shortcut = activeShortcut(user);
    if (shortcut !== undefined) return shortcut;
    return this.#anyBackend(async (backend) => {
      if (backend.hasModulePerms) return backend.hasModulePerms(user, label);
      if (!backend.getAllPermissions) return false;
      const prefix = `${label}.`;
      for (const perm of await backend.getAllPermissions(user)) {
        if (perm.startsWith(prefix)) return true;
      }
      return false;
    });
  }

  /**
   * The union of every backend's permissions for `user` (on `obj`). Empty for an inactive user,
   * and empty when a backend raises PermissionDenied (a veto leaves nothing to list). An active
   * superuser passes every `hasPerm` check whatever this lists.
   */
  async getAllPermissions(user: AnyUser<TUser>, obj?: unknown): Promise<ReadonlySet<string>> {
    this.#assertOpen();
    if (user.isAuthenticated && !user.isActive) return new Set();
    const all = new Set<string>();
    for (const backend of this.#backends) {
      if (!backend.getAllPermissions) continue;
      try {
        for (const perm of await backend.getAllPermissions(user, obj)) all.add(perm);
      } catch (error) {
        if (error instanceof PermissionDenied) return new Set();
        throw error;
      }
    }
    return all;
  }

  /** Fires `loggedIn`. Session layers call it once the session holds the login. */
  async loggedIn(request: TRequest | undefined, user: TUser): Promise<void> {
    await this.events.emit('loggedIn', { request, user });
  }

  /** Fires `loggedOut`. Session layers call it before they destroy the session. */
  async loggedOut(request: TRequest | undefined, user: TUser | null): Promise<void> {
    await this.events.emit('loggedOut', { request, user });
  }

  /** Closes every backend once; later calls return the same promise. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled(this.#backends.map((b) => b.close())).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    return this.#closing;
  }

  // ORs a check over the backends in order; PermissionDenied from any backend is a veto.
  async #anyBackend(
    check: (backend: AnyAuthBackend<TUser, TRequest>) => Promise<boolean>,
  ): Promise<boolean> {
    for (const backend of this.#backends) {
      try {
        if (await check(backend)) return true;
      } catch (error) {
        if (error instanceof PermissionDenied) return false;
        throw error;
      }
    }
    return false;
  }

  #assertOpen(): void {
    if (this.#closing) throw new AuthBridgeError('CLOSED', 'Authenticator is closed');
  }
}

// An active superuser has everything and an inactive user nothing, before any backend is asked.
// The anonymous user is neither: its questions still go to the backends, as in Django.
function activeShortcut(user: AnyUser): boolean | undefined {
  if (!user.isAuthenticated) return undefined;
  if (!user.isActive) return false;
  if (user.isSuperuser) return true;
  return undefined;
}
