import { TypedEmitter } from '@authbridge/core';
import { expect } from 'chai';

describe('TypedEmitter', function () {
  it('calls listeners in order, supports removal during emit, and propagates listener errors', async function () {
    const e = new TypedEmitter<{ ping: number }>();
    const seen: string[] = [];
    const off = e.on('ping', (n) => {
      seen.push(`a${n}`);
      off();
    });
    e.on('ping', (n) => {
      seen.push(`b${n}`);
    });
    await e.emit('ping', 1);
    await e.emit('ping', 2);
    expect(seen).to.deep.equal(['a1', 'b1', 'b2']);
    expect(e.listenerCount('ping')).to.equal(1);
    e.on('ping', () => {
      throw new Error('listener bug');
    });
    let caught: unknown;
    try {
      await e.emit('ping', 3);
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).to.equal('listener bug');
  });
});
