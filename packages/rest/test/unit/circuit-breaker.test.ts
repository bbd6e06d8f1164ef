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
      b.acquire().failed();
    }
    expect(b.state).to.equal('open');
    expectRefused(b);
    expect(logger.records.map((r) => r.event)).to.include('rest.circuit_open');
    const refusal = captureAcquire(b);
    expect(refusal).to.be.instanceOf(AuthBridgeError);
    expect((refusal as AuthBridgeError).code).to.equal('BACKEND_UNAVAILABLE');
  });

  it('a success resets the failure count', function () {
    const b = breaker(new ManualClock(0));
    for (const outcome of ['f', 'f', 's', 'f', 'f'] as const) {
      const call = b.acquire();
      if (outcome === 'f') call.failed();
      else call.succeeded();
    }
    expect(b.state).to.equal('closed');
  });

  it('lets exactly one probe through when half-open, and closes on its success', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    openCircuit(b);
    clock.advance(999);
    expectRefused(b);
    clock.advance(1);
    expect(b.state).to.equal('half-open');
    const probe = b.acquire();
    expectRefused(b);
    probe.succeeded();
    expect(b.state).to.equal('closed');
    b.acquire();
    b.acquire();
  });

  it('reopens for a full period when the probe fails', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    openCircuit(b);
    clock.advance(1_000);
    b.acquire().failed();
    expect(b.state).to.equal('open');
    clock.advance(999);
    expectRefused(b);
    clock.advance(1);
    b.acquire().succeeded();
    expect(b.state).to.equal('closed');
  });

  it('a call let through before the circuit opened neither decides nor frees the probe slot', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    const slowFailure = b.acquire();
    const slowSuccess = b.acquire();
    openCircuit(b);
    clock.advance(1_000);
    const probe = b.acquire();
    // The slow calls end while the probe is in flight: they must not reopen or close the circuit,
    // nor let a second probe through.
    slowFailure.failed();
    slowSuccess.succeeded();
    expect(b.state).to.equal('half-open');
    expectRefused(b);
    probe.succeeded();
    expect(b.state).to.equal('closed');
  });

  it('a late failure from before the circuit opened does not count toward the next opening', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    const slow = [b.acquire(), b.acquire(), b.acquire()];
    openCircuit(b);
    clock.advance(1_000);
    b.acquire().succeeded();
    for (const call of slow) call.failed();
    expect(b.state).to.equal('closed');
  });

  it('a released probe frees the half-open slot without deciding', function () {
    const clock = new ManualClock(0);
    const b = breaker(clock);
    openCircuit(b);
    clock.advance(1_000);
    b.acquire().released();
    expect(b.state).to.equal('half-open');
    b.acquire().succeeded();
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

// Three failures in a row: the threshold of `breaker()`.
function openCircuit(b: CircuitBreaker): void {
  for (let i = 0; i < 3; i += 1) b.acquire().failed();
}

function expectRefused(b: CircuitBreaker): void {
  expect(() => {
    b.acquire();
  })
    .to.throw()
    .with.property('code', 'BACKEND_UNAVAILABLE');
}
