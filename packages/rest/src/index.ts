/**
 * `@authbridge/rest`: a backend for credentials vouched for by a REST service: OAuth 2.0 token
 * introspection (RFC 7662), an in-house "is this credential good?" API, or JWT access tokens
 * (RFC 9068) checked against a remote key set. Plus the RFC 6750 error mapping for the HTTP layer.
 *
 * @packageDocumentation
 */
export {
  bearerErrorResponse,
  type BearerChallengeOptions,
  type BearerErrorCode,
  type BearerErrorResponse,
  parseBearerAuthorization,
} from './bearer-error.js';
export {
  type CircuitBreakerOptions,
  type CircuitState,
  DEFAULT_CIRCUIT_BREAKER,
} from './circuit-breaker.js';
export { CLIENT_ASSERTION_ALGORITHMS, checkAssertionKey } from './assertion-key.js';
export type { ClientAuthentication } from './client-auth.js';
export type { CheckedCredential } from './credential-verifier.js';
export { InsufficientScope, requireScopes } from './insufficient-scope.js';
export { consoleLogger, type LogFields, type RestLogger, silentLogger } from './logger.js';
export type {
  CacheOptions,
  IntrospectionModeOptions,
  JwtModeOptions,
  JwtRevocationOptions,
  PermissionOptions,
  ProvisioningOptions,
  RemotePermissionOptions,
  RestApiModeOptions,
  RestRequestTemplate,
  RestResponseMapping,
  RestTokenBackendOptions,
  RestTokenMode,
} from './options.js';
export type {
  PasswordPlacement,
  RestApiHooks,
  RestResponseHookInput,
  TokenPlacement,
} from './rest-api-verifier.js';
export {
  type BearerCredentials,
  type RestBackendStats,
  type RestCredentials,
  type RestPasswordCredentials,
  RestTokenBackend,
  type RestUser,
} from './rest-token-backend.js';
export {
  createTlsClientFetch,
  type TlsClientFetch,
  type TlsClientOptions,
} from './tls-client-fetch.js';
export type { TokenPrincipal, TokenPrincipalInit } from './token-principal.js';
export { hashPrefix, LOGGED_HASH_DIGITS, tokenHash } from './token-hash.js';
export type { FetchLike, UpstreamRequest } from './upstream-client.js';
