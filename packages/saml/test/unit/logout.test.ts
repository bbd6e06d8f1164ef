/**
 * Single Logout: SP-initiated (our signed LogoutRequest, the IdP's LogoutResponse) and
 * IdP-initiated (its LogoutRequest ends the right local sessions), over Redirect and POST, with
 * the hostile inputs of saml.md rows D5 and E1–E5.
 */
import { inflateRawSync } from 'node:zlib';
import { type AuthBridgeErrorCode, encodeRelayStatePath } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import type { Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { type LogoutOutcome, type SamlSession, verifyRedirectQuery } from '../../src/index.js';
import {
  type FixtureOptions,
  SP_BASE_URL,
  SP_ENTITY_ID,
  type SamlFixture,
  samlFixture,
} from '../support/fixture.js';
import {
  ALG,
  buildAssertionXml,
  buildLogoutRequestXml,
  buildLogoutResponseXml,
  encodePost,
  instant,
  type LogoutRequestSpec,
  type LogoutResponseSpec,
  NS,
  redirectQuery,
  samlId,
  signElement,
  STATUS_SUCCESS,
} from '../support/saml-xml.js';
import { testKeyPair } from '@authbridge/testkit';
import { kid, parse } from '../support/xml-mutations.js';

const IDP_SLO = 'https://idp.example.com/slo';
const RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';
const PARTIAL = 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout';
const SP_SLO = `${SP_BASE_URL}/saml/corp/slo`;
const spKeys = testKeyPair('sp-logout');
const WITH_SLO: FixtureOptions = {
  corp: { sloUrl: IDP_SLO },
  backend: {
    sp: {
      entityId: SP_ENTITY_ID,
      baseUrl: SP_BASE_URL,
      signingKey: spKeys.privateKeyPem,
      signingCerts: [spKeys.certPem],
    },
  },
};

function logoutRequest(f: SamlFixture, overrides: Partial<LogoutRequestSpec> = {}): string {
  return buildLogoutRequestXml({
    id: samlId(),
    issueInstant: instant(Date.now()),
    issuer: f.idp.entityId,
    destination: SP_SLO,
    nameId: 'alice',
    sessionIndexes: [],
    ...overrides,
  });
}

function logoutResponse(f: SamlFixture, overrides: Partial<LogoutResponseSpec> = {}): string {
  return buildLogoutResponseXml({
    id: samlId(),
    issueInstant: instant(Date.now()),
    issuer: f.idp.entityId,
    destination: SP_SLO,
    inResponseTo: undefined,
    statusCode: STATUS_SUCCESS,
    ...overrides,
  });
}

function signedQuery(
  f: SamlFixture,
  kind: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  relayState?: string,
): string {
  return redirectQuery(kind, xml, {
    privateKeyPem: f.idp.keys.privateKeyPem,
    ...(relayState === undefined ? {} : { relayState }),
  });
}

async function loginSession(
  f: SamlFixture,
  nameId = 'alice',
  sessionIndex = samlId(),
): Promise<SamlSession> {
  const user = await f.backend.authenticate(
    undefined,
    f.creds(f.idp.respond({ nameId, sessionIndex }).samlResponse),
  );
  return user!.saml!;
}

describe('Single Logout', function () {
  it('SP-initiated: signed LogoutRequest out, signed LogoutResponse back', async function () {
    const f = samlFixture(WITH_SLO);
    const session = await loginSession(f, 'alice', '_idx1');
    const out = await f.backend.createLogoutRequest(session, { relayState: '/bye' });
    const url = new URL(out.url);
    expect(url.origin + url.pathname).to.equal(IDP_SLO);
    expect(url.searchParams.get('SigAlg')).to.equal(ALG.rsaSha256);
    expect(url.searchParams.get('Signature')).to.be.a('string');
    const xml = parse(
      inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8'),
    );
    expect(xml.getAttribute('ID')).to.equal(out.requestId);
    expect(kid(xml, NS.assertion, 'NameID').textContent).to.equal('alice');
    expect(kid(xml, NS.protocol, 'SessionIndex').textContent).to.equal('_idx1');
    const outcome = await f.backend.handleLogoutRedirect(
      'corp',
      signedQuery(f, 'SAMLResponse', logoutResponse(f, { inResponseTo: out.requestId }), '/bye'),
    );
    expect(outcome).to.deep.equal({
      kind: 'logout-response',
      relayState: '/bye',
      success: true,
      status: STATUS_SUCCESS,
    });
    // The request is consumed: the same LogoutResponse again is refused.
    await expectRejection(
      f.backend.handleLogoutRedirect(
        'corp',
        signedQuery(f, 'SAMLResponse', logoutResponse(f, { inResponseTo: out.requestId })),
      ),
      'PROTOCOL_INVALID',
    );
  });

  it('IdP-initiated: ends exactly the sessions of the named NameID and SessionIndex', async function () {
    const f = samlFixture(WITH_SLO);
    const a1 = await loginSession(f, 'alice', '_a1');
    const a2 = await loginSession(f, 'alice', '_a2');
    const b = await loginSession(f, 'bob', '_b1');
    await f.backend.recordSession(a1, 'sess-a1');
    await f.backend.recordSession(a2, 'sess-a2');
    await f.backend.recordSession(b, 'sess-b');
    const one = (await f.backend.handleLogoutRedirect(
      'corp',
      signedQuery(f, 'SAMLRequest', logoutRequest(f, { sessionIndexes: ['_a1'] })),
    )) as Extract<LogoutOutcome, { kind: 'logout-request' }>;
    expect(one.kind).to.equal('logout-request');
    expect(one.sessionIds).to.deep.equal(['sess-a1']);
    expect(one.response?.binding).to.equal('redirect');
    const response = new URL(one.response!.url);
    expect(response.origin + response.pathname).to.equal(IDP_SLO);
    expect(response.searchParams.get('Signature')).to.be.a('string');
    const all = (await f.backend.handleLogoutRedirect(
      'corp',
      signedQuery(f, 'SAMLRequest', logoutRequest(f)),
    )) as Extract<LogoutOutcome, { kind: 'logout-request' }>;
    expect(all.sessionIds, 'no SessionIndex: every session of the NameID').to.deep.equal([
      'sess-a2',
    ]);
  });

  it('follows RelayState values that contain the text "SAMLRequest" (exact parameter names)', async function () {
    const f = samlFixture(WITH_SLO);
    const out = await f.backend.createLogoutRequest(await loginSession(f));
    const outcome = await f.backend.handleLogoutRedirect(
      'corp',
      signedQuery(
        f,
        'SAMLResponse',
        logoutResponse(f, { inResponseTo: out.requestId }),
        '/x?SAMLRequest=1',
      ),
    );
    expect(outcome).to.include({ kind: 'logout-response', relayState: '/x?SAMLRequest=1' });
  });

  it('accepts a signed LogoutRequest by HTTP-POST', async function () {
    const f = samlFixture(WITH_SLO);
    await f.backend.recordSession(await loginSession(f, 'alice', '_p1'), 'sess-p1');
    const signed = signElement(logoutRequest(f, { sessionIndexes: ['_p1'] }), 'LogoutRequest', {
      privateKeyPem: f.idp.keys.privateKeyPem,
    });
    const outcome = await f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(signed) });
    expect(outcome.kind === 'logout-request' && outcome.sessionIds).to.deep.equal(['sess-p1']);
  });

  it('IdP-initiated without an IdP SingleLogoutService: the sessions end, with no answer to send', async function () {
    const f = samlFixture({ corp: {} });
    await f.backend.recordSession(await loginSession(f, 'alice', '_n1'), 'sess-n1');
    const signed = signElement(logoutRequest(f), 'LogoutRequest', {
      privateKeyPem: f.idp.keys.privateKeyPem,
    });
    const outcome = await f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(signed) });
    expect(outcome).to.deep.equal({
      kind: 'logout-request',
      nameId: 'alice',
      sessionIds: ['sess-n1'],
      response: undefined,
    });
    // Taken from the index: a second LogoutRequest finds nothing left to end.
    const again = signElement(logoutRequest(f), 'LogoutRequest', {
      privateKeyPem: f.idp.keys.privateKeyPem,
    });
    const second = await f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(again) });
    expect(second.kind === 'logout-request' && second.sessionIds).to.deep.equal([]);
    // A forged one is still refused, endpoint or not.
    await expectRejection(
      f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(logoutRequest(f)) }),
      'PROTOCOL_INVALID',
    );
  });

  it('without an SP signing key: no unsigned logout message ever goes to the IdP', async function () {
    const f = samlFixture({ corp: { sloUrl: IDP_SLO } });
    const session = await loginSession(f, 'alice', '_k1');
    // SP-initiated: unavailable (the caller logs out locally).
    await expectRejection(f.backend.createLogoutRequest(session), 'INVALID_REQUEST');
    // IdP-initiated: the sessions end, and no unsigned LogoutResponse is built.
    await f.backend.recordSession(session, 'sess-k1');
    const outcome = await f.backend.handleLogoutRedirect(
      'corp',
      signedQuery(f, 'SAMLRequest', logoutRequest(f, { sessionIndexes: ['_k1'] }), 'idp-state'),
    );
    expect(outcome).to.deep.equal({
      kind: 'logout-request',
      nameId: 'alice',
      sessionIds: ['sess-k1'],
      response: undefined,
    });
  });

  it("sends back the NameID's NameQualifier and SPNameQualifier (Redirect and POST)", async function () {
    const idpEntityId = samlFixture().idp.entityId;
    const qualified = (x: string): string =>
      x.replace(
        '<saml:NameID ',
        `<saml:NameID NameQualifier="${idpEntityId}" SPNameQualifier="${SP_ENTITY_ID}" `,
      );
    for (const sloBinding of ['redirect', 'post'] as const) {
      const f = samlFixture({ ...WITH_SLO, corp: { sloUrl: IDP_SLO, sloBinding } });
      const user = await f.backend.authenticate(
        undefined,
        f.creds(f.idp.respond({ nameId: 'alice' }, { assertionXml: qualified }).samlResponse),
      );
      expect(user!.saml).to.include({
        nameQualifier: idpEntityId,
        spNameQualifier: SP_ENTITY_ID,
      });
      const out = await f.backend.createLogoutRequest(user!.saml!);
      const xml =
        out.binding === 'redirect'
          ? inflateRawSync(
              Buffer.from(new URL(out.url).searchParams.get('SAMLRequest')!, 'base64'),
            ).toString('utf8')
          : Buffer.from(out.fields['SAMLRequest']!, 'base64').toString('utf8');
      const nameId = kid(parse(xml), NS.assertion, 'NameID');
      expect(nameId.getAttribute('NameQualifier'), sloBinding).to.equal(idpEntityId);
      expect(nameId.getAttribute('SPNameQualifier'), sloBinding).to.equal(SP_ENTITY_ID);
      expect(nameId.textContent).to.equal('alice');
    }
  });

  it("signs our RelayState so that it verifies, whatever path it holds (space ~ ! ' ( ))", async function () {
    const f = samlFixture(WITH_SLO);
    const session = await loginSession(f);
    const paths = ['/~alice/', '/docs/(draft)!', "/it's", '/a b', '/plain?x=1&y=%20'];
    for (const path of paths) {
      const logoutOut = await f.backend.createLogoutRequest(session, { relayState: path });
      const loginOut = await f.backend.createLoginRequest('corp', { relayState: path });
      for (const url of [logoutOut.url, loginOut.url]) {
        // What an IdP does: check the signature over the query as it arrives.
        const message = verifyRedirectQuery(new URL(url).search.slice(1), [spKeys.certPem], 1e6);
        expect(message.relayState, path).to.equal(encodeRelayStatePath(path));
      }
    }
    expect(encodeRelayStatePath("/a b~!'()")).to.equal('/a%20b%7E%21%27%28%29');
    expect(encodeRelayStatePath('/a%20b')).to.equal('/a%20b');
  });

  it('refuses sloResponseUrl without sloUrl', function () {
    expect(() => samlFixture({ corp: { sloResponseUrl: IDP_SLO } }))
      .to.throw()
      .with.property('code', 'CONFIG_INVALID');
  });

  it('reports a non-Success LogoutResponse to our request as answered, with its status', async function () {
    const f = samlFixture(WITH_SLO);
    for (const status of [RESPONDER, 'urn:oasis:names:tc:SAML:2.0:status:Requester', PARTIAL]) {
      const out = await f.backend.createLogoutRequest(await loginSession(f), {
        relayState: '/bye',
      });
      const outcome = await f.backend.handleLogoutRedirect(
        'corp',
        signedQuery(
          f,
          'SAMLResponse',
          logoutResponse(f, { inResponseTo: out.requestId, statusCode: status }),
          '/bye',
        ),
      );
      expect(outcome).to.deep.equal({
        kind: 'logout-response',
        relayState: '/bye',
        success: false,
        status,
      });
    }
  });

  describe('outbound HTTP-POST (sloBinding post)', function () {
    const WITH_POST_SLO: FixtureOptions = {
      ...WITH_SLO,
      corp: { sloUrl: IDP_SLO, sloBinding: 'post' },
    };

    /** The posted message, after checking its enveloped signature with the SP certificate. */
    function verifiedPost(base64: string, localName: string): Element {
      const xml = Buffer.from(base64, 'base64').toString('utf8');
      expect(xml, 'plain base64, not deflated').to.match(/^<samlp:/);
      const doc = parse(xml);
      expect(doc.localName).to.equal(localName);
      const signatures = doc.getElementsByTagNameNS(NS.dsig, 'Signature');
      expect(signatures.length).to.equal(1);
      // Schema order: the Signature right after the Issuer.
      expect(signatures[0]!.parentNode).to.equal(doc);
      expect(kid(doc, NS.assertion, 'Issuer').nextSibling).to.equal(signatures[0]);
      const sig = new SignedXml({ publicCert: spKeys.certPem });
      sig.loadSignature(signatures[0]!);
      expect(sig.checkSignature(xml), 'verifies with the SP certificate').to.equal(true);
      expect(sig.signatureAlgorithm).to.equal(ALG.rsaSha256);
      expect(sig.canonicalizationAlgorithm).to.equal(ALG.excC14n);
      const refs = sig.getReferences();
      expect(refs.map((r) => r.uri)).to.deep.equal([`#${doc.getAttribute('ID')!}`]);
      expect(refs[0]!.digestAlgorithm).to.equal(ALG.sha256);
      // The signed bytes are the whole root (one Reference to its ID).
      expect(sig.getSignedReferences()).to.have.length(1);
      return doc;
    }

    it('SP-initiated: a signed LogoutRequest as form fields, answered by a LogoutResponse', async function () {
      const f = samlFixture(WITH_POST_SLO);
      const session = await loginSession(f, 'alice', '_post1');
      const out = await f.backend.createLogoutRequest(session, { relayState: '/bye' });
      if (out.binding !== 'post') throw new Error('expected the POST binding');
      expect(out.url).to.equal(IDP_SLO);
      expect(Object.keys(out.fields).sort()).to.deep.equal(['RelayState', 'SAMLRequest']);
      expect(out.fields['RelayState']).to.equal('/bye');
      const doc = verifiedPost(out.fields['SAMLRequest']!, 'LogoutRequest');
      expect(doc.getAttribute('ID')).to.equal(out.requestId);
      expect(doc.getAttribute('Destination')).to.equal(IDP_SLO);
      expect(doc.getAttribute('Version')).to.equal('2.0');
      expect(kid(doc, NS.assertion, 'Issuer').textContent).to.equal(SP_ENTITY_ID);
      expect(kid(doc, NS.assertion, 'NameID').textContent).to.equal('alice');
      expect(kid(doc, NS.protocol, 'SessionIndex').textContent).to.equal('_post1');
      // Its ID was recorded: the IdP's answer is accepted once.
      const back = signedQuery(
        f,
        'SAMLResponse',
        logoutResponse(f, { inResponseTo: out.requestId }),
      );
      expect(await f.backend.handleLogoutRedirect('corp', back)).to.deep.equal({
        kind: 'logout-response',
        relayState: undefined,
        success: true,
        status: STATUS_SUCCESS,
      });
      await expectRejection(f.backend.handleLogoutRedirect('corp', back), 'PROTOCOL_INVALID');
    });

    it('IdP-initiated: the LogoutResponse is posted, signed, InResponseTo the request', async function () {
      const f = samlFixture(WITH_POST_SLO);
      await f.backend.recordSession(await loginSession(f, 'alice', '_post2'), 'sess-post2');
      const request = logoutRequest(f, { sessionIndexes: ['_post2'] });
      const requestId = parse(request).getAttribute('ID')!;
      const outcome = await f.backend.handleLogoutRedirect(
        'corp',
        signedQuery(f, 'SAMLRequest', request, 'idp-state'),
      );
      if (outcome.kind !== 'logout-request' || outcome.response?.binding !== 'post')
        throw new Error('expected a posted LogoutResponse');
      expect(outcome.sessionIds).to.deep.equal(['sess-post2']);
      expect(outcome.response.url).to.equal(IDP_SLO);
      expect(outcome.response.fields['RelayState'], 'IdP state returned verbatim').to.equal(
        'idp-state',
      );
      const doc = verifiedPost(outcome.response.fields['SAMLResponse']!, 'LogoutResponse');
      expect(doc.getAttribute('InResponseTo')).to.equal(requestId);
      expect(doc.getAttribute('Destination')).to.equal(IDP_SLO);
      expect(kid(doc, NS.assertion, 'Issuer').textContent).to.equal(SP_ENTITY_ID);
      const code = kid(kid(doc, NS.protocol, 'Status'), NS.protocol, 'StatusCode');
      expect(code.getAttribute('Value')).to.equal(STATUS_SUCCESS);
    });

    it('escapes values it writes into the XML', async function () {
      const f = samlFixture(WITH_POST_SLO);
      const session = await loginSession(f, 'a<b>&"c\'', '_x');
      const out = await f.backend.createLogoutRequest(session);
      if (out.binding !== 'post') throw new Error('expected the POST binding');
      expect(out.fields).to.not.have.property('RelayState');
      const doc = verifiedPost(out.fields['SAMLRequest']!, 'LogoutRequest');
      expect(kid(doc, NS.assertion, 'NameID').textContent).to.equal('a<b>&"c\'');
    });

    it('refuses an unknown sloBinding', function () {
      expect(() =>
        samlFixture({ ...WITH_SLO, corp: { sloUrl: IDP_SLO, sloBinding: 'soap' as 'post' } }),
      ).to.throw(/sloBinding/);
    });
  });

  interface LogoutCase {
    readonly row: string;
    readonly name: string;
    readonly code: AuthBridgeErrorCode;
    run(f: SamlFixture): Promise<unknown>;
  }
  const redirect = (f: SamlFixture, query: string): Promise<unknown> =>
    f.backend.handleLogoutRedirect('corp', query);
  const CASES: readonly LogoutCase[] = [
    {
      row: 'E1',
      name: 'unsigned Redirect LogoutRequest',
      code: 'PROTOCOL_INVALID',
      run: (f) => redirect(f, redirectQuery('SAMLRequest', logoutRequest(f))),
    },
    {
      row: 'E4',
      name: 'unsigned Redirect LogoutResponse',
      code: 'PROTOCOL_INVALID',
      run: async (f) => {
        const out = await f.backend.createLogoutRequest(await loginSession(f));
        return redirect(
          f,
          redirectQuery('SAMLResponse', logoutResponse(f, { inResponseTo: out.requestId })),
        );
      },
    },
    {
      row: 'E2',
      name: 'SigAlg RSA-SHA1',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          redirectQuery('SAMLRequest', logoutRequest(f), {
            privateKeyPem: f.idp.keys.privateKeyPem,
            sigAlg: ALG.rsaSha1,
          }),
        ),
    },
    {
      row: 'E2',
      name: 'unknown SigAlg',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          redirectQuery('SAMLRequest', logoutRequest(f), {
            privateKeyPem: f.idp.keys.privateKeyPem,
            sigAlg: 'urn:x',
          }),
        ),
    },
    {
      row: 'E2',
      name: 'duplicated SAMLRequest parameter',
      code: 'PROTOCOL_INVALID',
      run: (f) => {
        const q = signedQuery(f, 'SAMLRequest', logoutRequest(f));
        return redirect(f, `${q}&${q.split('&')[0]!}`);
      },
    },
    {
      row: 'E2',
      name: 'SAMLRequest and SAMLResponse together',
      code: 'PROTOCOL_INVALID',
      run: (f) => redirect(f, `${signedQuery(f, 'SAMLRequest', logoutRequest(f))}&SAMLResponse=x`),
    },
    {
      row: 'E2',
      name: 'message re-encoded after signing (lower-case escapes)',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(f, 'SAMLRequest', logoutRequest(f)).replace(
            /%([0-9A-F]{2})/,
            (_, h: string) => `%${h.toLowerCase()}`,
          ),
        ),
    },
    {
      row: 'E2',
      name: 'signed by a key the SP does not pin',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          redirectQuery('SAMLRequest', logoutRequest(f), {
            privateKeyPem: testKeyPair('attacker').privateKeyPem,
          }),
        ),
    },
    {
      row: 'E2',
      name: 'RelayState swapped after signing',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(f, 'SAMLRequest', logoutRequest(f), '/a').replace(
            'RelayState=%2Fa',
            'RelayState=%2Fb',
          ),
        ),
    },
    {
      row: 'D5',
      name: 'the same LogoutRequest twice',
      code: 'REPLAY_DETECTED',
      run: async (f) => {
        const q = signedQuery(f, 'SAMLRequest', logoutRequest(f));
        await redirect(f, q);
        return redirect(f, q);
      },
    },
    {
      row: 'D5',
      name: 'LogoutRequest past NotOnOrAfter (CVE-2023-40178)',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(
            f,
            'SAMLRequest',
            logoutRequest(f, { notOnOrAfter: instant(Date.now() - 3_600_000) }),
          ),
        ),
    },
    {
      row: 'E3',
      name: 'LogoutRequest for another SP (Destination)',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(
            f,
            'SAMLRequest',
            logoutRequest(f, { destination: 'https://other-sp.example/slo' }),
          ),
        ),
    },
    {
      row: 'E3',
      name: 'LogoutRequest without Destination',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(f, signedQuery(f, 'SAMLRequest', logoutRequest(f, { destination: undefined }))),
    },
    {
      row: 'E3',
      name: 'LogoutRequest from another issuer',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(
            f,
            'SAMLRequest',
            logoutRequest(f, { issuer: 'https://partner.example.org/idp' }),
          ),
        ),
    },
    {
      row: 'E3',
      name: 'LogoutRequest issued an hour ago',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(
            f,
            'SAMLRequest',
            logoutRequest(f, { issueInstant: instant(Date.now() - 3_600_000) }),
          ),
        ),
    },
    {
      row: 'E4',
      name: 'LogoutResponse to no request of ours',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(f, signedQuery(f, 'SAMLResponse', logoutResponse(f, { inResponseTo: samlId() }))),
    },
    {
      row: 'E4',
      name: 'LogoutResponse without InResponseTo',
      code: 'PROTOCOL_INVALID',
      run: (f) => redirect(f, signedQuery(f, 'SAMLResponse', logoutResponse(f))),
    },
    {
      row: 'E4',
      name: 'non-Success LogoutResponse signed by a key the SP does not pin',
      code: 'PROTOCOL_INVALID',
      run: async (f) => {
        const out = await f.backend.createLogoutRequest(await loginSession(f));
        return redirect(
          f,
          redirectQuery(
            'SAMLResponse',
            logoutResponse(f, { inResponseTo: out.requestId, statusCode: RESPONDER }),
            { privateKeyPem: testKeyPair('attacker').privateKeyPem },
          ),
        );
      },
    },
    {
      row: 'E4',
      name: 'unsigned non-Success LogoutResponse',
      code: 'PROTOCOL_INVALID',
      run: async (f) => {
        const out = await f.backend.createLogoutRequest(await loginSession(f));
        return redirect(
          f,
          redirectQuery(
            'SAMLResponse',
            logoutResponse(f, { inResponseTo: out.requestId, statusCode: RESPONDER }),
          ),
        );
      },
    },
    {
      row: 'E4',
      name: 'non-Success LogoutResponse to no request of ours',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(
          f,
          signedQuery(
            f,
            'SAMLResponse',
            logoutResponse(f, { inResponseTo: samlId(), statusCode: RESPONDER }),
          ),
        ),
    },
    {
      row: 'E4',
      name: "LogoutResponse answering partner's request at corp",
      code: 'PROTOCOL_INVALID',
      run: async (f) => {
        const out = await f.backend
          .createLogoutRequest({ ...(await loginSession(f)), idp: 'partner' })
          .catch(() => ({ requestId: samlId() }));
        return redirect(
          f,
          signedQuery(f, 'SAMLResponse', logoutResponse(f, { inResponseTo: out.requestId })),
        );
      },
    },
    {
      row: 'A5',
      name: 'Redirect deflate bomb',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        redirect(f, signedQuery(f, 'SAMLRequest', `<a>${' '.repeat(12 * 1024 * 1024)}</a>`)),
    },
    {
      row: 'E1',
      name: 'unsigned POST LogoutRequest',
      code: 'PROTOCOL_INVALID',
      run: (f) => f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(logoutRequest(f)) }),
    },
    {
      row: 'E5',
      name: 'attacker LogoutRequest wrapping a captured signed Assertion (samlify#634 shape)',
      code: 'PROTOCOL_INVALID',
      run: (f) => {
        const signedAssertion = signElement(buildAssertionXml(f.idp.spec()), 'Assertion', {
          privateKeyPem: f.idp.keys.privateKeyPem,
        });
        const evil = logoutRequest(f, { nameId: 'bob' }).replace(
          '</samlp:LogoutRequest>',
          `${signedAssertion}</samlp:LogoutRequest>`,
        );
        return f.backend.handleLogoutPost('corp', { SAMLRequest: encodePost(evil) });
      },
    },
    {
      row: 'E5',
      name: 'POST LogoutRequest signed by another key',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        f.backend.handleLogoutPost('corp', {
          SAMLRequest: encodePost(
            signElement(logoutRequest(f), 'LogoutRequest', {
              privateKeyPem: testKeyPair('attacker').privateKeyPem,
            }),
          ),
        }),
    },
    {
      row: '-',
      name: 'logout at an unknown IdP',
      code: 'PROTOCOL_INVALID',
      run: (f) =>
        f.backend.handleLogoutRedirect('nope', signedQuery(f, 'SAMLRequest', logoutRequest(f))),
    },
  ];
  for (const c of CASES) {
    it(`${c.row}: ${c.name} → ${c.code}`, async function () {
      const f = samlFixture(WITH_SLO);
      await expectRejection(c.run(f), c.code);
    });
  }
});
