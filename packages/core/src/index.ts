/**
 * `@authbridge/core`: Django's authentication-backend model, typed. The contract, the chain,
 * users and the anonymous user, permissions, events, errors and stores. No I/O dependencies;
 * the SQLite stores live in `@authbridge/core/sqlite`.
 *
 * @packageDocumentation
 */
export {
  Authenticator,
  type AuthEvents,
  type AuthenticatorOptions,
  type TaggedUser,
} from './authenticator.js';
export type { AnyAuthBackend, AuthBackend } from './backend.js';
export {
  CLEANSED_SUBSTITUTE,
  cleanCredentials,
  SENSITIVE_CREDENTIAL_KEY,
} from './clean-credentials.js';
export { type Clock, ManualClock, systemClock } from './clock.js';
export {
  AuthBridgeError,
  type AuthBridgeErrorCode,
  type AuthBridgeErrorOptions,
  ERROR_STATUS,
  isAuthBridgeError,
  PermissionDenied,
} from './errors.js';
export {
  consoleEventLogger,
  type EventLogger,
  type LogFields,
  silentEventLogger,
} from './event-logger.js';
export { type Listener, TypedEmitter } from './events.js';
export {
  type LocalPasswordBackendOptions,
  LocalPasswordBackend,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  type PasswordCredentials,
} from './local/local-password-backend.js';
export {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  hardeningParams,
  needsRehash,
  type PasswordHasher,
  type ScryptParams,
  scryptHasher,
  validateScryptParams,
  verifyPassword,
} from './local/password-hasher.js';
export { isLoopbackHost } from './loopback-host.js';
export {
  encodeRelayStatePath,
  isSafeLocalPath,
  MAX_RELAY_STATE_BYTES,
  safeLocalPath,
} from './safe-local-path.js';
export { assertKeyAndTtl, type KeyValueStore } from './stores/key-value-store.js';
export {
  MemoryKeyValueStore,
  type MemoryKeyValueStoreOptions,
} from './stores/memory-key-value-store.js';
export { MemoryUserStore, type MemoryUserStoreOptions } from './stores/memory-user-store.js';
export {
  type ExternalIdentity,
  identityKey,
  type NewUser,
  type NormalizedProfile,
  normalizeProfile,
  findByTypedUsername,
  normalizeUsername,
  patchProfile,
  type ProvisionOptions,
  type ProvisionResult,
  type SetPasswordOptions,
  type StoredUser,
  type UpdatePolicy,
  type UserProfile,
  userFromStored,
  type UserStore,
} from './stores/user-store.js';
export {
  ANONYMOUS_USER,
  AnonymousUser,
  type AnyUser,
  createUser,
  isAuthenticatedUser,
  type User,
  type UserInit,
} from './user.js';
