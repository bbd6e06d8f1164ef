/**
 * RelayState (no open redirect) and the byte-level guards (size, encoding, DTD, algorithms,
 * bounded inflate).
 */
import { deflateRawSync } from 'node:zlib';
import type { AuthBridgeError } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import {
  assertSafeXml,
  decodePostMessage,
  decodeRedirectMessage,
  isSafeRelayState,
  safeRelayState,
} from '../../src/index.js';
import { parseInstant } from '../../src/signed-dom.js';

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as AuthBridgeError).code;
  }
  return undefined;
}

describe('RelayState', function () {
  const safe = ['/', '/inbox', '/a/b?c=d#e', '/%2F%2Fnot-a-host'];
  const unsafe = [
    'https://evil.example/',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'inbox',
    '/a\r\nSet-Cookie: x=y',
    '/\u0000',
    `/${'a'.repeat(80)}`,
    '',
  ];
  for (const value of safe)
    it(`follows ${JSON.stringify(value)}`, () => expect(isSafeRelayState(value)).to.equal(true));
  for (const value of unsafe)
    it(`does not follow ${JSON.stringify(value)}`, () =>
      expect(safeRelayState(value, '/home')).to.equal('/home'));
  it('does not follow non-strings', () => expect(safeRelayState(42)).to.equal('/'));
});

describe('raw message guards', function () {
  const limits = { maxMessageBytes: 64 * 1024 };
  const ok = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>';

  it('accepts plain UTF-8 XML, with or without an XML declaration', function () {
    expect(assertSafeXml(Buffer.from(ok))).to.equal(ok);
    expect(
      code(() => assertSafeXml(Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>${ok}`))),
    ).to.equal(undefined);
  });

  it('refuses a declared non-UTF-8 encoding', function () {
    expect(
      code(() => assertSafeXml(Buffer.from(`<?xml version="1.0" encoding="ISO-8859-1"?>${ok}`))),
    ).to.equal('PROTOCOL_INVALID');
  });

  it('refuses an Algorithm in single quotes that is not allowed', function () {
    expect(
      code(() =>
        assertSafeXml(Buffer.from(`<a Algorithm='http://www.w3.org/2000/09/xmldsig#sha1'/>`)),
      ),
    ).to.equal('PROTOCOL_INVALID');
  });

  it('inflates a Redirect message within the limit', function () {
    const value = deflateRawSync(Buffer.from(ok)).toString('base64');
    expect(decodeRedirectMessage(value, limits)).to.equal(ok);
  });

  it('stops a deflate bomb at the limit (12 KB → 12 MB)', function () {
    const bomb = deflateRawSync(Buffer.alloc(12 * 1024 * 1024, 0x20)).toString('base64');
    expect(bomb.length).to.be.below(64 * 1024);
    expect(code(() => decodeRedirectMessage(bomb, limits))).to.equal('PROTOCOL_INVALID');
  });

  it('refuses a long whitespace run before a bad character at once (no regex backtracking)', function () {
    // Quadratic in the old pattern: minutes for this input, far past the test's timeout.
    const big = { maxMessageBytes: 256 * 1024 };
    for (const fill of [' ', '\n', '\r\n', 'A ']) {
      const value = `${fill.repeat(Math.floor(300_000 / fill.length))}!`;
      expect(code(() => decodePostMessage(value, big))).to.equal('PROTOCOL_INVALID');
      expect(code(() => decodeRedirectMessage(value.slice(0, 300_000), big))).to.equal(
        'PROTOCOL_INVALID',
      );
    }
    // Padding may still be followed by line breaks, as some IdPs wrap.
    const wrapped = `${Buffer.from(ok).toString('base64')}\r\n`;
    expect(decodePostMessage(wrapped, limits)).to.equal(ok);
  });

  it('refuses an oversize POST body before decoding it', function () {
    expect(code(() => decodePostMessage('A'.repeat(200 * 1024), limits))).to.equal(
      'PROTOCOL_INVALID',
    );
  });
});

describe('SAML instants', function () {
  it('parses UTC xs:dateTime with and without fractions', function () {
    expect(parseInstant('2026-01-02T03:04:05Z', 'x')).to.equal(Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(parseInstant('2026-01-02T03:04:05.250Z', 'x')).to.equal(
      Date.UTC(2026, 0, 2, 3, 4, 5, 250),
    );
  });
  for (const bad of [
    '2024-02-30T00:00:00Z',
    '2024-13-45T00:00:00Z',
    '2024-01-01T00:00:00',
    '2024-01-01T00:00:00+02:00',
    '2024-01-01',
    '',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, function () {
      expect(code(() => parseInstant(bad, 'x'))).to.equal('PROTOCOL_INVALID');
    });
  }
});
