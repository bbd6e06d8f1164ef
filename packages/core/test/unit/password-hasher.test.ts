import {
  AuthBridgeError,
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  hardeningParams,
  needsRehash,
  validateScryptParams,
  verifyPassword,
} from '@authbridge/core';
import { expect } from 'chai';

const fast = { logN: 10, r: 8, p: 1 };

describe('scrypt password hashing', function () {
  it('stores its parameters beside a salted hash and verifies it', async function () {
    const hash = await hashPassword('correct horse', fast);
    expect(hash).to.match(/^scrypt\$10\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword('correct horse', hash)).to.equal(true);
    expect(await verifyPassword('correct horsf', hash)).to.equal(false);
    expect(await hashPassword('correct horse', fast)).to.not.equal(hash, 'salt is random');
  });

  it('verifies with the parameters stored in the hash, not the current defaults', async function () {
    const old = await hashPassword('pw', { logN: 11, r: 8, p: 1 });
    expect(await verifyPassword('pw', old)).to.equal(true);
    expect(needsRehash(old, fast)).to.equal(true);
    expect(needsRehash(old, { logN: 11, r: 8, p: 1 })).to.equal(false);
  });

  it('tops a cheaper hash up to the current parameters, by the difference (a malformed one costs nothing)', async function () {
    const hash = await hashPassword('pw', fast); // logN 10, r 8, p 1: work 2^13
    const work = (p: { logN: number; r: number; p: number }): number => 2 ** p.logN * p.r * p.p;
    expect(hardeningParams(hash, fast)).to.equal(undefined);
    expect(hardeningParams(hash, { logN: 9, r: 16, p: 1 }), 'the same work').to.equal(undefined);
    expect(hardeningParams(hash, { logN: 9, r: 8, p: 1 }), 'stronger').to.equal(undefined);
    for (const current of [
      { logN: 11, r: 8, p: 1 },
      { logN: 10, r: 8, p: 2 },
      { logN: 12, r: 8, p: 1 },
      { logN: 15, r: 8, p: 1 },
      { logN: 13, r: 16, p: 3 },
    ]) {
      const extra = hardeningParams(hash, current)!;
      const missing = work(current) - 2 ** 13;
      // Within an eighth of the difference: neither faster nor slower than an unknown user.
      expect(Math.abs(work(extra) - missing) / missing, JSON.stringify(current)).to.be.at.most(
        1 / 8,
      );
      // The current N (its memory decides scrypt's speed per unit of work), no more memory.
      expect(extra.logN).to.equal(current.logN);
      expect(extra.r).to.be.at.most(current.r);
    }
    const current = { logN: 12, r: 8, p: 1 };
    expect(hardeningParams('plain', current)).to.deep.equal(current);
  });

  it('treats a malformed or tampered hash as a wrong password', async function () {
    for (const bad of [
      '',
      'plain',
      'scrypt$10$8$1$salt',
      'scrypt$99$8$1$c2FsdA$a2V5',
      'md5$x$y$z$a$b',
      'scrypt$10$8$1$c2FsdA$c2hvcnQ',
    ]) {
      expect(await verifyPassword('pw', bad), bad).to.equal(false);
    }
  });

  it('normalises Unicode so the same password typed differently verifies', async function () {
    const hash = await hashPassword('Ångström', fast);
    expect(await verifyPassword('A\u030angstro\u0308m', hash)).to.equal(true);
  });

  it('refuses out-of-range parameters with CONFIG_INVALID', function () {
    for (const bad of [
      { logN: 0, r: 8, p: 1 },
      { logN: 21, r: 8, p: 1 },
      { logN: 10, r: 0, p: 1 },
      { logN: 10.5, r: 8, p: 1 },
      // Each value in range, together 4 GiB per hash (a tampered stored row, say).
      { logN: 20, r: 32, p: 1 },
    ]) {
      expect(() => validateScryptParams(bad))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
    }
    expect(validateScryptParams(DEFAULT_SCRYPT_PARAMS)).to.deep.equal({ logN: 15, r: 8, p: 1 });
    expect(validateScryptParams({ logN: 20, r: 8, p: 1 })).to.deep.equal({ logN: 20, r: 8, p: 1 });
  });
});
