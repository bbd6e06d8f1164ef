/**
 * @authbridge/testkit: real servers for integration tests, with guaranteed teardown.
 *
 * The generic building blocks (spawn-server.ts, live-servers.ts, server-dir.ts, wait-for.ts)
 * stay internal to this package; harnesses for other servers belong next to slapd's here.
 *
 * @packageDocumentation
 */
export { freePort } from './free-port.js';
export { liveServers } from './live-servers.js';
export type { LiveServer } from './live-servers.js';
export { isCI, requireServer } from './require-server.js';
export type { SkippableContext } from './require-server.js';
export { slapdAvailable, startSlapd } from './start-slapd.js';
export type { SlapdOptions, SlapdServer } from './slapd-types.js';
export { simpleSamlPhpAvailable, startSimpleSamlPhp } from './start-simplesamlphp.js';
export type { SimpleSamlPhpServer } from './start-simplesamlphp.js';
export { SIMPLESAMLPHP_DEFAULT_USERS } from './simplesamlphp-config.js';
export type {
  SimpleSamlPhpOptions,
  SimpleSamlPhpSp,
  SimpleSamlPhpUser,
} from './simplesamlphp-config.js';
export { sambaAvailable, startSambaDc } from './start-samba.js';
export type {
  AdSubCode,
  SambaDcOptions,
  SambaDcServer,
  SambaGroup,
  SambaGroups,
  SambaUser,
  SambaUsers,
} from './samba-types.js';
export {
  API_RESOURCE,
  APPS,
  JWT_RESOURCE,
  OTHER_RESOURCE,
  RS_BASIC,
  RS_JWT,
  RS_MTLS,
  RS_POST,
  startAuthorizationServer,
} from './authorization-server.js';
export type { AuthorizationServer, TlsServerMaterial } from './authorization-server.js';
export { generateTestKeyPair, pemBody, testKeyPair } from './test-keys.js';
export type { TestKeyPair } from './test-keys.js';
export { BrowserlessClient, pageText, readForm } from './browserless.js';
export type { HtmlForm, Page } from './browserless.js';
