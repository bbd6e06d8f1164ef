import { AuthBridgeError } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { type ClaimPolicy, checkClaims } from '../../src/claims.js';
import { omit } from '../support/fakes.js';

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
const policy: ClaimPolicy = {
  issuer: 'https://as.test',
  requireIssuer: false,
  audience: ['https://api.test'],
  allowedClientIds: null,
  tokenTypes: null,
  clockToleranceSec: 5,
  ignoreCnf: false,
};
const good = {
  active: true,
  iss: 'https://as.test',
  aud: 'https://api.test',
  sub: 'user-1',
  client_id: 'app',
  scope: 'read  write',
  exp: NOW + 60,
  username: 'alice',
};

function reason(claims: object, p: ClaimPolicy = policy): string | undefined {
  const r = checkClaims(claims as Record<string, unknown>, p, NOW_MS, 'https://as.test/introspect');
  return r.ok ? undefined : r.reason;
}

describe('checkClaims', function () {
  it('builds a principal from good claims', function () {
    const r = checkClaims(good, policy, NOW_MS, 'x');
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.principal).to.include({
      issuer: 'https://as.test',
      subject: 'user-1',
      username: 'alice',
      clientId: 'app',
    });
    expect(r.principal.scopes).to.deep.equal(['read', 'write']);
    expect(r.principal.audience).to.deep.equal(['https://api.test']);
    expect(r.principal.expiresAt).to.equal((NOW + 60) * 1000);
    expect(Object.isFrozen(r.principal.claims)).to.equal(true);
  });

  it('rejects an expired token even though the server said active', function () {
    expect(reason({ ...good, exp: NOW - 6 })).to.equal('expired (exp)');
    expect(reason({ ...good, exp: NOW - 4 }), 'within tolerance').to.equal(undefined);
  });

  it('rejects a token that is not valid yet', function () {
    expect(reason({ ...good, nbf: NOW + 10 })).to.equal('not yet valid (nbf)');
  });

  it('checks the issuer when present, and requires it only when told to', function () {
    expect(reason({ ...good, iss: 'https://evil.test' })).to.equal('issuer (iss)');
    const noIss = omit(good, 'iss');
    expect(reason(noIss)).to.equal(undefined);
    expect(reason(noIss, { ...policy, requireIssuer: true })).to.equal('issuer (iss)');
  });

  it('requires the audience, as a string or in a list', function () {
    expect(reason({ ...good, aud: 'https://other.test' })).to.equal('audience (aud)');
    expect(reason({ ...good, aud: ['https://other.test', 'https://api.test'] })).to.equal(
      undefined,
    );
    const noAud = omit(good, 'aud');
    expect(reason(noAud)).to.equal('audience (aud)');
    expect(reason(noAud, { ...policy, audience: null })).to.equal(undefined);
  });

  it('applies the client allow-list and the token type list', function () {
    expect(reason(good, { ...policy, allowedClientIds: new Set(['other']) })).to.equal(
      'client (client_id)',
    );
    expect(reason(good, { ...policy, allowedClientIds: new Set(['app']) })).to.equal(undefined);
    // No client_id at all is not on the list either (the sub alone would make a principal).
    const noClient = omit(good, 'client_id');
    expect(reason(noClient)).to.equal(undefined);
    expect(reason(noClient, { ...policy, allowedClientIds: new Set(['app']) })).to.equal(
      'client (client_id)',
    );
    expect(
      reason({ ...good, client_id: '' }, { ...policy, allowedClientIds: new Set(['app']) }),
    ).to.equal('client (client_id)');
    expect(reason(good, { ...policy, tokenTypes: new Set(['bearer']) })).to.equal(
      'token type (token_type)',
    );
    expect(
      reason({ ...good, token_type: 'Bearer' }, { ...policy, tokenTypes: new Set(['bearer']) }),
    ).to.equal(undefined);
  });

  it('falls back to client_id for the subject, and needs one of the two', function () {
    const noSub = omit(good, 'sub');
    const r = checkClaims(noSub, policy, NOW_MS, 'x');
    expect(r.ok && r.principal.subject).to.equal('app');
    const neither = omit(noSub, 'client_id');
    expect(reason(neither)).to.equal('no subject (sub, client_id)');
  });

  it('treats a claim of the wrong type as a malformed response, not a bad token', function () {
    for (const bad of [
      { exp: String(NOW + 60) },
      { aud: 42 },
      { sub: 7 },
      { scope: { a: 1 } },
      { nbf: Number.NaN },
    ]) {
      let thrown: unknown;
      try {
        checkClaims({ ...good, ...bad }, policy, NOW_MS, 'x');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(bad)).to.be.instanceOf(AuthBridgeError);
      expect((thrown as AuthBridgeError).code).to.equal('BACKEND_UNAVAILABLE');
    }
  });

  it('refuses a sender-constrained token (cnf, any shape) unless the policy ignores cnf', function () {
    expect(reason({ ...good, cnf: { jkt: 'abc' } })).to.equal('sender-constrained (cnf)');
    expect(reason({ ...good, cnf: { 'x5t#S256': 'abc' } })).to.equal('sender-constrained (cnf)');
    expect(reason({ ...good, cnf: 'odd' })).to.equal('sender-constrained (cnf)');
    expect(reason({ ...good, cnf: null })).to.equal(undefined);
    expect(reason({ ...good, cnf: { jkt: 'abc' } }, { ...policy, ignoreCnf: true })).to.equal(
      undefined,
    );
  });
});
