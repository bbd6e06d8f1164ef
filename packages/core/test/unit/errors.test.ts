import {
  AuthBridgeError,
  ERROR_STATUS,
  isAuthBridgeError,
  PermissionDenied,
} from '@authbridge/core';
import { expect } from 'chai';

describe('AuthBridgeError', function () {
  it('derives status and expose from the code', function () {
    const e = new AuthBridgeError('INVALID_CREDENTIALS');
    expect(e).to.include({
      code: 'INVALID_CREDENTIALS',
      status: 401,
      expose: true,
      name: 'AuthBridgeError',
    });
    const outage = new AuthBridgeError('BACKEND_UNAVAILABLE', 'ldap down');
    expect(outage).to.include({ status: 503, expose: false });
  });

  it('keeps detail private: not serialised, not enumerable, only readable on purpose', function () {
    const e = new AuthBridgeError('BACKEND_UNAVAILABLE', 'ldap://dc1 refused', {
      detail: 'bind as cn=svc failed: 49',
    });
    expect(e.detail).to.equal('bind as cn=svc failed: 49');
    expect(JSON.stringify(e)).to.not.include('cn=svc');
    expect(Object.keys(e)).to.not.include('detail');
    expect(Object.assign({}, e)).to.not.have.property('detail');
  });

  it('shows the message for 4xx and a generic one for 5xx in toJSON', function () {
    expect(new AuthBridgeError('INVALID_REQUEST', 'missing username').toJSON()).to.deep.equal({
      code: 'INVALID_REQUEST',
      message: 'missing username',
    });
    expect(
      new AuthBridgeError('STORE_UNAVAILABLE', 'sqlite at /var/lib/x locked').toJSON(),
    ).to.deep.equal({
      code: 'STORE_UNAVAILABLE',
      message: 'Authentication service unavailable',
    });
  });

  it('keeps the cause', function () {
    const cause = new Error('ECONNREFUSED');
    expect(new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, { cause }).cause).to.equal(cause);
  });

  it('has a status for every code, and PermissionDenied is one of them', function () {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      expect(status, code).to.be.within(400, 599);
    }
    const denied = new PermissionDenied();
    expect(denied).to.be.instanceOf(AuthBridgeError);
    expect(denied).to.include({ code: 'PERMISSION_DENIED', status: 403, name: 'PermissionDenied' });
    expect(isAuthBridgeError(denied, 'PERMISSION_DENIED')).to.equal(true);
    expect(isAuthBridgeError(denied, 'INTERNAL')).to.equal(false);
    expect(isAuthBridgeError(new Error('x'))).to.equal(false);
  });
});
