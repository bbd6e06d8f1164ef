/**
 * Options of the REST token backend: one spelling per option, grouped by concern, every default
 * stated here and applied once by `resolveOptions`.
 *
 * @packageDocumentation
 */
import type { Clock, UpdatePolicy, UserStore } from '@authbridge/core';
import type { JSONWebKeySet } from 'jose';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import type { ClientAuthentication } from './client-auth.js';
import type { RestLogger } from './logger.js';
import type { PasswordPlacement, RestApiHooks, TokenPlacement } from './rest-api-verifier.js';
import type { TokenPrincipal } from './token-principal.js';
import type { FetchLike } from './upstream-client.js';

/** Mode 1: OAuth 2.0 Token Introspection (RFC 7662). */
export interface IntrospectionModeOptions {
  readonly kind: 'introspection';
  /** The introspection endpoint (https in production). */
  readonly endpoint: string | URL;
  /**
   * The authorization server's issuer identifier. Names the namespace of local users, is the
   * expected `iss` when the response carries one, and the default `aud` of client assertions.
   */
  readonly issuer: string;
  /**
   * This resource server's identifier(s): the response's `aud` must contain one. Required; pass
   * `null` to turn the check off explicitly (RFC 9700 §2.3 recommends audience restriction).
   */
  readonly audience: string | readonly string[] | null;
  /** How the backend authenticates to the endpoint (RFC 7662 §2.1 requires it). */
  readonly clientAuth: ClientAuthentication;
  /** `token_type_hint`. Default `access_token`; null sends none. */
  readonly tokenTypeHint?: string | null;
  /** Only tokens issued to these clients (`client_id`). Default: any client. */
  readonly allowedClientIds?: readonly string[];
  /**
   * Only these `token_type` values (case-insensitive), e.g. `['Bearer']`; a response without
   * `token_type` is then rejected. Default: not checked. Set it when the server can introspect
   * refresh tokens too, so one cannot be used as an access token.
   */
  readonly tokenTypes?: readonly string[];
  /** Reject responses without `iss`. Default false (the server asked is the issuer). */
  readonly requireIssuer?: boolean;
}

/** The introspection call of the JWT mode's revocation check. */
export interface JwtRevocationOptions {
  readonly endpoint: string | URL;
  readonly clientAuth: ClientAuthentication;
  /** Default `access_token`; null sends none. */
  readonly tokenTypeHint?: string | null;
}

/** Mode 3: JWT access tokens (RFC 9068) verified locally. */
export interface JwtModeOptions {
  readonly kind: 'jwt';
  /** Required `iss`. */
  readonly issuer: string;
  /** Required `aud`: the token's audience must contain one of these. */
  readonly audience: string | readonly string[];
  /** The issuer's JWKS URL (fetched with jose's cache, cooldown and single-flight). */
  readonly jwksUri?: string | URL;
  /** A static key set instead of `jwksUri` (exactly one of the two). */
  readonly jwks?: JSONWebKeySet;
  /** Accepted JWS algorithms. Default `['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']`. */
  readonly algorithms?: readonly string[];
  /** Required `typ` header. Default `at+jwt` (RFC 9068; `application/at+jwt` matches too); null: none. */
  readonly typ?: string | null;
  /** Only tokens issued to these clients (`client_id`). Default: any client. */
  readonly allowedClientIds?: readonly string[];
  /** After a successful fetch, no refetch on an unknown `kid` for this long, in ms. Default 30000. */
  readonly jwksCooldownMs?: number;
  /** Refetch the key set when it is older than this, in ms. Default 600000. */
  readonly jwksCacheMaxAgeMs?: number;
  /** Also introspect locally valid tokens, so that revocation is seen (costs a call per miss). */
  readonly revocation?: JwtRevocationOptions;
}

/** Request template of the in-house REST mode. */
export interface RestRequestTemplate {
  readonly url: string | URL;
  /** Default `POST`. */
  readonly method?: 'GET' | 'POST' | 'PUT';
  /** Static headers (an API key for the service, ...). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body encoding when there are body fields. Default `json`. */
  readonly bodyFormat?: 'json' | 'form';
  /** Where a token goes. Default `{ in: 'header' }` (`Authorization: Bearer`); null: tokens not accepted. */
  readonly token?: TokenPlacement | null;
  /** Where a username and password go. Default none: password credentials not accepted. */
  readonly password?: PasswordPlacement;
  /** Constant body fields sent with every request. */
  readonly extraFields?: Readonly<Record<string, string | number | boolean>>;
}

