/**
 * `@authbridge/saml`: a SAML 2.0 service-provider backend on node-saml that fails closed.
 *
 * @packageDocumentation
 */
export {
  type AttributeMapping,
  type AttributeRule,
  type MappedAttributes,
  mapAttributes,
  RESERVED_ATTRIBUTE_KEYS,
  resolveAttributeMapping,
  type ResolvedAttributeMapping,
  type ResolvedRule,
} from './attribute-mapping.js';
export { ALLOWED_ALGORITHMS, ALLOWED_REDIRECT_SIG_ALGS, SAML_NS, SAML_URI } from './constants.js';
export { type IdpChoice } from './idp-registry.js';
export {
  KNOWN_SAML_MESSAGES,
  type KnownSamlMessage,
  mapSamlError,
  type SamlFailureReason,
  samlFailureReason,
} from './map-saml-error.js';
export {
  DEFAULT_CLOCK_SKEW_MS,
  type ResolvedIdp,
  type ResolvedSamlOptions,
  resolveSamlOptions,
  type SamlBackendOptions,
  type SamlIdpOptions,
  type SamlLoginContext,
  type SamlSpOptions,
  type SigningPolicy,
} from './options.js';
export {
  assertSafeXml,
  decodePostMessage,
  decodeRedirectMessage,
  type RawMessageLimits,
} from './raw-message.js';
export { isSafeRelayState, MAX_RELAY_STATE_BYTES, safeRelayState } from './relay-state.js';
export { type PendingRequest, ReplayCache, type RequestKind } from './replay-cache.js';
export { type SamlSessionKey, SessionIndexStore } from './session-index.js';
export {
  checkLogoutRequest,
  checkLogoutResponse,
  type LogoutExpectations,
  type VerifiedLogoutRequest,
  type VerifiedLogoutResponse,
} from './logout-messages.js';
export { type RedirectMessage, verifyRedirectQuery } from './redirect-binding.js';
export {
  type LoginRequest,
  type LoginRequestOptions,
  type LogoutOutcome,
  type LogoutRequest,
  type OutboundMessage,
  SamlBackend,
  type SamlCredentials,
  type SamlSession,
  type SamlUser,
} from './saml-backend.js';
export { type SamlAttribute, type VerifiedAssertion } from './verified-response.js';
export {
  type BindingEndpoints,
  type IdpMetadata,
  parseDuration,
  parseIdpMetadata,
  type ParseIdpMetadataOptions,
} from './idp-metadata.js';
export { fetchMetadata, isPrivateAddress, type MetadataFetchOptions } from './metadata-fetch.js';
export { IdpMetadataSource, type IdpMetadataSourceOptions } from './metadata-source.js';
export { buildSpMetadata, type SpMetadataInput } from './sp-metadata.js';
