import { AuthBridgeError, ManualClock } from '@authbridge/core';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { CircuitBreaker } from '../../src/circuit-breaker.js';
import { recordingLogger } from '../support/fakes.js';

function breaker(clock: ManualClock, logger = recordingLogger()): CircuitBreaker {
  return new CircuitBreaker(
    'http://as.test/introspect',
    { failureThreshold: 3, openMs: 1_000 },
    clock,
    logger,
  );
}

describe('CircuitBreaker', function () {
  it('opens after the threshold of consecutive failures and refuses calls while open', function () {
    const clock = new ManualClock(0);
    const logger = recordingLogger();
    const b = breaker(clock, logger);
    for (let i = 0; i < 3; i += 1) {
      expect(b.state).to.equal('closed');
      b.acquire();
      b.failed();
    }
    expect(b.state).to.equal('open');
    expect(() => {
      b.acquire();
    })
      .to.throw()
      .with.property('code', 'BACKEND_UNAVAILABLE');
    expect(logger.records.map((r) => r.event)).to.include('rest.circuit_open');
    const refusal = captureAcquire(b);
    expect(refusal).to.be.instanceOf(AuthBridgeError);
    expect((refusal as AuthBridgeError).code).to.equal('BACKEND_UNAVAILABLE');
  });

  it('a success resets the failure count', function () {
    const b = breaker(new ManualClock(0));
    for (const outcome of ['f', 'f', 's', 'f', 'f'] as const) {
      b.acquire();
      if (outcome === 'f') b.failed();
      else b.succeeded();
    }
    expect(b.state).to.equal('closed');
  });

  it('lets exactly one probe through when half-open, and closes on its success', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    for (let i = 0; i < 3; i += 1) {
      b.acquire();
      b.failed();
    }
    clock.advance(999);
    expect(() => {
      b.acquire();
    })
      .to.throw()
      .with.property('code', 'BACKEND_UNAVAILABLE');
    clock.advance(1);
    expect(b.state).to.equal('half-open');
    b.acquire(); // the probe
    expect(() => {
      b.acquire();
    })
      .to.throw()
      .with.property('code', 'BACKEND_UNAVAILABLE');
    b.succeeded();
    expect(b.state).to.equal('closed');
    b.acquire();
    b.acquire();
  });

  it('reopens for a full period when the probe fails', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    for (let i = 0; i < 3; i += 1) {
      b.acquire();
      b.failed();
    }
    clock.advance(1_000);
    b.acquire();
    b.failed();
    expect(b.state).to.equal('open');
    clock.advance(999);
    expect(() => {
      b.acquire();
    })
      .to.throw()
      .with.property('code', 'BACKEND_UNAVAILABLE');
    clock.advance(1);
    b.acquire();
    b.succeeded();
    expect(b.state).to.equal('closed');
  });

  it('a released probe frees the half-open slot without deciding', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    for (let i = 0; i < 3; i += 1) {
      b.acquire();
      b.failed();
    }
    clock.advance(1_000);
    b.acquire();
    b.released();
    expect(b.state).to.equal('half-open');
    b.acquire();
    b.succeeded();
    expect(b.state).to.equal('closed');
  });
});

function captureAcquire(b: CircuitBreaker): unknown {
  try {
    b.acquire();
  } catch (error) {
    return error;
  }
  return new Error('acquire did not throw');
}
