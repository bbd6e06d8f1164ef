/**
 * `@authbridge/ldap`: the LDAP bind backend for authbridge, on ldapts.
 *
 * @packageDocumentation
 */
export { CredentialCache } from './credential-cache.js';
export {
  type AttributeTypeAndValue,
  dnEquals,
  escapeDnValue,
  firstRdnValue,
  formatDn,
  isDnWithin,
  normalizeDn,
  parseDn,
  type Rdn,
  tryNormalizeDn,
} from './dn.js';
export {
  anyOf,
  equals,
  IN_CHAIN_RULE,
  inChain,
  parseConfigFilter,
  posixGroups,
  userFilter,
} from './filters.js';
export {
  type CompiledGroupQuery,
  compileGroupQuery,
  evaluateGroupQuery,
  type GroupQuery,
} from './group-query.js';
export { type LdapCredentials, LdapBackend } from './ldap-backend.js';
export {
  type GroupStrategy,
  type LdapBackendOptions,
  type LdapCacheOptions,
  type LdapGroupOptions,
  type LdapTlsOptions,
  type LdapUserFlagsByGroup,
  type LdapUserSearchOptions,
  type ResolvedLdapOptions,
  resolveLdapOptions,
} from './ldap-backend-options.js';
export {
  consoleLdapLogger,
  type LdapLogFields,
  type LdapLogger,
  silentLdapLogger,
} from './ldap-logger.js';
export {
  AD_SUB_CODES,
  type BindOutcome,
  classifyBindError,
  type LdapFailureReason,
  parseAdSubCode,
  reasonFromPasswordPolicy,
  toBackendError,
} from './map-ldap-error.js';
export { LDAP_PRESETS, type LdapPreset, type LdapPresetName } from './presets.js';
