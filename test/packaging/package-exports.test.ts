// The published entry points, imported by package name from the repo root as a user would.
import { expect } from 'chai';

describe('published entry points', function () {
  it('@authbridge/core exports the contract', async function () {
    const core = await import('@authbridge/core');
    for (const name of [
      'Authenticator',
      'PermissionDenied',
      'AnonymousUser',
      'AuthBridgeError',
      'LocalPasswordBackend',
    ]) {
      expect(core, name).to.have.property(name).that.is.a('function');
    }
  });

  it('@authbridge/core/sqlite exports the SQLite stores', async function () {
    const sqlite = await import('@authbridge/core/sqlite');
    expect(sqlite.SqliteUserStore).to.be.a('function');
    expect(sqlite.SqliteKeyValueStore).to.be.a('function');
  });

  it('@authbridge/conformance exports the suites', async function () {
    const conformance = await import('@authbridge/conformance');
    expect(conformance.describeBackendConformance).to.be.a('function');
    expect(conformance.expectRejection).to.be.a('function');
  });
});
