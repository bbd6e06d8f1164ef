/**
 * Configuration guards (saml.md checklist I): bad options fail at construction, never per request.
 */
import { AuthBridgeError, MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  resolveSamlOptions,
  SamlBackend,
  type SamlBackendOptions,
  type SamlIdpOptions,
} from '../../src/index.js';
import { generateTestKeyPair, testKeyPair } from '@authbridge/testkit';

const idpKeys = testKeyPair('options-idp');

function options(
  overrides: Partial<SamlBackendOptions> = {},
  idp: Partial<SamlIdpOptions> = {},
): SamlBackendOptions {
  return {
    users: new MemoryUserStore(),
    replayStore: new MemoryKeyValueStore(),
    sp: { entityId: 'https://sp.example.com', baseUrl: 'https://sp.example.com' },
    idps: [
      {
        id: 'corp',
        entityId: 'https://idp.example.com',
        ssoUrl: 'https://idp.example.com/sso',
        signingCerts: [idpKeys.certPem],
        ...idp,
      },
    ],
    ...overrides,
  };
}

function expectConfigInvalid(make: () => unknown): void {
  let caught: unknown;
  try {
    make();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(AuthBridgeError);
  expect((caught as AuthBridgeError).code).to.equal('CONFIG_INVALID');
}

describe('SamlBackend options', function () {
  it('refuses plain http beyond loopback unless allowInsecureHttp is written out', function () {
    for (const idp of [
      { ssoUrl: 'http://idp.example.com/sso' },
      { sloUrl: 'http://idp.example.com/slo' },
      { sloUrl: 'https://idp.example.com/slo', sloResponseUrl: 'http://idp.example.com/done' },
      { acsUrl: 'http://sp.example.com/acs' },
    ]) {
      expectConfigInvalid(() => resolveSamlOptions(options({}, idp)));
      resolveSamlOptions(options({ allowInsecureHttp: true }, idp));
    }
    const plainSp = { entityId: 'https://sp.example.com', baseUrl: 'http://sp.example.com' };
    expectConfigInvalid(() => resolveSamlOptions(options({ sp: plainSp })));
    // Loopback needs no TLS: the demo and test IdPs.
    resolveSamlOptions(
      options(
        { sp: { entityId: 'https://sp.example.com', baseUrl: 'http://127.0.0.1:8080' } },
        { ssoUrl: 'http://localhost:9000/sso', sloUrl: 'http://[::1]:9000/slo' },
      ),
    );
  });

  it('fills every default', function () {
    const resolved = resolveSamlOptions(options());
    expect(resolved.id).to.equal('saml');
    expect(resolved.clockSkewMs).to.be.within(60_000, 180_000);
    expect(resolved.requestTtlMs).to.equal(600_000);
    const idp = resolved.idps.get('corp')!;
    expect(idp.signing).to.equal('both');
    expect(idp.allowIdpInitiated).to.equal(false);
    expect(idp.acsUrl).to.equal('https://sp.example.com/saml/corp/acs');
    expect(idp.signAuthnRequests).to.equal(false);
    expect(Object.isFrozen(resolved)).to.equal(true);
  });

  const bad: readonly [string, () => SamlBackendOptions][] = [
    [
      'negative clock skew (node-saml reads -1 as "no time checks")',
      () => options({ clockSkewMs: -1 }),
    ],
    ['clock skew over 10 minutes', () => options({ clockSkewMs: 3_600_000 })],
    ['clock skew not a number', () => options({ clockSkewMs: '60' as unknown as number })],
    ['no replay store', () => options({ replayStore: undefined as never })],
    ['no user store', () => options({ users: undefined as never })],
    ['no IdPs', () => options({ idps: [] })],
    ['IdP without entityID', () => options({}, { entityId: '' })],
    ['IdP id with a slash', () => options({}, { id: 'a/b' })],
    ['IdP id __proto__', () => options({}, { id: '__proto__' })],
    ['IdP without certificates', () => options({}, { signingCerts: [] })],
    ['IdP certificate that does not parse', () => options({}, { signingCerts: ['not a cert'] })],
    [
      'IdP RSA key under 2048 bits',
      () => options({}, { signingCerts: [generateTestKeyPair('weak', 1024).certPem] }),
    ],
    ['signing policy "none"', () => options({}, { signing: 'none' as never })],
    ['SSO URL not http(s)', () => options({}, { ssoUrl: 'javascript:alert(1)' })],
    [
      'two IdPs with one id',
      () => ({ ...options(), idps: [...options().idps, ...options().idps] }),
    ],
    [
      'two IdPs with one ACS URL',
      () => ({
        ...options(),
        idps: [
          ...options().idps,
          { ...options().idps[0]!, id: 'other', acsUrl: 'https://sp.example.com/saml/corp/acs' },
        ],
      }),
    ],
    ['signed AuthnRequests without an SP key', () => options({}, { signAuthnRequests: true })],
    [
      'SP key without its certificate',
      () =>
        options({
          sp: {
            entityId: 'x',
            baseUrl: 'https://sp.example.com',
            signingKey: idpKeys.privateKeyPem,
          },
        }),
    ],
    [
      'SP base URL with a path',
      () => options({ sp: { entityId: 'x', baseUrl: 'https://sp.example.com/app' } }),
    ],
    ['empty required AuthnContext list', () => options({}, { requiredAuthnContext: [] })],
    [
      'reserved attribute key __proto__',
      () =>
        options({ attributes: { extra: JSON.parse('{"__proto__": {"name": "urn:x"}}') as never } }),
    ],
    [
      'reserved attribute key constructor',
      () => options({ attributes: { extra: { constructor: { name: 'urn:x' } } } }),
    ],
    [
      'reserved attribute key nameID',
      () => options({ attributes: { extra: { nameID: { name: 'urn:x' } } } }),
    ],
    [
      'multiple cardinality for email',
      () => options({ attributes: { email: { name: 'urn:x', cardinality: 'multiple' } } }),
    ],
    ['update policy "sometimes"', () => options({ update: 'sometimes' as never })],
    [
      'a bad backend-level mapping that every IdP overrides (an IdP added later would take it)',
      () =>
        options(
          { attributes: { groups: { name: 'g', cardinality: 'single' as never } } },
          { attributes: { email: { name: 'mail' } } },
        ),
    ],
  ];
  for (const [name, make] of bad) {
    it(`refuses ${name}`, function () {
      expectConfigInvalid(() => new SamlBackend(make()));
    });
  }

  it('names the IdP whose own mapping is refused', function () {
    const make = () =>
      new SamlBackend(options({}, { attributes: { extra: { constructor: { name: 'urn:x' } } } }));
    expectConfigInvalid(make);
    expect(() => make()).to.throw(/idps\[0\]\.attributes\.extra key "constructor"/);
  });

  it('accepts a live certificate source and checks what it returns', function () {
    const backend = new SamlBackend(options({}, { signingCerts: () => [idpKeys.certPem] }));
    expect(backend.id).to.equal('saml');
  });
});
