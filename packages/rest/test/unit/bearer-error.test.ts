import { AuthBridgeError, PermissionDenied } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import {
  bearerErrorResponse,
  InsufficientScope,
  parseBearerAuthorization,
  requireScopes,
} from '@authbridge/rest';
import { createUser } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';

describe('bearerErrorResponse (RFC 6750 §3)', function () {
  it('sends no error information when the token is absent', function () {
    expect(bearerErrorResponse(undefined, { realm: 'api' })).to.deep.equal({
      status: 401,
      error: undefined,
      wwwAuthenticate: 'Bearer realm="api"',
    });
    expect(bearerErrorResponse(undefined).wwwAuthenticate).to.equal('Bearer');
    expect(bearerErrorResponse(new AuthBridgeError('UNAUTHENTICATED')).error).to.equal(undefined);
  });

  it('maps a rejected token (null) and INVALID_TOKEN to 401 invalid_token', function () {
    for (const outcome of [
      null,
      new AuthBridgeError('INVALID_TOKEN'),
      new AuthBridgeError('INVALID_CREDENTIALS'),
    ]) {
      expect(bearerErrorResponse(outcome, { realm: 'api' })).to.deep.equal({
        status: 401,
        error: 'invalid_token',
        wwwAuthenticate: 'Bearer realm="api", error="invalid_token"',
      });
    }
  });

  it('maps INSUFFICIENT_SCOPE to 403 with the needed scopes', function () {
    expect(
      bearerErrorResponse(new InsufficientScope(['orders:read', 'orders:write']), { realm: 'api' }),
    ).to.deep.equal({
      status: 403,
      error: 'insufficient_scope',
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write"',
    });
    expect(
      bearerErrorResponse(new AuthBridgeError('INSUFFICIENT_SCOPE'), { scope: ['admin'] })
        .wwwAuthenticate,
    ).to.equal('Bearer error="insufficient_scope", scope="admin"');
    expect(bearerErrorResponse(new PermissionDenied()).status).to.equal(403);
  });

  it('maps INVALID_REQUEST to 400 invalid_request', function () {
    const r = bearerErrorResponse(new AuthBridgeError('INVALID_REQUEST'));
    expect(r.status).to.equal(400);
    expect(r.error).to.equal('invalid_request');
    expect(r.wwwAuthenticate).to.equal('Bearer error="invalid_request"');
  });

  it('sends no challenge for upstream failures and unknown errors', function () {
    for (const code of ['BACKEND_UNAVAILABLE', 'BACKEND_TIMEOUT'] as const) {
      expect(bearerErrorResponse(new AuthBridgeError(code))).to.deep.equal({
        status: 503,
        error: undefined,
        wwwAuthenticate: undefined,
      });
    }
    expect(bearerErrorResponse(new Error('boom')).status).to.equal(500);
    expect(bearerErrorResponse(new Error('boom')).wwwAuthenticate).to.equal(undefined);
  });

  it('keeps quoted values inside the RFC 6750 character set', function () {
    const r = bearerErrorResponse(null, { realm: 'a"b\\c\r\nSet-Cookie: x=1' });
    expect(r.wwwAuthenticate).to.equal('Bearer realm="abcSet-Cookie: x=1", error="invalid_token"');
    const s = bearerErrorResponse(new InsufficientScope(['a b', 'c"d']));
    expect(s.wwwAuthenticate).to.equal('Bearer error="insufficient_scope", scope="ab cd"');
  });

  it('adds an RFC 9728 resource_metadata parameter when given', function () {
    expect(
      bearerErrorResponse(undefined, {
        resourceMetadata: 'https://api.test/.well-known/oauth-protected-resource',
      }).wwwAuthenticate,
    ).to.equal('Bearer resource_metadata="https://api.test/.well-known/oauth-protected-resource"');
  });
});

describe('parseBearerAuthorization (RFC 6750 §2.1)', function () {
  it('reads one b64token, with a case-insensitive scheme', function () {
    expect(parseBearerAuthorization('Bearer abc.DEF-_~+/==')).to.deep.equal({
      token: 'abc.DEF-_~+/==',
    });
    expect(parseBearerAuthorization('bearer xyz')).to.deep.equal({ token: 'xyz' });
    expect(parseBearerAuthorization(['Bearer xyz'])).to.deep.equal({ token: 'xyz' });
  });

  it('treats no header or another scheme as absent', function () {
    expect(parseBearerAuthorization(undefined)).to.equal(undefined);
    expect(parseBearerAuthorization([])).to.equal(undefined);
    expect(parseBearerAuthorization('Basic YTpi')).to.equal(undefined);
  });

  it('rejects malformed bearer credentials with INVALID_REQUEST', async function () {
    for (const header of [
      'Bearer',
      'Bearer ',
      'Bearer a b',
      'Bearer a"b',
      ['Bearer a', 'Bearer b'],
    ]) {
      await expectRejection((async () => parseBearerAuthorization(header))(), 'INVALID_REQUEST');
    }
  });
});

describe('requireScopes', function () {
  const base = createUser({ id: 'u1', username: 'u1' });
  it('passes when every scope is held and throws InsufficientScope otherwise', async function () {
    const user = { ...base, scopes: ['read', 'write'] };
    requireScopes(user, ['read']);
    requireScopes(user, []);
    const error = await expectRejection(
      (async () => {
        requireScopes(user, ['read', 'admin']);
      })(),
      'INSUFFICIENT_SCOPE',
    );
    expect((error as InsufficientScope).requiredScopes).to.deep.equal(['read', 'admin']);
    await expectRejection(
      (async () => {
        requireScopes(base, ['read']);
      })(),
      'INSUFFICIENT_SCOPE',
    );
  });
});