/** Response mapping of the in-house REST mode: dotted paths into the JSON body. */
export interface RestResponseMapping {
  /** The field that says yes. Default `active`. */
  readonly valid?: string;
  /** The value it must have, compared with `===`. Default `true`. */
  readonly validValue?: string | number | boolean;
  /** The stable subject (a string or a number). Required. */
  readonly subject: string;
  readonly username?: string;
  readonly email?: string;
  readonly displayName?: string;
  /** A list of group names. */
  readonly groups?: string;
  /** A list of permissions the service grants directly. */
  readonly permissions?: string;
  /** Scopes: a space-separated string or a list. */
  readonly scope?: string;
  readonly clientId?: string;
  /** Audiences: a string or a list (checked when the mode sets `audience`). */
  readonly audience?: string;
  /** Expiry: a number (see `expiresAtUnit`) or an ISO 8601 string. */
  readonly expiresAt?: string;
  /** Unit of a numeric `expiresAt`. Default `seconds`. */
  readonly expiresAtUnit?: 'seconds' | 'milliseconds';
  /** Attribute name → path, copied into the principal's `attributes`. */
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Mode 2: an in-house REST endpoint. */
export interface RestApiModeOptions {
  readonly kind: 'rest';
  /** A stable name for the service: the namespace of its local users. */
  readonly issuer: string;
  readonly request: RestRequestTemplate;
  /** Required unless `hooks.response` decides alone. */
  readonly response?: RestResponseMapping;
  /** Statuses that mean "credential not valid" (not an error). Default `[401, 403, 404]`. */
  readonly invalidStatuses?: readonly number[];
  /** When set, the mapped audience must contain one of these. Default: not checked. */
  readonly audience?: string | readonly string[];
  readonly hooks?: RestApiHooks;
}

/** The three modes. */
export type RestTokenMode = IntrospectionModeOptions | RestApiModeOptions | JwtModeOptions;

/** The verdict cache. */
export interface CacheOptions {
  /** Upper bound for keeping a good answer, in ms; never past the token's `exp`. Default 60000. */
  readonly ttlMs?: number;
  /** How long a "not valid" answer is kept, in ms. Default 10000. */
  readonly negativeTtlMs?: number;
  /** Entries kept, least recently used evicted first. Default 10000. */
  readonly maxEntries?: number;
}

/** How a principal becomes a local user (through the core UserStore, keyed by issuer + subject). */
export interface ProvisioningOptions {
  /** Create a local user on first sight. Default true. */
  readonly create?: boolean;
  /** Rewrite the profile on each (uncached) login. Default `always`. */
  readonly update?: UpdatePolicy;
  /** The local username. Default: the upstream's `username`, else the subject. */
  readonly username?: (principal: TokenPrincipal) => string;
}

/** A remote permission endpoint. */
export interface RemotePermissionOptions {
  readonly url: string | URL;
  /** Static headers (the endpoint's own API key, ...). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Object → id sent as `object`; without it, object-level checks are not sent (false). */
  readonly objectId?: (obj: unknown) => string | undefined;
  /** The field that grants when strictly `true`. Default `allowed`. */
  readonly allowedField?: string;
  /** The field that denies explicitly (PermissionDenied) when strictly `true`. Default `denied`. */
  readonly deniedField?: string;
  /** Decision cache: allow/deny for `ttlMs` (default 30000), "not granted" for `negativeTtlMs` (default 10000); false: none. */
  readonly cache?: CacheOptions | false;
}

/** Where permissions come from. */
export interface PermissionOptions {
  /** Scope → permissions it grants (`'orders:read': ['shop.view_order']`). */
  readonly scopeMap?: Readonly<Record<string, readonly string[]>>;
  /** Also grant `<prefix><scope>` for every scope (Spring's `SCOPE_`). Default: not granted. */
  readonly scopePrefix?: string;
  /** Ask this endpoint about permissions the token does not grant. */
  readonly remote?: RemotePermissionOptions;
}

/** Options for `RestTokenBackend`. */
export interface RestTokenBackendOptions {
  /** Where local users live. */
  readonly store: UserStore;
  /** How credentials are checked. */
  readonly mode: RestTokenMode;
  /** Backend id stored in sessions and identity links. Default `rest`. */
  readonly id?: string;
  /** Time budget of one check (all attempts), in ms. Default 2000; at most 30000. */
  readonly deadlineMs?: number;
  /** Retry once on a transport error or a 5xx inside the deadline. Default true. */
  readonly retry?: boolean;
  /** Circuit breaker per upstream. Default {@link DEFAULT_CIRCUIT_BREAKER}; false: none. */
  readonly circuitBreaker?: CircuitBreakerOptions | false;
  /** Verdict cache. Default on (see {@link CacheOptions}); false disables caching entirely. */
  readonly cache?: CacheOptions | false;
  /** Leeway for `exp`/`nbf`, in seconds. Default 5. */
  readonly clockToleranceSec?: number;
  readonly permissions?: PermissionOptions;
  readonly provisioning?: ProvisioningOptions;
  /**
   * Fail OPEN: when the upstream is down or slow, `authenticate` returns null (no opinion, so the
   * chain moves on and the request continues unauthenticated) instead of throwing
   * BACKEND_UNAVAILABLE. Every use is logged as `rest.fail_open` at warn. Default false; leave
   * it so unless a later backend or anonymous access is acceptable during an outage.
   */
  readonly dangerouslyFailOpen?: boolean;
  /**
   * Accept sender-constrained tokens (a `cnf` claim: certificate-bound per RFC 8705, DPoP-bound
   * per RFC 9449) as plain bearer tokens in the introspection and JWT modes. Default false: they
   * are invalid tokens there, because this backend does not check their proof of possession and
   * accepting them would undo it. Set it only behind a gateway that has checked the proof.
   */
  readonly dangerouslyIgnoreCnf?: boolean;
  /**
   * Allow plain `http:` upstream URLs on hosts other than loopback. Default false: tokens and
   * client secrets would cross the network in clear text.
   */
  readonly allowInsecureHttp?: boolean;
  /** The HTTP client. Default the global `fetch`. (`tls_client_auth` uses its own.) */
  readonly fetch?: FetchLike;
  /** Time for caches, expiry checks and the breaker. Default the system clock. */
  readonly clock?: Clock;
  /** Default {@link consoleLogger} (warnings and errors only). */
  readonly logger?: RestLogger;
  /** Longer credentials are refused before any I/O. Default 8192 characters. */
  readonly maxCredentialLength?: number;
  /** Longer upstream responses are refused. Default 1 MiB. */
  readonly maxResponseBytes?: number;
}
