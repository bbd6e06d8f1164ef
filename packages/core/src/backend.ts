/**
 * The contract every authentication backend implements: Django's backend protocol, typed.
 *
 * @packageDocumentation
 */
import type { AnyUser, User } from './user.js';

/**
 * An authentication backend.
 *
 * Three outcomes of {@link AuthBackend.authenticate}, as in Django:
 * - a user: success, the chain stops;
 * - `null`: no opinion (unknown user, wrong password), the chain asks the next backend;
 * - `throw new PermissionDenied()`: veto, the chain stops and no later backend is asked.
 * Any other error propagates to the caller (an unreachable directory is not a wrong password).
 *
 * @typeParam TCredentials - what this backend accepts (checked at runtime by `accepts`).
 * @typeParam TUser - the user record it returns.
 * @typeParam TRequest - the request type it is given (e.g. a Koa context), opaque to core.
 */
export interface AuthBackend<
  TCredentials = unknown,
  TUser extends User = User,
  TRequest = unknown,
> {
  /** Stable id, stored in sessions to route `getUser` back to this backend. */
  readonly id: string;
  /**
   * Whether this backend handles these credentials. The replacement for Django's signature binding:
   * the chain asks a backend only about credentials it accepts. Must not do I/O.
   */
  accepts(credentials: unknown): credentials is TCredentials;
  /** Checks the credentials. `request` is undefined outside an HTTP request. */
  authenticate(request: TRequest | undefined, credentials: TCredentials): Promise<TUser | null>;
  /** Reloads a user this backend authenticated earlier; null when gone or no longer allowed. */
  getUser(userId: string): Promise<TUser | null>;
  /** Whether `user` has `perm` (on `obj`). Absent: answered from `getAllPermissions`. */
  hasPerm?(user: AnyUser<TUser>, perm: string, obj?: unknown): Promise<boolean>;
  /** Whether `user` has any permission in the app `label`. Absent: derived from `getAllPermissions`. */
  hasModulePerms?(user: AnyUser<TUser>, label: string): Promise<boolean>;
  /** Every permission `user` has (on `obj`). Absent: none. */
  getAllPermissions?(user: AnyUser<TUser>, obj?: unknown): Promise<ReadonlySet<string>>;
  /**
   * Resolves when the backend can reach what it depends on (directory, IdP metadata, token
   * service); rejects with BACKEND_UNAVAILABLE otherwise. For readiness probes. Absent: always ready.
   */
  healthCheck?(): Promise<void>;
  /** Releases pools, timers and files. Idempotent. */
  close(): Promise<void>;
}

/** Any backend, whatever its credential type: what the chain holds. */
export type AnyAuthBackend<TUser extends User = User, TRequest = unknown> = AuthBackend<
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- credential types differ per backend; `accepts` narrows at runtime.
  any,
  TUser,
  TRequest
>;
