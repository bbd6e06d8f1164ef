import { expect } from 'chai';
import { describe, it } from 'mocha';
import { SingleFlight } from '../../src/single-flight.js';

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: Error): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', function () {
  it('runs one task per key and shares its result', async function () {
    const flights = new SingleFlight<number>();
    const gate = deferred<number>();
    let started = 0;
    const task = async (): Promise<number> => {
      started += 1;
      return gate.promise;
    };
    const runs = Array.from({ length: 50 }, () => flights.run('k', task));
    expect(started).to.equal(1);
    expect(runs.filter((r) => r.shared)).to.have.length(49);
    gate.resolve(7);
    expect(await Promise.all(runs.map((r) => r.promise))).to.deep.equal(Array(50).fill(7));
    expect(flights.size).to.equal(0);
  });

  it('shares a failure with the waiting callers but does not remember it', async function () {
    const flights = new SingleFlight<number>();
    const a = flights.run('k', async () => {
      throw new Error('upstream down');
    });
    const b = flights.run('k', async () => 1);
    expect(b.shared).to.equal(true);
    const results = await Promise.allSettled([a.promise, b.promise]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    const c = flights.run('k', async () => 2);
    expect(c.shared).to.equal(false);
    expect(await c.promise).to.equal(2);
  });

  it('tells a task it was forgotten, and lets a new one start', async function () {
    const flights = new SingleFlight<boolean>();
    const gate = deferred<undefined>();
    const first = flights.run('k', async (isCurrent) => {
      await gate.promise;
      return isCurrent();
    });
    flights.forget('k');
    const second = flights.run('k', async (isCurrent) => isCurrent());
    expect(second.shared).to.equal(false);
    expect(await second.promise).to.equal(true);
    gate.resolve(undefined);
    expect(await first.promise).to.equal(false);
  });

  it('keeps different keys apart', async function () {
    const flights = new SingleFlight<string>();
    const a = flights.run('a', async () => 'A');
    const b = flights.run('b', async () => 'B');
    expect(a.shared || b.shared).to.equal(false);
    expect([await a.promise, await b.promise]).to.deep.equal(['A', 'B']);
  });
});
