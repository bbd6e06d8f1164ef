import { expect } from 'chai';
import { isCI, requireServer } from '@authbridge/testkit';
import type { SkippableContext } from '@authbridge/testkit';

/** Thrown by the fake context's skip(), standing in for mocha's Pending. */
class Skipped extends Error {}

const fakeContext: SkippableContext = {
  skip(): never {
    throw new Skipped('skipped');
  },
};

describe('requireServer', () => {
  let savedCI: string | undefined;
  beforeEach(() => {
    savedCI = process.env['CI'];
  });
  afterEach(() => {
    if (savedCI === undefined) delete process.env['CI'];
    else process.env['CI'] = savedCI;
  });

  it('does nothing when the server is available, on CI or not', () => {
    process.env['CI'] = 'true';
    expect(() => {
      requireServer(fakeContext, true, 'slapd');
    }).not.to.throw();
    delete process.env['CI'];
    expect(() => {
      requireServer(fakeContext, true, 'slapd');
    }).not.to.throw();
  });

  it('skips locally when the server is missing', () => {
    delete process.env['CI'];
    expect(() => {
      requireServer(fakeContext, false, 'slapd');
    }).to.throw(Skipped);
  });

  it('fails, never skips, on CI when the server is missing, naming what to install', () => {
    process.env['CI'] = 'true';
    let thrown: unknown;
    try {
      requireServer(fakeContext, false, 'OpenLDAP slapd (apt-get install slapd ldap-utils)');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).to.be.instanceOf(Error).and.not.to.be.instanceOf(Skipped);
    expect((thrown as Error).message).to.include('apt-get install slapd ldap-utils');
  });

  it('treats CI=false, CI=0 and an empty CI as not CI', () => {
    for (const value of ['false', '0', '', 'FALSE']) {
      expect(isCI({ CI: value }), value).to.equal(false);
    }
    for (const value of ['true', '1', 'yes']) {
      expect(isCI({ CI: value }), value).to.equal(true);
    }
    expect(isCI({})).to.equal(false);
  });
});
