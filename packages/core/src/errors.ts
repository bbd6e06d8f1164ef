/**
 * The one error type authbridge throws on purpose, and the closed set of codes it can carry.
 *
 * Callers branch on `code`, never on `message`. `message` is safe to show to the client only when
 * `expose` is true; `detail` is for logs and is never serialised by {@link AuthBridgeError.toJSON}.
 *
 * @packageDocumentation
 */

/** Every code an {@link AuthBridgeError} can carry, with the HTTP status it maps to. */
export const ERROR_STATUS = Object.freeze({
  /** A backend vetoed the login or a permission check (Django's `PermissionDenied`). */
  PERMISSION_DENIED: 403,
  /** The credentials were not good. Same code for unknown user and wrong password. */
  INVALID_CREDENTIALS: 401,
  /** The request needs a logged-in user and has none. */
  UNAUTHENTICATED: 401,
  /** A bearer token was missing the scope needed (RFC 6750 `insufficient_scope`). */
  INSUFFICIENT_SCOPE: 403,
  /** A bearer token was malformed, expired, revoked or otherwise not good (RFC 6750). */
  INVALID_TOKEN: 401,
  /** The request itself is malformed (RFC 6750 `invalid_request`, bad form fields). */
  INVALID_REQUEST: 400,
  /** A CSRF token was missing or wrong. */
  CSRF_FAILED: 403,
  /** A protocol message (SAML response, logout request...) was replayed. */
  REPLAY_DETECTED: 401,
  /** A protocol message failed validation (signature, audience, time window...). */
  PROTOCOL_INVALID: 401,
  /** An identity provider, directory or token service did not answer usefully. */
  BACKEND_UNAVAILABLE: 503,
  /** An upstream call did not finish within its deadline. */
  BACKEND_TIMEOUT: 503,
  /** A store (SQLite, Redis...) failed; we fail closed. */
  STORE_UNAVAILABLE: 503,
  /** A write would break a uniqueness rule, e.g. an external identity whose username is taken. */
  IDENTITY_CONFLICT: 409,
  /** The record asked for does not exist (store administration calls). */
  NOT_FOUND: 404,
  /** The configuration is invalid; raised at construction, never per request. */
  CONFIG_INVALID: 500,
  /** The operation was used after `close()`. */
  CLOSED: 500,
  /** Something went wrong that has no better code. */
  INTERNAL: 500,
} as const);

/** The closed union of error codes. */
export type AuthBridgeErrorCode = keyof typeof ERROR_STATUS;

/** Options for {@link AuthBridgeError}. */
export interface AuthBridgeErrorOptions {
  /** Private detail for logs (which check failed, upstream status...). Never sent to clients. */
  readonly detail?: string;
  /** The underlying error, kept for logs and debugging. */
  readonly cause?: unknown;
  /** Overrides the status derived from the code (rarely needed). */
  readonly status?: number;
}

/** The generic message used when the caller gives none: safe to show. */
const DEFAULT_MESSAGES: Readonly<Record<AuthBridgeErrorCode, string>> = {
  PERMISSION_DENIED: 'Permission denied',
  INVALID_CREDENTIALS: 'Invalid credentials',
  UNAUTHENTICATED: 'Authentication required',
  INSUFFICIENT_SCOPE: 'Insufficient scope',
  INVALID_TOKEN: 'Invalid token',
  INVALID_REQUEST: 'Invalid request',
  CSRF_FAILED: 'CSRF check failed',
  REPLAY_DETECTED: 'Authentication failed',
  PROTOCOL_INVALID: 'Authentication failed',
  BACKEND_UNAVAILABLE: 'Authentication service unavailable',
  BACKEND_TIMEOUT: 'Authentication service unavailable',
  STORE_UNAVAILABLE: 'Authentication service unavailable',
  IDENTITY_CONFLICT: 'Account conflict',
  NOT_FOUND: 'Not found',
  CONFIG_INVALID: 'Invalid configuration',
  CLOSED: 'Closed',
  INTERNAL: 'Internal error',
};

/**
 * The base class of every error authbridge raises deliberately.
 *
 * @example
 * ```ts
 * throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, { detail: 'ldap://dc1: ECONNREFUSED' });
 * ```
 */
export class AuthBridgeError extends Error {
  /** The stable, switchable code. */
  readonly code: AuthBridgeErrorCode;
  /** HTTP status the code maps to. */
  readonly status: number;
  /** Whether `message` may be shown to the client (true for 4xx). */
  readonly expose: boolean;
  // A private field, not a property: JSON.stringify, spreads and structured clones never carry it.
  readonly #detail: string | undefined;

  constructor(code: AuthBridgeErrorCode, message?: string, options: AuthBridgeErrorOptions = {}) {
    super(
      message ?? DEFAULT_MESSAGES[code],
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.expose = this.status < 500;
    this.#detail = options.detail;
  }

  /** Private detail for logs only. */
  get detail(): string | undefined {
    return this.#detail;
  }

  /** The public shape: `{ code, message }`, with a generic message for 5xx. */
  toJSON(): { code: AuthBridgeErrorCode; message: string } {
    return { code: this.code, message: this.expose ? this.message : DEFAULT_MESSAGES[this.code] };
  }
}

/**
 * Raised by a backend to veto: in `authenticate` it stops the chain at once (no later backend is
 * asked) and fires `loginFailed`; in a permission check it makes the answer `false` at once.
 */
export class PermissionDenied extends AuthBridgeError {
  constructor(message?: string, options: Omit<AuthBridgeErrorOptions, 'status'> = {}) {
    super('PERMISSION_DENIED', message, options);
  }
}

/** True when `value` is an {@link AuthBridgeError}, optionally with the given code. */
export function isAuthBridgeError(
  value: unknown,
  code?: AuthBridgeErrorCode,
): value is AuthBridgeError {
  return value instanceof AuthBridgeError && (code === undefined || value.code === code);
}
