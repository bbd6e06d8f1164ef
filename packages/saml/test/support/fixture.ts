/**
 * A backend wired to in-process test IdPs, for unit and hostile tests.
 */
import { type KeyValueStore, MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import {
  SamlBackend,
  type SamlBackendOptions,
  type SamlCredentials,
  type SamlIdpOptions,
} from '../../src/index.js';
import { TestIdp } from './test-idp.js';

export const SP_ENTITY_ID = 'https://sp.example.com/saml/metadata';
export const SP_BASE_URL = 'https://sp.example.com';
export const ACS_URL = `${SP_BASE_URL}/saml/corp/acs`;
export const OTHER_ACS_URL = `${SP_BASE_URL}/saml/partner/acs`;

/** A test setup: the backend, its stores, and IdPs `corp` and `partner`. */
export interface SamlFixture {
  readonly backend: SamlBackend;
  readonly users: MemoryUserStore;
  readonly replayStore: KeyValueStore;
  readonly idp: TestIdp;
  readonly partner: TestIdp;
  /** Credentials for posting `samlResponse` to `corp`'s ACS. */
  creds(samlResponse: string, idp?: string): SamlCredentials;
}

/** Options for {@link samlFixture}. */
export interface FixtureOptions {
  readonly corp?: Partial<SamlIdpOptions>;
  readonly backend?: Partial<SamlBackendOptions>;
  readonly replayStore?: KeyValueStore;
}

/** Builds a backend trusting two test IdPs (`corp` IdP-initiated allowed for simple tests). */
export function samlFixture(options: FixtureOptions = {}): SamlFixture {
  const idp = new TestIdp({
    entityId: 'https://idp.example.com/saml',
    sp: { entityId: SP_ENTITY_ID, acsUrl: ACS_URL },
  });
  const partner = new TestIdp({
    entityId: 'https://partner.example.org/idp',
    sp: { entityId: SP_ENTITY_ID, acsUrl: OTHER_ACS_URL },
  });
  const users = new MemoryUserStore();
  const replayStore = options.replayStore ?? new MemoryKeyValueStore();
  const backend = new SamlBackend({
    users,
    replayStore,
    sp: { entityId: SP_ENTITY_ID, baseUrl: SP_BASE_URL },
    idps: [
      {
        id: 'corp',
        entityId: idp.entityId,
        ssoUrl: 'https://idp.example.com/sso',
        signingCerts: [idp.keys.certPem],
        allowIdpInitiated: true,
        ...options.corp,
      },
      {
        id: 'partner',
        entityId: partner.entityId,
        ssoUrl: 'https://partner.example.org/sso',
        signingCerts: [partner.keys.certPem],
      },
    ],
    attributes: {
      email: { name: 'urn:oid:0.9.2342.19200300.100.1.3', friendlyNames: ['mail'] },
      displayName: { name: 'urn:oid:2.16.840.1.113730.3.1.241', friendlyNames: ['displayName'] },
      groups: { name: 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1', friendlyNames: ['isMemberOf'] },
    },
    ...options.backend,
  });
  return {
    backend,
    users,
    replayStore,
    idp,
    partner,
    creds: (samlResponse, idpId = 'corp') => ({ idp: idpId, samlResponse }),
  };
}
