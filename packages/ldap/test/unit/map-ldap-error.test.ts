import { AuthBridgeError } from '@authbridge/core';
import { expect } from 'chai';
import {
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  PasswordPolicyError,
  UnwillingToPerformError,
} from 'ldapts';
import { describe, it } from 'mocha';
import {
  AD_SUB_CODES,
  classifyBindError,
  parseAdSubCode,
  reasonFromPasswordPolicy,
  toBackendError,
} from '@authbridge/ldap';

const ad = (sub: string): InvalidCredentialsError =>
  new InvalidCredentialsError(
    `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${sub}, v4563`,
  );

describe('error mapping', function () {
  it('parses every AD sub-code into its reason', function () {
    const expected: Record<string, string> = {
      '525': 'ad-user-not-found',
      '52e': 'invalid-credentials',
      '530': 'logon-hours',
      '531': 'workstation-restricted',
      '532': 'password-expired',
      '533': 'account-disabled',
      '701': 'account-expired',
      '773': 'must-change-password',
      '775': 'account-locked',
    };
    expect(Object.keys(AD_SUB_CODES).sort()).to.deep.equal(Object.keys(expected).sort());
    for (const [sub, reason] of Object.entries(expected)) {
      expect(parseAdSubCode(ad(sub).message)).to.equal(sub);
      expect(classifyBindError(ad(sub), undefined)).to.deep.equal({
        kind: 'refused',
        reason,
        adSubCode: sub,
      });
    }
    expect(classifyBindError(ad('52E'), undefined)).to.deep.include({
      reason: 'invalid-credentials',
    });
    expect(parseAdSubCode('Invalid credentials')).to.equal(undefined);
  });

  it('prefers the ppolicy control over the result code', function () {
    const cases: [number, string][] = [
      [PasswordPolicyError.AccountLocked, 'account-locked'],
      [PasswordPolicyError.PasswordExpired, 'password-expired'],
      [PasswordPolicyError.ChangeAfterReset, 'must-change-password'],
    ];
    for (const [error, reason] of cases) {
      expect(classifyBindError(new InvalidCredentialsError('x'), { error })).to.deep.equal({
        kind: 'refused',
        reason,
      });
    }
    expect(reasonFromPasswordPolicy({ graceAuthNsRemaining: 3 })).to.equal('grace-login');
    expect(reasonFromPasswordPolicy({ timeBeforeExpiration: 3600 })).to.equal(undefined);
    expect(reasonFromPasswordPolicy(undefined)).to.equal(undefined);
  });

  it('treats 49, 19 and 53 on a bind as refused credentials', function () {
    expect(classifyBindError(new InvalidCredentialsError('x'), undefined)).to.deep.equal({
      kind: 'refused',
      reason: 'invalid-credentials',
    });
    expect(classifyBindError(new ConstraintViolationError('x'), undefined)).to.deep.equal({
      kind: 'refused',
      reason: 'bind-refused',
    });
    expect(classifyBindError(new UnwillingToPerformError('x'), undefined)).to.deep.equal({
      kind: 'refused',
      reason: 'bind-refused',
    });
  });

  it('maps everything else to BACKEND_UNAVAILABLE or BACKEND_TIMEOUT, never to a refusal', function () {
    const outcome = classifyBindError(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      undefined,
      'ldap://x',
    );
    expect(outcome.kind).to.equal('error');
    expect(outcome.kind === 'error' && outcome.error.code).to.equal('BACKEND_UNAVAILABLE');
    expect(toBackendError(new Error('BindRequest: Operation timed out')).code).to.equal(
      'BACKEND_TIMEOUT',
    );
    expect(toBackendError(new Error('Connection timeout')).code).to.equal('BACKEND_TIMEOUT');
    expect(toBackendError(new NoSuchObjectError('x')).code).to.equal('BACKEND_UNAVAILABLE');
    expect(toBackendError(new InsufficientAccessError('x')).code).to.equal('BACKEND_UNAVAILABLE');
    const keep = new AuthBridgeError('CLOSED');
    expect(toBackendError(keep)).to.equal(keep);
    // Detail is private: the public message is generic.
    const e = toBackendError(new Error('secret detail'), 'ldap://x');
    expect(e.message).to.not.include('secret');
    expect(e.detail).to.include('secret detail');
  });
});
