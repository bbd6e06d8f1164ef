/**
 * Users as plain, frozen records: a backend returns one, the chain tags it with the backend's id.
 *
 * @packageDocumentation
 */

/** A logged-in user, as a backend returns it. Backends may extend it with their own fields. */
export interface User {
  /** Local, stable id: what a session stores and `getUser` takes. */
  readonly id: string;
  readonly username: string;
  readonly isAuthenticated: true;
  readonly isAnonymous: false;
  readonly isActive: boolean;
  readonly isStaff: boolean;
  readonly isSuperuser: boolean;
  readonly email?: string | undefined;
  readonly displayName?: string | undefined;
  /** Group names, as the backend understands them (informational; permissions come from backends). */
  readonly groups: readonly string[];
  /**
   * Changes whenever the user's credentials change (Django's password-hash input to the session
   * hash). Session layers HMAC it so a password change ends other sessions. Absent: no check.
   */
  readonly sessionVersion?: string | undefined;
  /** Set by {@link Authenticator} to the id of the backend that authenticated the user. */
  readonly backendId?: string | undefined;
}

/** The fields {@link createUser} needs; the rest default to the safe value. */
export interface UserInit {
  readonly id: string;
  readonly username: string;
  readonly isActive?: boolean;
  readonly isStaff?: boolean;
  readonly isSuperuser?: boolean;
  readonly email?: string | undefined;
  readonly displayName?: string | undefined;
  readonly groups?: readonly string[];
  readonly sessionVersion?: string | undefined;
  readonly backendId?: string | undefined;
}

/**
 * Builds a frozen {@link User}. Defaults: active, not staff, not superuser, no groups.
 *
 * @throws {TypeError} when `id` or `username` is empty.
 */
export function createUser(init: UserInit): User {
  if (typeof init.id !== 'string' || init.id === '')
    throw new TypeError('user id must be a non-empty string');
  if (typeof init.username !== 'string' || init.username === '') {
    throw new TypeError('username must be a non-empty string');
  }
  return Object.freeze({
    id: init.id,
    username: init.username,
    isAuthenticated: true,
    isAnonymous: false,
    isActive: init.isActive ?? true,
    isStaff: init.isStaff ?? false,
    isSuperuser: init.isSuperuser ?? false,
    email: init.email,
    displayName: init.displayName,
    groups: Object.freeze([...(init.groups ?? [])]),
    sessionVersion: init.sessionVersion,
    backendId: init.backendId,
  });
}

/**
 * Nobody is logged in. Like Django's, permission questions about it still go to the backends, so
 * a backend may grant anonymous users something.
 */
export class AnonymousUser {
  readonly id = null;
  readonly username = '';
  readonly isAuthenticated = false;
  readonly isAnonymous = true;
  readonly isActive = false;
  readonly isStaff = false;
  readonly isSuperuser = false;
  readonly groups: readonly string[] = Object.freeze([]);
  readonly backendId = undefined;

  constructor() {
    Object.freeze(this);
  }
}

/** Either a logged-in user or the anonymous user. */
export type AnyUser<TUser extends User = User> = TUser | AnonymousUser;

/** The one shared anonymous user (it is immutable, so one instance is enough). */
export const ANONYMOUS_USER: AnonymousUser = new AnonymousUser();

/** Narrows to a logged-in user. */
export function isAuthenticatedUser<TUser extends User>(user: AnyUser<TUser>): user is TUser {
  return user.isAuthenticated;
}
