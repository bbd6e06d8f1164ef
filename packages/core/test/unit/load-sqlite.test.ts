import { expect } from 'chai';
import { loadSqlite } from '../../src/sqlite/sqlite-database.ts';

describe('loadSqlite', function () {
  it('gives node:sqlite where Node has it', function () {
    expect(loadSqlite().DatabaseSync).to.be.a('function');
  });

  it('says what to do where Node lacks it (22.12 without --experimental-sqlite)', function () {
    // The lookup is the one thing swapped: Node 22.12 answers undefined for node:sqlite. (This
    // file loads the source, so the error class is the source's: checked by code, not instanceof.)
    expect(() => loadSqlite(() => undefined))
      .to.throw()
      .that.satisfies((error: { code?: string; detail?: string }) => {
        expect(error.code).to.equal('STORE_UNAVAILABLE');
        expect(error.detail).to.include('22.13').and.include('--experimental-sqlite');
        return true;
      });
  });
});
