import { AuthBridgeError } from '@authbridge/core';
import { expect } from 'chai';
import { errors } from 'jose';
import { describe, it } from 'mocha';
import {
  fromJoseError,
  fromStatus,
  fromTransportError,
  isUpstreamFailure,
  upstreamLabel,
} from '../../src/map-upstream-error.js';
import { connectionRefused } from '../support/fakes.js';

describe('map-upstream-error', function () {
  it('maps a refused connection to BACKEND_UNAVAILABLE with the errno in the detail', function () {
    const e = fromTransportError(connectionRefused(), 'http://as.test/x', false);
    expect(e.code).to.equal('BACKEND_UNAVAILABLE');
    expect(e.detail).to.contain('ECONNREFUSED');
  });

  it('maps an abort or a fired deadline to BACKEND_TIMEOUT', function () {
    expect(fromTransportError(new Error('whatever'), 'x', true).code).to.equal('BACKEND_TIMEOUT');
    expect(fromTransportError(new DOMException('late', 'TimeoutError'), 'x', false).code).to.equal(
      'BACKEND_TIMEOUT',
    );
  });

  it('passes its own errors through untouched', function () {
    const own = new AuthBridgeError('BACKEND_UNAVAILABLE');
    expect(fromTransportError(own, 'x', true)).to.equal(own);
  });

  it('maps statuses to BACKEND_UNAVAILABLE', function () {
    expect(fromStatus(502, 'x').code).to.equal('BACKEND_UNAVAILABLE');
    expect(isUpstreamFailure(fromStatus(502, 'x'))).to.equal(true);
    expect(isUpstreamFailure(new AuthBridgeError('INVALID_TOKEN'))).to.equal(false);
  });

  it('classifies jose errors about the token as invalid', function () {
    const invalid = [
      new errors.JWTExpired('exp', {}),
      new errors.JWTClaimValidationFailed('aud', {}),
      new errors.JWSSignatureVerificationFailed(),
      new errors.JOSEAlgNotAllowed('alg'),
      new errors.JWSInvalid('bad'),
      new errors.JWTInvalid('bad'),
      new errors.JWKSNoMatchingKey(),
    ];
    for (const error of invalid) {
      expect(fromJoseError(error, 'x').kind, error.code).to.equal('invalid');
    }
  });

  it('classifies jose key-set failures as upstream errors', function () {
    const timeout = fromJoseError(new errors.JWKSTimeout(), 'x');
    expect(timeout.kind === 'error' && timeout.error.code).to.equal('BACKEND_TIMEOUT');
    const bad = fromJoseError(new errors.JWKSInvalid('nope'), 'x');
    expect(bad.kind === 'error' && bad.error.code).to.equal('BACKEND_UNAVAILABLE');
    const generic = fromJoseError(new errors.JOSEError('Expected 200 OK'), 'x');
    expect(generic.kind === 'error' && generic.error.code).to.equal('BACKEND_UNAVAILABLE');
    const net = fromJoseError(connectionRefused(), 'x');
    expect(net.kind === 'error' && net.error.code).to.equal('BACKEND_UNAVAILABLE');
  });

  it('labels upstreams without their query string', function () {
    expect(upstreamLabel(new URL('https://api.test/check?access_token=secret'))).to.equal(
      'https://api.test/check',
    );
  });
});
