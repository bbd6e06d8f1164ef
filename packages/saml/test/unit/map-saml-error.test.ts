/**
 * Pins node-saml's error messages: each entry of the mapping table must still be in the installed
 * node-saml (or the library below it), and real crafted inputs must produce mapped messages. A
 * wording change upstream fails here instead of silently becoming "unrecognised".
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AuthBridgeError } from '@authbridge/core';
import { SAML } from '@node-saml/node-saml';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  KNOWN_SAML_MESSAGES,
  mapSamlError,
  type SamlFailureReason,
  samlFailureReason,
} from '../../src/index.js';
import { ACS_URL, SP_ENTITY_ID } from '../support/fixture.js';
import { buildResponseXml, encodePost, instant } from '../support/saml-xml.js';
import { TestIdp } from '../support/test-idp.js';
import { testKeyPair } from '@authbridge/testkit';
import { parse, serialize, xsw } from '../support/xml-mutations.js';

const require = createRequire(import.meta.url);

function librarySource(pkg: string, sub = 'lib'): string {
  const dir = join(dirname(require.resolve(`${pkg}/package.json`)), sub);
  return (
    readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n')
      // Messages are compared as runtime strings: undo the source's quote escapes.
      .replace(/\\(["'])/g, '$1')
  );
}

const SOURCES =
  librarySource('@node-saml/node-saml') +
  librarySource('xml-crypto') +
  librarySource('@xmldom/xmldom', 'lib');

/** For each pattern entry: a message it must match and the literal text node-saml builds it from. */
const PATTERN_SAMPLES: ReadonlyMap<string, readonly [sample: string, literal: string]> = new Map([
  [
    String(/^Error parsing \w+: '.*' is not a valid date$/s),
    ["Error parsing NotOnOrAfter: 'x' is not a valid date", 'is not a valid date'],
  ],
  [
    String(/^SAML provider returned \w+ error: /s),
    ['SAML provider returned Responder error: unspecified', 'SAML provider returned '],
  ],
  [
    String(/^SAML assertion audience mismatch\. Expected: /s),
    [
      'SAML assertion audience mismatch. Expected: a Received: b',
      'SAML assertion audience mismatch. Expected: ',
    ],
  ],
  [
    String(/^Unknown SAML issuer\. Expected: /s),
    ['Unknown SAML issuer. Expected: a Received: b', 'Unknown SAML issuer. Expected: '],
  ],
  [String(/^Bad status code: /s), ['Bad status code: urn:x', 'Bad status code: ']],
  [String(/ is not supported$/s), ['sha1 is not supported', ' is not supported']],
  [
    String(/^\[xmldom (error|fatalError|warning)\]/),
    ['[xmldom error]\telement parse error', '[xmldom '],
  ],
  [
    String(/^could not load signature that contains multiple SignedInfo nodes/),
    [
      'could not load signature that contains multiple SignedInfo nodes',
      'could not load signature that contains multiple SignedInfo nodes',
    ],
  ],
  [
    String(/^could not load reference for a node that contains multiple DigestValue nodes/),
    [
      'could not load reference for a node that contains multiple DigestValue nodes: <x/>',
      'could not load reference for a node that contains multiple DigestValue nodes',
    ],
  ],
]);

describe('map-saml-error', function () {
  describe('every known message is still in the installed libraries', function () {
    for (const known of KNOWN_SAML_MESSAGES) {
      it(`${String(known.match)} → ${known.reason}`, function () {
        if (typeof known.match === 'string') {
          expect(SOURCES, 'message text in node-saml/xml-crypto/xmldom').to.include(known.match);
          expect(samlFailureReason(known.match)).to.equal(known.reason);
        } else {
          const sample = PATTERN_SAMPLES.get(String(known.match));
          expect(sample, 'a sample for this pattern').to.not.equal(undefined);
          expect(SOURCES).to.include(sample![1]);
          expect(samlFailureReason(sample![0])).to.equal(known.reason);
        }
      });
    }
  });

  it('maps unknown messages to PROTOCOL_INVALID, reason "unrecognised"', function () {
    const err = mapSamlError(new Error('something new'));
    expect(err.code).to.equal('PROTOCOL_INVALID');
    expect(samlFailureReason('something new')).to.equal('unrecognised');
    expect(err.detail).to.include('unrecognised');
  });

  it('passes AuthBridgeErrors through unchanged (a store outage stays one)', function () {
    const outage = new AuthBridgeError('STORE_UNAVAILABLE');
    expect(mapSamlError(outage)).to.equal(outage);
  });

  it('keeps the public message generic', function () {
    expect(mapSamlError(new Error('Invalid signature')).message).to.equal(
      new AuthBridgeError('PROTOCOL_INVALID').message,
    );
  });

  describe('real node-saml failures map to the expected reason', function () {
    const idp = new TestIdp({
      entityId: 'https://idp.example.com/saml',
      sp: { entityId: SP_ENTITY_ID, acsUrl: ACS_URL },
    });
    const saml = (overrides: Partial<ConstructorParameters<typeof SAML>[0]> = {}): SAML =>
      new SAML({
        callbackUrl: ACS_URL,
        issuer: SP_ENTITY_ID,
        audience: SP_ENTITY_ID,
        idpCert: idp.keys.certPem,
        ...overrides,
      });
    const cases: readonly [string, SamlFailureReason, () => Promise<unknown>][] = [
      [
        'malformed XML',
        'xml-invalid',
        () => saml().validatePostResponseAsync({ SAMLResponse: encodePost('<samlp:Response') }),
      ],
      [
        'wrong key',
        'signature-invalid',
        () =>
          saml().validatePostResponseAsync({
            SAMLResponse: idp.respond({}, { keys: testKeyPair('attacker') }).samlResponse,
          }),
      ],
      [
        'XSW1',
        'signature-structure',
        () =>
          saml({ wantAssertionsSigned: false }).validatePostResponseAsync({
            SAMLResponse: encodePost(xsw(idp.respond({}, { sign: 'response' }).xml, 1)),
          }),
      ],
      [
        'XSW3',
        'multiple-assertions',
        () =>
          saml({ wantAuthnResponseSigned: false }).validatePostResponseAsync({
            SAMLResponse: encodePost(xsw(idp.respond({}, { sign: 'assertion' }).xml, 3)),
          }),
      ],
      [
        'audience',
        'audience',
        () =>
          saml().validatePostResponseAsync({
            SAMLResponse: idp.respond({ audiences: [['urn:other']] }).samlResponse,
          }),
      ],
      [
        'expired',
        'time-window',
        () =>
          saml().validatePostResponseAsync({
            SAMLResponse: idp.respond({ notOnOrAfter: instant(Date.now() - 3_600_000) })
              .samlResponse,
          }),
      ],
      [
        'unsigned error status',
        'idp-status',
        () =>
          saml({ wantAuthnResponseSigned: false }).validatePostResponseAsync({
            SAMLResponse: encodePost(
              buildResponseXml(
                idp.spec({ statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Requester' }),
                '',
              ),
            ),
          }),
      ],
      [
        'two roots',
        'xml-invalid',
        () => {
          const one = serialize(parse(idp.respond().xml));
          return saml().validatePostResponseAsync({ SAMLResponse: encodePost(one + one) });
        },
      ],
    ];
    for (const [name, reason, run] of cases) {
      it(`${name} → ${reason}`, async function () {
        let caught: unknown;
        try {
          await run();
        } catch (error) {
          caught = error;
        }
        expect(caught, 'node-saml must refuse').to.be.instanceOf(Error);
        expect(samlFailureReason((caught as Error).message)).to.equal(reason);
      });
    }
  });
});
