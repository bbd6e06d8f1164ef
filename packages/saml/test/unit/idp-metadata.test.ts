/**
 * IdP metadata (saml.md rows H1–H7): parsing, pinned-key signatures, validUntil/cacheDuration,
 * aggregates, SSRF guards on URL fetches, and refresh with key rollover.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { inflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { ManualClock } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import {
  fetchMetadata,
  IdpMetadataSource,
  isPrivateAddress,
  parseDuration,
  parseIdpMetadata,
} from '../../src/index.js';
import { ACS_URL, samlFixture, SP_BASE_URL, SP_ENTITY_ID } from '../support/fixture.js';
import {
  buildAggregateXml,
  buildIdpEntityXml,
  buildLogoutRequestXml,
  encodePost,
  type IdpMetadataSpec,
  instant,
  redirectQuery,
  samlId,
  signElement,
} from '../support/saml-xml.js';
import { TestIdp } from '../support/test-idp.js';
import { testKeyPair } from '@authbridge/testkit';

const federation = testKeyPair('federation-signer');
const oldKey = testKeyPair('idp-old');
const newKey = testKeyPair('idp-new');
const encKey = testKeyPair('idp-enc');
const ENTITY = 'https://idp.example.com/saml';
const spKey = testKeyPair('sp-metadata-slo');
// Single Logout needs an SP key (our logout messages are always signed).
const SP_WITH_KEY = {
  entityId: SP_ENTITY_ID,
  baseUrl: SP_BASE_URL,
  signingKey: spKey.privateKeyPem,
  signingCerts: [spKey.certPem],
};

function spec(overrides: Partial<IdpMetadataSpec> = {}): IdpMetadataSpec {
  return {
    entityId: ENTITY,
    signingCerts: [oldKey.certPem],
    ssoRedirect: 'https://idp.example.com/sso',
    sloRedirect: 'https://idp.example.com/slo',
    ...overrides,
  };
}

function signed(
  xml: string,
  root: 'EntityDescriptor' | 'EntitiesDescriptor' = 'EntityDescriptor',
  key = federation,
): string {
  return signElement(xml, root, { privateKeyPem: key.privateKeyPem });
}

function rejectsSync(run: () => unknown): Promise<unknown> {
  return Promise.resolve().then(run);
}

// The IdP's LogoutRequest for alice, addressed to the SP's SLO endpoint for `corp`.
function aliceLogoutRequest(): string {
  return buildLogoutRequestXml({
    id: samlId(),
    issueInstant: instant(Date.now()),
    issuer: ENTITY,
    destination: `${SP_BASE_URL}/saml/corp/slo`,
    nameId: 'alice',
    sessionIndexes: [],
  });
}
describe('IdP metadata parsing', function () {
  it('reads endpoints, keys by use, NameID formats and WantAuthnRequestsSigned', function () {
    const md = parseIdpMetadata(
      buildIdpEntityXml(
        spec({
          encryptionCerts: [encKey.certPem],
          anyUseCerts: [newKey.certPem],
          ssoPost: 'https://idp.example.com/sso-post',
          wantAuthnRequestsSigned: true,
          cacheDuration: 'PT2H',
        }),
      ),
    );
    expect(md.entityId).to.equal(ENTITY);
    expect(md.sso).to.deep.equal({
      redirect: 'https://idp.example.com/sso',
      post: 'https://idp.example.com/sso-post',
    });
    expect(md.slo.redirect).to.equal('https://idp.example.com/slo');
    expect(md.wantAuthnRequestsSigned).to.equal(true);
    expect(md.cacheDurationMs).to.equal(7_200_000);
    expect(md.nameIdFormats).to.deep.equal([
      'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    ]);
    // H5: an encryption key never verifies signatures; a key without `use` does both.
    expect(md.signingCerts).to.have.length(2);
    expect(md.signingCerts.some((c) => c.includes(encKey.certBase64.slice(0, 64)))).to.equal(false);
    expect(md.encryptionCerts).to.have.length(2);
  });

  it('parses xs:duration', function () {
    expect(parseDuration('P1DT1H')).to.equal(90_000_000);
    expect(parseDuration('PT0.5S')).to.equal(500);
    for (const bad of ['P', 'PT', '1H', 'P-1D']) expect(() => parseDuration(bad)).to.throw();
  });

  it('accepts metadata signed by the pinned key and reads the signed bytes', function () {
    const md = parseIdpMetadata(signed(buildIdpEntityXml(spec())), {
      signingCerts: [federation.certPem],
    });
    expect(md.entityId).to.equal(ENTITY);
  });

  it('selects one entity from a signed aggregate by entityID', function () {
    const xml = signed(
      buildAggregateXml([
        buildIdpEntityXml(spec({ entityId: 'https://other.example' }), false),
        buildIdpEntityXml(spec(), false),
      ]),
      'EntitiesDescriptor',
    );
    expect(
      parseIdpMetadata(xml, { entityId: ENTITY, signingCerts: [federation.certPem] }).entityId,
    ).to.equal(ENTITY);
  });

  const hostile: readonly [string, string, () => unknown][] = [
    [
      'H1',
      'unsigned metadata when a signature is required',
      () => parseIdpMetadata(buildIdpEntityXml(spec()), { signingCerts: [federation.certPem] }),
    ],
    [
      'H1',
      'metadata signed by another key',
      () =>
        parseIdpMetadata(
          signed(buildIdpEntityXml(spec()), 'EntityDescriptor', testKeyPair('attacker')),
          { signingCerts: [federation.certPem] },
        ),
    ],
    [
      'H1',
      'signed metadata altered after signing (key swapped)',
      () =>
        parseIdpMetadata(
          signed(buildIdpEntityXml(spec())).replace(
            oldKey.certBase64,
            testKeyPair('attacker').certBase64,
          ),
          { signingCerts: [federation.certPem] },
        ),
    ],
    [
      'H1',
      'signed EntityDescriptor wrapped in an aggregate with an evil twin',
      () => {
        const good = signed(buildIdpEntityXml(spec()));
        const evil = buildIdpEntityXml(
          spec({ signingCerts: [testKeyPair('attacker').certPem] }),
          false,
        );
        return parseIdpMetadata(buildAggregateXml([evil, good]), {
          entityId: ENTITY,
          signingCerts: [federation.certPem],
        });
      },
    ],
    [
      'H2',
      'validUntil in the past',
      () => parseIdpMetadata(buildIdpEntityXml(spec({ validUntil: instant(Date.now() - 1000) }))),
    ],
    [
      'H2',
      'aggregate validUntil in the past',
      () =>
        parseIdpMetadata(
          buildAggregateXml([buildIdpEntityXml(spec(), false)], instant(Date.now() - 1000)),
          { entityId: ENTITY },
        ),
    ],
    [
      'H2',
      'no validUntil when required',
      () => parseIdpMetadata(buildIdpEntityXml(spec()), { requireValidUntil: true }),
    ],
    [
      'H3',
      'duplicate entityID in an aggregate',
      () =>
        parseIdpMetadata(
          buildAggregateXml([buildIdpEntityXml(spec(), false), buildIdpEntityXml(spec(), false)]),
          { entityId: ENTITY },
        ),
    ],
    [
      'H3',
      'entity missing from the aggregate',
      () =>
        parseIdpMetadata(buildAggregateXml([buildIdpEntityXml(spec(), false)]), {
          entityId: 'https://nobody.example',
        }),
    ],
    [
      'H3',
      'aggregate without an entityId to select',
      () => parseIdpMetadata(buildAggregateXml([buildIdpEntityXml(spec(), false)])),
    ],
    [
      'H3',
      'single entity with another entityID',
      () => parseIdpMetadata(buildIdpEntityXml(spec()), { entityId: 'https://nobody.example' }),
    ],
    [
      'H5',
      'only an encryption key',
      () =>
        parseIdpMetadata(
          buildIdpEntityXml(spec({ signingCerts: [], encryptionCerts: [encKey.certPem] })),
        ),
    ],
    [
      'H7',
      'DTD in metadata',
      () => parseIdpMetadata(`<!DOCTYPE x [<!ENTITY a "b">]>${buildIdpEntityXml(spec())}`),
    ],
    [
      '-',
      'no SingleSignOnService',
      () => parseIdpMetadata(buildIdpEntityXml(spec({ ssoRedirect: undefined }))),
    ],
    [
      '-',
      'SHA-1 signed metadata',
      () =>
        parseIdpMetadata(
          signElement(buildIdpEntityXml(spec()), 'EntityDescriptor', {
            privateKeyPem: federation.privateKeyPem,
            signatureAlgorithm: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
          }),
          { signingCerts: [federation.certPem] },
        ),
    ],
  ];
  for (const [row, name, run] of hostile) {
    it(`${row}: refuses ${name}`, async function () {
      await expectRejection(rejectsSync(run), 'PROTOCOL_INVALID');
    });
  }
});

describe('metadata fetch guards (H4)', function () {
  let server: Server;
  let port: number;
  let body = '';
  let status = 200;

  before(async function () {
    server = createServer((req, res) => {
      if (req.url === '/hang') return;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/xml' }).end(body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(function () {
    server.closeAllConnections();
    server.close();
  });

  it('knows private, loopback and link-local addresses', function () {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      // NAT64 to a private IPv4 address, in its forms.
      '64:ff9b::a00:1',
      '64:ff9b::10.0.0.1',
      '64:ff9b:0:0:0:0:7f00:1',
      '64:ff9b::a9fe:a9fe',
      '64:ff9b:1::a9fe:a9fe',
    ]) {
      expect(isPrivateAddress(a), a).to.equal(true);
    }
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '64:ff9b::5db8:d822'])
      expect(isPrivateAddress(a), a).to.equal(false);
  });

  const refused: readonly [string, () => Promise<string>][] = [
    ['http: without allowHttp', () => fetchMetadata('http://idp.example.com/metadata')],
    ['file: URLs', () => fetchMetadata('file:///etc/passwd')],
    [
      'the cloud metadata address',
      () => fetchMetadata('https://169.254.169.254/latest/meta-data/'),
    ],
    ['a loopback literal', () => fetchMetadata('https://127.0.0.1/metadata')],
    ['an IPv6 loopback literal', () => fetchMetadata('https://[::1]/metadata')],
  ];
  for (const [name, run] of refused) {
    it(`refuses ${name}`, async function () {
      await expectRejection(Promise.resolve().then(run), 'CONFIG_INVALID');
    });
  }

  it('refuses a host name that resolves to loopback (checked at connect time)', async function () {
    await expectRejection(
      fetchMetadata(`https://localhost:${port}/metadata`, { timeoutMs: 2000 }),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('fetches from loopback only when allowed, and never follows redirects', async function () {
    body = buildIdpEntityXml(spec());
    status = 200;
    const allowed = { allowHttp: true, allowPrivateAddresses: true };
    expect(await fetchMetadata(`http://127.0.0.1:${port}/metadata`, allowed)).to.equal(body);
    await expectRejection(
      fetchMetadata(`http://127.0.0.1:${port}/redirect`, allowed),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('stops at the size limit and the timeout', async function () {
    body = 'x'.repeat(64 * 1024);
    const allowed = { allowHttp: true, allowPrivateAddresses: true };
    await expectRejection(
      fetchMetadata(`http://127.0.0.1:${port}/metadata`, { ...allowed, maxBytes: 1024 }),
      'BACKEND_UNAVAILABLE',
    );
    await expectRejection(
      fetchMetadata(`http://127.0.0.1:${port}/hang`, { ...allowed, timeoutMs: 200 }),
      'BACKEND_TIMEOUT',
    );
  });

  describe('IdpMetadataSource: refresh and key rollover (H6)', function () {
    it('accepts old and new keys during the overlap, drops a removed key, keeps the last good copy', async function () {
      const clock = new ManualClock(Date.now());
      const publish = (keys: readonly (typeof oldKey)[], validUntil?: number): void => {
        body = signed(
          buildIdpEntityXml(
            spec({
              signingCerts: keys.map((k) => k.certPem),
              ...(validUntil === undefined ? {} : { validUntil: instant(validUntil) }),
            }),
          ),
        );
        status = 200;
      };
      publish([oldKey]);
      const source = await IdpMetadataSource.load({
        url: `http://127.0.0.1:${port}/metadata`,
        entityId: ENTITY,
        signingCerts: [federation.certPem],
        allowHttp: true,
        allowPrivateAddresses: true,
        clock,
      });
      const f = samlFixture({ corp: source.idpOptions({ id: 'corp', allowIdpInitiated: true }) });
      const oldIdp = new TestIdp({ entityId: ENTITY, sp: f.idp.sp, keys: oldKey });
      const newIdp = new TestIdp({ entityId: ENTITY, sp: f.idp.sp, keys: newKey });
      const login = (idp: TestIdp): Promise<unknown> =>
        f.backend.authenticate(undefined, f.creds(idp.respond().samlResponse));

      expect(await login(oldIdp)).to.not.equal(null);
      await expectRejection(login(newIdp), 'PROTOCOL_INVALID');

      publish([oldKey, newKey]);
      expect(await source.refresh()).to.equal(true);
      expect(await login(oldIdp)).to.not.equal(null);
      expect(await login(newIdp)).to.not.equal(null);

      publish([newKey], clock.now() + 3_600_000);
      expect(await source.refresh()).to.equal(true);
      await expectRejection(login(oldIdp), 'PROTOCOL_INVALID');
      expect(await login(newIdp)).to.not.equal(null);

      // A failed refresh (unsigned, then an outage) keeps the last good copy.
      body = buildIdpEntityXml(spec({ signingCerts: [oldKey.certPem] }));
      expect(await source.refresh()).to.equal(false);
      status = 500;
      expect(await source.refresh()).to.equal(false);
      expect(source.lastError).to.not.equal(undefined);
      expect(await login(newIdp)).to.not.equal(null);
      await expectRejection(login(oldIdp), 'PROTOCOL_INVALID');

      // Past validUntil with no good refresh: nothing is trusted any more.
      clock.advance(3_600_001);
      expect(source.signingCerts()).to.deep.equal([]);
      await expectRejection(login(newIdp), 'PROTOCOL_INVALID');
      source.close();
    });

    it('paces refreshes by cacheDuration within bounds, and loads from a file', async function () {
      const dir = await mkdtemp(join(tmpdir(), 'authbridge-saml-md-'));
      try {
        const file = join(dir, 'idp.xml');
        await writeFile(file, buildIdpEntityXml(spec({ cacheDuration: 'PT10M' })));
        const source = await IdpMetadataSource.load({ file, entityId: ENTITY });
        expect(source.nextRefreshMs()).to.equal(600_000);
        await writeFile(file, buildIdpEntityXml(spec({ cacheDuration: 'PT1S' })));
        await source.refresh();
        expect(source.nextRefreshMs(), 'at least minRefreshMs').to.equal(60_000);
        source.close();
        // Background refresh: a fast-paced source picks up a new file by itself.
        const fast = await IdpMetadataSource.load({
          file,
          entityId: ENTITY,
          minRefreshMs: 10,
          refreshIntervalMs: 10,
        });
        await writeFile(file, buildIdpEntityXml(spec({ signingCerts: [newKey.certPem] })));
        fast.start();
        fast.start();
        const deadline = Date.now() + 5000;
        while (
          !fast.current.signingCerts[0]?.includes(newKey.certBase64.slice(0, 60)) &&
          Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        fast.close();
        fast.close();
        expect(fast.current.signingCerts[0]).to.include(newKey.certBase64.slice(0, 60));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('takes a POST-only SingleLogoutService with the POST binding, and answers at its ResponseLocation', async function () {
      const dir = await mkdtemp(join(tmpdir(), 'authbridge-saml-md-'));
      try {
        const file = join(dir, 'idp.xml');
        const idp = new TestIdp({
          entityId: ENTITY,
          sp: { entityId: SP_ENTITY_ID, acsUrl: ACS_URL },
          keys: oldKey,
        });
        await writeFile(
          file,
          buildIdpEntityXml(
            spec({
              sloRedirect: undefined,
              sloPost: 'https://idp.example.com/slo/post',
              sloResponseLocation: 'https://idp.example.com/slo/post/response',
            }),
          ),
        );
        const source = await IdpMetadataSource.load({ file, entityId: ENTITY });
        const options = source.idpOptions({ id: 'corp' });
        expect(options).to.include({
          sloUrl: 'https://idp.example.com/slo/post',
          sloBinding: 'post',
          sloResponseUrl: 'https://idp.example.com/slo/post/response',
        });
        // The backend built from it: a signed IdP LogoutRequest ends the session and is answered
        // by a form posting to the ResponseLocation, which the response also names.
        const f = samlFixture({ corp: options, backend: { sp: SP_WITH_KEY } });
        await f.backend.recordSession(
          (await f.backend.authenticate(undefined, f.creds(idp.respond().samlResponse)))!.saml!,
          'local-1',
        );
        const request = signElement(aliceLogoutRequest(), 'LogoutRequest', {
          privateKeyPem: oldKey.privateKeyPem,
        });
        const outcome = await f.backend.handleLogoutPost('corp', {
          SAMLRequest: encodePost(request),
        });
        if (outcome.kind !== 'logout-request' || outcome.response?.binding !== 'post')
          throw new Error('expected a posted LogoutResponse');
        expect(outcome.sessionIds).to.deep.equal(['local-1']);
        expect(outcome.response.url).to.equal('https://idp.example.com/slo/post/response');
        const xml = Buffer.from(outcome.response.fields['SAMLResponse']!, 'base64').toString();
        expect(xml).to.include('Destination="https://idp.example.com/slo/post/response"');
        source.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('answers at the Redirect ResponseLocation when metadata gives one', async function () {
      const dir = await mkdtemp(join(tmpdir(), 'authbridge-saml-md-'));
      try {
        const file = join(dir, 'idp.xml');
        await writeFile(
          file,
          buildIdpEntityXml(spec({ sloResponseLocation: 'https://idp.example.com/slo/done' })),
        );
        const source = await IdpMetadataSource.load({ file, entityId: ENTITY });
        const options = source.idpOptions({ id: 'corp' });
        expect(options).to.include({
          sloUrl: 'https://idp.example.com/slo',
          sloResponseUrl: 'https://idp.example.com/slo/done',
        });
        expect(options.sloBinding).to.equal(undefined);
        const f = samlFixture({ corp: options, backend: { sp: SP_WITH_KEY } });
        const query = redirectQuery('SAMLRequest', aliceLogoutRequest(), {
          privateKeyPem: oldKey.privateKeyPem,
        });
        const outcome = await f.backend.handleLogoutRedirect('corp', query);
        if (outcome.kind !== 'logout-request' || outcome.response?.binding !== 'redirect')
          throw new Error('expected a Redirect LogoutResponse');
        const url = new URL(outcome.response.url);
        expect(url.origin + url.pathname).to.equal('https://idp.example.com/slo/done');
        const xml = inflateRawSync(
          Buffer.from(url.searchParams.get('SAMLResponse')!, 'base64'),
        ).toString();
        expect(xml).to.include('Destination="https://idp.example.com/slo/done"');
        // Our own LogoutRequests still go to the Location.
        const ours = await f.backend.createLogoutRequest({
          idp: 'corp',
          issuer: ENTITY,
          nameId: 'alice',
          nameIdFormat: undefined,
          sessionIndex: undefined,
          authnInstant: Date.now(),
          authnContextClassRef: undefined,
          expiresAt: Date.now() + 60_000,
          inResponseTo: undefined,
        });
        expect(ours.url.startsWith('https://idp.example.com/slo?')).to.equal(true);
        source.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('needs exactly one of url and file', async function () {
      await expectRejection(IdpMetadataSource.load({ entityId: ENTITY }), 'CONFIG_INVALID');
    });
  });
});
