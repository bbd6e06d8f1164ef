import { ManualClock } from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { CircuitBreaker } from '../../src/circuit-breaker.js';
import { Deadline } from '../../src/deadline.js';
import { silentLogger } from '../../src/logger.js';
import { UpstreamClient } from '../../src/upstream-client.js';
import { connectionRefused, fakeFetch, type Script } from '../support/fakes.js';

const request = {
  url: new URL('http://as.test/introspect'),
  method: 'POST',
  headers: {},
  body: 'token=x',
};

function client(script: (call: number) => Script, breaker?: CircuitBreaker) {
  const fetch = fakeFetch(script);
  return {
    fetch,
    upstream: new UpstreamClient({
      fetch,
      label: 'http://as.test/introspect',
      breaker,
      retry: true,
      maxResponseBytes: 1024,
      logger: silentLogger,
    }),
  };
}

describe('UpstreamClient', function () {
  it('returns 2xx and 4xx answers as they are', async function () {
    for (const status of [200, 401, 404]) {
      const { fetch, upstream } = client(() => ({ status, body: { s: status } }));
      const response = await upstream.send(() => request, new Deadline(1000));
      expect(response.status).to.equal(status);
      expect(JSON.parse(response.body)).to.deep.equal({ s: status });
      expect(fetch.calls).to.have.length(1);
    }
  });

  it('retries a 5xx once and returns the second answer', async function () {
    const { fetch, upstream } = client((n) =>
      n === 1 ? { status: 503 } : { status: 200, body: { ok: 1 } },
    );
    const response = await upstream.send(() => request, new Deadline(1000));
    expect(response.status).to.equal(200);
    expect(fetch.calls).to.have.length(2);
  });

  it('gives up after one retry with BACKEND_UNAVAILABLE', async function () {
    const { fetch, upstream } = client(() => ({ status: 500 }));
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
    expect(fetch.calls).to.have.length(2);
  });

  it('retries a transport error once', async function () {
    const { fetch, upstream } = client(() => ({ throws: connectionRefused() }));
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
    expect(fetch.calls).to.have.length(2);
  });

  it('does not retry 429 or a redirect, and never follows redirects', async function () {
    for (const status of [429, 302]) {
      const { fetch, upstream } = client(() => ({
        status,
        headers: { location: 'http://evil.test/' },
      }));
      await expectRejection(
        upstream.send(() => request, new Deadline(1000)),
        'BACKEND_UNAVAILABLE',
      );
      expect(fetch.calls).to.have.length(1);
      expect(fetch.calls[0]!.init.redirect).to.equal('manual');
    }
  });

  it('does not retry when the deadline leaves no room', async function () {
    const { fetch, upstream } = client(() => ({ status: 500 }));
    await expectRejection(
      upstream.send(() => request, new Deadline(30)),
      'BACKEND_UNAVAILABLE',
    );
    expect(fetch.calls).to.have.length(1);
  });

  it('stops at the deadline with BACKEND_TIMEOUT and does not retry a timeout', async function () {
    const { fetch, upstream } = client(() => ({ hang: true }));
    const started = performance.now();
    await expectRejection(
      upstream.send(() => request, new Deadline(100)),
      'BACKEND_TIMEOUT',
    );
    // Ended by the 100 ms deadline, not by a retry or the fake's hang (which never ends); the bound
    // is loose because a loaded CI machine delays timers.
    expect(performance.now() - started).to.be.below(1_000);
    expect(fetch.calls).to.have.length(1);
  });

  it('rebuilds the request for the retry', async function () {
    let built = 0;
    const { upstream } = client((n) => (n === 1 ? { status: 502 } : { status: 200 }));
    await upstream.send(() => {
      built += 1;
      return request;
    }, new Deadline(1000));
    expect(built).to.equal(2);
  });

  it('refuses a body over the size cap', async function () {
    const { upstream } = client(() => ({ status: 200, body: 'x'.repeat(2048) }));
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
  });

  it('reports each send to the breaker once, and is refused while it is open', async function () {
    const clock = new ManualClock(0);
    const breaker = new CircuitBreaker(
      'as',
      { failureThreshold: 2, openMs: 1000 },
      clock,
      silentLogger,
    );
    const { fetch, upstream } = client(() => ({ status: 500 }), breaker);
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
    expect(breaker.state).to.equal('closed');
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
    expect(breaker.state).to.equal('open');
    const calls = fetch.calls.length;
    await expectRejection(
      upstream.send(() => request, new Deadline(1000)),
      'BACKEND_UNAVAILABLE',
    );
    expect(fetch.calls.length, 'no call while open').to.equal(calls);
  });
});
