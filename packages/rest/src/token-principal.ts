/**
 * What an upstream said about a credential, in one shape for every mode.
 *
 * @packageDocumentation
 */

/**
 * The principal a credential stands for, as the upstream (introspection, in-house API, JWT)
 * vouched for it. Frozen. Never holds the credential itself.
 */
export interface TokenPrincipal {
  /** Who vouched: the configured issuer of the mode. With `subject`, the key of the local user. */
  readonly issuer: string;
  /** The stable subject: `sub`, or `client_id` for tokens with no resource owner (RFC 9068 §2.2). */
  readonly subject: string;
  /** The upstream's username, when it gave one. */
  readonly username: string | undefined;
  readonly email: string | undefined;
  readonly displayName: string | undefined;
  /** Group names, when the upstream gives them (undefined: it says nothing about groups). */
  readonly groups: readonly string[] | undefined;
  /** The OAuth client the token was issued to. */
  readonly clientId: string | undefined;
  /** Granted scopes (`scope` split on spaces). */
  readonly scopes: readonly string[];
  /** Audiences the token is for. */
  readonly audience: readonly string[];
  /** Permissions the upstream granted directly (in-house mapping). */
  readonly permissions: readonly string[];
  /** Expiry, ms since the epoch; the cache never keeps the answer past it. */
  readonly expiresAt: number | undefined;
  /** Attributes picked by the in-house response mapping. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The raw claims or response body the principal was read from (frozen copy). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** The fields a hook or mapping may supply; the rest default to empty. */
export interface TokenPrincipalInit {
  readonly subject: string;
  readonly username?: string | undefined;
  readonly email?: string | undefined;
  readonly displayName?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly clientId?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly audience?: readonly string[] | undefined;
  readonly permissions?: readonly string[] | undefined;
  /** Expiry in ms since the epoch. */
  readonly expiresAt?: number | undefined;
  readonly attributes?: Readonly<Record<string, unknown>> | undefined;
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Builds a frozen principal. Takes ownership of `attributes` and `claims` (they are frozen).
 *
 * @throws {TypeError} when `subject` is not a non-empty string.
 */
export function createPrincipal(issuer: string, init: TokenPrincipalInit): TokenPrincipal {
  if (typeof init.subject !== 'string' || init.subject === '') {
    throw new TypeError('principal subject must be a non-empty string');
  }
  const list = (value: readonly string[] | undefined): readonly string[] =>
    Object.freeze([...new Set(value ?? [])]);
  return Object.freeze({
    issuer,
    subject: init.subject,
    username: init.username,
    email: init.email,
    displayName: init.displayName,
    groups: init.groups === undefined ? undefined : list(init.groups),
    clientId: init.clientId,
    scopes: list(init.scopes),
    audience: list(init.audience),
    permissions: list(init.permissions),
    expiresAt: init.expiresAt,
    // Frozen in place, not copied: callers hand over freshly parsed JSON (a hook's result is
    // copied by the caller first), and a copy per upstream answer showed up in profiles.
    attributes: deepFreeze(init.attributes ?? {}),
    claims: deepFreeze(init.claims ?? {}),
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
