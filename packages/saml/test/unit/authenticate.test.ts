/**
 * The pipeline on valid responses: user creation and linking, attribute mapping, updates, policy
 * hooks, session facts, and the checks that must not refuse good input.
 */
import { Authenticator, PermissionDenied } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { SamlBackend } from '../../src/index.js';
import {
  ACS_URL,
  OTHER_ACS_URL,
  samlFixture,
  SP_BASE_URL,
  SP_ENTITY_ID,
} from '../support/fixture.js';
import { TestIdp } from '../support/test-idp.js';
import { instant, type ResponseSpec } from '../support/saml-xml.js';

const MAIL = 'urn:oid:0.9.2342.19200300.100.1.3';
const GROUPS = 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1';
const MFA = 'https://refeds.org/profile/mfa';

describe('SamlBackend.authenticate', function () {
  it('creates a user linked to (IdP entityID, NameID) and maps attributes', async function () {
    const f = samlFixture();
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({
          nameId: 'alice',
          attributes: [
            { name: MAIL, friendlyName: 'mail', values: ['alice@example.com'] },
            { name: GROUPS, values: ['staff', 'admins'] },
            { name: 'urn:oid:2.16.840.1.113730.3.1.241', values: ['Alice A.'] },
          ],
        }).samlResponse,
      ),
    );
    expect(user).to.include({
      username: 'alice',
      email: 'alice@example.com',
      displayName: 'Alice A.',
    });
    expect(user!.groups).to.deep.equal(['staff', 'admins']);
    const linked = await f.users.getByIdentity({
      backendId: 'saml',
      issuer: f.idp.entityId,
      subject: 'alice',
    });
    expect(linked?.id).to.equal(user!.id);
  });

  it('reads attributes by FriendlyName alias when the Name differs', async function () {
    const f = samlFixture();
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({
          attributes: [
            { name: 'urn:vendor:mail', friendlyName: 'mail', values: ['a@example.com'] },
          ],
        }).samlResponse,
      ),
    );
    expect(user?.email).to.equal('a@example.com');
  });

  it('logs the same person in as the same user, and updates mapped fields only', async function () {
    const f = samlFixture();
    const first = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({ attributes: [{ name: MAIL, values: ['old@example.com'] }] }).samlResponse,
      ),
    );
    await f.users.update(first!.id, { isStaff: true });
    const second = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({ attributes: [{ name: MAIL, values: ['new@example.com'] }] }).samlResponse,
      ),
    );
    expect(second!.id).to.equal(first!.id);
    expect(second!.email).to.equal('new@example.com');
    expect(second!.isStaff, 'local grants survive the update').to.equal(true);
  });

  it('removes groups the IdP no longer sends: absent, without values, or only xsi:nil', async function () {
    const f = samlFixture();
    const login = async (spec: Partial<ResponseSpec>): Promise<readonly string[]> => {
      const user = await f.backend.authenticate(
        undefined,
        f.creds(f.idp.respond({ nameId: 'alice', ...spec }).samlResponse),
      );
      return user!.groups;
    };
    const admins = { attributes: [{ name: GROUPS, values: ['admins'] }] };
    expect(await login(admins)).to.deep.equal(['admins']);
    expect(await login({ attributes: [] }), 'attribute absent').to.deep.equal([]);
    expect(await login(admins)).to.deep.equal(['admins']);
    expect(await login({ attributes: [{ name: GROUPS, values: [] }] }), 'no values').to.deep.equal(
      [],
    );
    expect(await login(admins)).to.deep.equal(['admins']);
    expect(
      await login({
        attributes: [],
        assertionExtra: `<saml:AttributeStatement><saml:Attribute Name="${GROUPS}"><saml:AttributeValue xsi:nil="true"/></saml:Attribute></saml:AttributeStatement>`,
      }),
      'only xsi:nil',
    ).to.deep.equal([]);
    // What the store holds, not only what this login returned: the next session loads it.
    const stored = await f.users.getByUsername('alice');
    expect(stored!.groups).to.deep.equal([]);
  });

  it('keeps local groups when no groups rule is configured', async function () {
    const f = samlFixture({ backend: { attributes: {} } });
    const first = await f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse));
    await f.users.update(first!.id, { groups: ['local-editors'] });
    const again = await f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse));
    expect(again!.groups).to.deep.equal(['local-editors']);
  });

  it('clears email and display name sent without a value, keeps them when left out', async function () {
    const f = samlFixture();
    const NAME = 'urn:oid:2.16.840.1.113730.3.1.241';
    const login = async (attributes: ResponseSpec['attributes']): Promise<unknown> => {
      const user = await f.backend.authenticate(
        undefined,
        f.creds(f.idp.respond({ nameId: 'alice', attributes }).samlResponse),
      );
      return { email: user!.email, displayName: user!.displayName };
    };
    const full = [
      { name: MAIL, values: ['alice@example.com'] },
      { name: NAME, values: ['Alice A.'] },
    ];
    expect(await login(full)).to.deep.equal({
      email: 'alice@example.com',
      displayName: 'Alice A.',
    });
    expect(await login([]), 'absent: kept').to.deep.equal({
      email: 'alice@example.com',
      displayName: 'Alice A.',
    });
    expect(
      await login([
        { name: MAIL, values: [] },
        { name: NAME, values: [] },
      ]),
      'sent empty: cleared',
    ).to.deep.equal({ email: undefined, displayName: undefined });
    const stored = await f.users.getByUsername('alice');
    expect(stored).to.include({ email: undefined, displayName: undefined });
  });

  it('with two SAML backends in one Authenticator, each logs in the users of its own IdPs', async function () {
    // Two fixtures sharing one user store: backend `saml` trusts corp (and partner), `saml-b`
    // trusts only its own IdP, `other`.
    const a = samlFixture();
    const other = new TestIdp({
      entityId: 'https://other.example.net/idp',
      sp: { entityId: SP_ENTITY_ID, acsUrl: `${SP_BASE_URL}/saml/other/acs` },
    });
    const b = new SamlBackend({
      id: 'saml-b',
      users: a.users,
      replayStore: a.replayStore,
      sp: { entityId: SP_ENTITY_ID, baseUrl: SP_BASE_URL },
      idps: [
        {
          id: 'other',
          entityId: other.entityId,
          ssoUrl: 'https://other.example.net/sso',
          signingCerts: [other.keys.certPem],
          allowIdpInitiated: true,
        },
      ],
    });
    const authenticator = new Authenticator({ backends: [a.backend, b] });
    const viaOther = { idp: 'other', samlResponse: other.respond({ nameId: 'bob' }).samlResponse };
    const bob = await authenticator.authenticate(undefined, viaOther);
    expect(bob).to.include({ username: 'bob', backendId: 'saml-b' });
    expect(a.backend.accepts(viaOther), 'not an IdP of the first backend').to.equal(false);
    const alice = await authenticator.authenticate(
      undefined,
      a.creds(a.idp.respond({ nameId: 'alice' }).samlResponse),
    );
    expect(alice).to.include({ username: 'alice', backendId: 'saml' });
    expect(b.accepts(a.creds('x')), 'corp is not an IdP of the second').to.equal(false);
  });

  it('keeps the profile with update: "never"', async function () {
    const f = samlFixture({ backend: { update: 'never' } });
    await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({ attributes: [{ name: MAIL, values: ['old@example.com'] }] }).samlResponse,
      ),
    );
    const again = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({ attributes: [{ name: MAIL, values: ['new@example.com'] }] }).samlResponse,
      ),
    );
    expect(again!.email).to.equal('old@example.com');
  });

  it('returns null for an unknown person with create: false', async function () {
    const f = samlFixture({ backend: { create: false } });
    expect(await f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse))).to.equal(
      null,
    );
  });

  it('scopes subjects by IdP: the same NameID at two IdPs is two identities', async function () {
    const f = samlFixture();
    // partner refuses IdP-initiated responses, so this one answers a login request.
    const { requestId } = await f.backend.createLoginRequest('partner');
    const viaPartner = f.partner.respond({
      nameId: 'alice',
      inResponseTo: requestId,
      subjectConfirmations: [
        {
          method: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
          recipient: OTHER_ACS_URL,
          notOnOrAfter: instant(Date.now() + 60_000),
          inResponseTo: requestId,
        },
      ],
    });
    await f.backend.authenticate(
      undefined,
      f.creds(f.idp.respond({ nameId: 'alice', attributes: [] }).samlResponse),
    );
    // Same username, different identity: the store refuses to merge them.
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(viaPartner.samlResponse, 'partner')),
      'IDENTITY_CONFLICT',
    );
  });

  it('ignores attributes named __proto__ and constructor', async function () {
    const f = samlFixture();
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({
          attributes: [
            { name: '__proto__', values: [], rawValues: ['<isAdmin xmlns="urn:x">true</isAdmin>'] },
            { name: 'constructor', values: ['x'] },
            { name: 'isSuperuser', values: ['true'] },
          ],
        }).samlResponse,
      ),
    );
    expect(user!.isSuperuser).to.equal(false);
    expect(({} as Record<string, unknown>)['isAdmin']).to.equal(undefined);
    const stored = await f.users.getById(user!.id);
    expect(Object.keys(stored!.attributes)).to.deep.equal([]);
  });

  it('keeps extra attributes under configured keys only', async function () {
    const f = samlFixture({
      backend: {
        attributes: {
          extra: {
            department: { name: 'urn:x:dept' },
            roles: { name: 'urn:x:roles', cardinality: 'multiple' },
          },
        },
      },
    });
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({
          attributes: [
            { name: 'urn:x:dept', values: ['R&D'] },
            { name: 'urn:x:roles', values: ['a', 'b'] },
            { name: 'urn:x:other', values: ['z'] },
          ],
        }).samlResponse,
      ),
    );
    const stored = await f.users.getById(user!.id);
    expect(stored!.attributes).to.deep.equal({ department: 'R&D', roles: ['a', 'b'] });
  });

  it('returns the full NameID text across a comment (CVE-2017-11427 family)', async function () {
    const f = samlFixture();
    const user = await f.backend.authenticate(
      undefined,
      f.creds(f.idp.respond({ rawNameId: 'admin@corp.com<!---->.evil.com' }).samlResponse),
    );
    expect(user!.username).to.equal('admin@corp.com.evil.com');
  });

  it('uses a configured subject attribute instead of a transient NameID', async function () {
    const f = samlFixture({ corp: { subjectAttribute: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6' } });
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({
          nameId: '_transient123',
          nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
          attributes: [{ name: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6', values: ['alice@example.com'] }],
        }).samlResponse,
      ),
    );
    expect(user!.username).to.equal('alice@example.com');
  });

  it('reports the SAML session, capped by SessionNotOnOrAfter', async function () {
    const f = samlFixture();
    const end = Date.now() + 3_600_000;
    const user = await f.backend.authenticate(
      undefined,
      f.creds(
        f.idp.respond({ sessionNotOnOrAfter: instant(end), sessionIndex: '_s1' }).samlResponse,
      ),
    );
    expect(user!.saml).to.include({
      idp: 'corp',
      nameId: 'alice',
      sessionIndex: '_s1',
      expiresAt: Math.floor(end / 1000) * 1000,
    });
  });

  it('caps the session at maxSessionMs without SessionNotOnOrAfter', async function () {
    const f = samlFixture({ backend: { maxSessionMs: 600_000 } });
    const before = Date.now();
    const user = await f.backend.authenticate(
      undefined,
      f.creds(f.idp.respond({ sessionNotOnOrAfter: undefined }).samlResponse),
    );
    expect(user!.saml!.expiresAt).to.be.within(before + 600_000, Date.now() + 600_000);
  });

  it('accepts a required AuthnContext class', async function () {
    const f = samlFixture({ corp: { requiredAuthnContext: [MFA] } });
    const user = await f.backend.authenticate(
      undefined,
      f.creds(f.idp.respond({ authnContextClassRef: MFA }).samlResponse),
    );
    expect(user!.saml!.authnContextClassRef).to.equal(MFA);
  });

  it('accepts a fresh AuthnInstant for a ForceAuthn request', async function () {
    const f = samlFixture();
    const { requestId } = await f.backend.createLoginRequest('corp', { forceAuthn: true });
    const r = f.idp.respond({
      inResponseTo: requestId,
      subjectConfirmations: [
        {
          method: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
          recipient: ACS_URL,
          notOnOrAfter: instant(Date.now() + 60_000),
          inResponseTo: requestId,
        },
      ],
    });
    expect((await f.backend.authenticate(undefined, f.creds(r.samlResponse)))?.username).to.equal(
      'alice',
    );
  });

  it('accepts timestamps inside the clock skew', async function () {
    const f = samlFixture();
    const r = f.idp.respond({ notBefore: instant(Date.now() + 60_000) });
    expect(await f.backend.authenticate(undefined, f.creds(r.samlResponse))).to.not.equal(null);
  });

  it('lets the authorize hook veto with PERMISSION_DENIED', async function () {
    const f = samlFixture({
      backend: { authorize: ({ assertion }) => assertion.nameId !== 'mallory' },
    });
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(f.idp.respond({ nameId: 'mallory' }).samlResponse)),
      'PERMISSION_DENIED',
    );
    expect(new PermissionDenied().code).to.equal('PERMISSION_DENIED');
  });

  it('refuses inactive users', async function () {
    const f = samlFixture();
    const user = await f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse));
    await f.users.update(user!.id, { isActive: false });
    expect(await f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse))).to.equal(
      null,
    );
    expect(await f.backend.getUser(user!.id)).to.equal(null);
  });

  it('accepts a certificate rollover set: old and new keys both', async function () {
    const f = samlFixture();
    const newer = samlFixture();
    const both = samlFixture({
      corp: { signingCerts: [f.idp.keys.certPem, newer.idp.keys.certPem] },
    });
    expect(
      await both.backend.authenticate(undefined, both.creds(f.idp.respond().samlResponse)),
    ).to.not.equal(null);
  });

  it('reads the posted message once: the bytes checked are the bytes verified', async function () {
    const f = samlFixture();
    const valid = f.idp.respond().samlResponse;
    let reads = 0;
    const creds = {
      idp: 'corp',
      get samlResponse(): string {
        reads += 1;
        return valid;
      },
    };
    expect(await f.backend.authenticate(undefined, creds)).to.not.equal(null);
    expect(reads).to.equal(1);
  });

  it('is closed after close()', async function () {
    const f = samlFixture();
    await f.backend.close();
    await f.backend.close();
    await expectRejection(
      f.backend.authenticate(undefined, f.creds(f.idp.respond().samlResponse)),
      'CLOSED',
    );
  });

  it('chooses an IdP from the list or an e-mail domain', function () {
    const f = samlFixture({ corp: { emailDomains: ['Example.com'], displayName: 'Corp SSO' } });
    expect(f.backend.listIdps().map((c) => c.id)).to.deep.equal(['corp', 'partner']);
    expect(f.backend.idpForEmail('bob@EXAMPLE.com')?.id).to.equal('corp');
    expect(f.backend.idpForEmail('bob@elsewhere.org')).to.equal(undefined);
    expect(f.backend.acsUrl('partner')).to.equal(OTHER_ACS_URL);
  });
});
