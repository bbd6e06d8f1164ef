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
  const VARS = ['CI', 'AUTHBRIDGE_SKIP_MISSING_SERVERS'] as const;
  const saved = new Map<string, string | undefined>();
  beforeEach(() => {
    for (const name of VARS) saved.set(name, process.env[name]);
  });
  afterEach(() => {
    for (const name of VARS) {
      const value = saved.get(name);
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  });

  // What requireServer(false) did: 'skipped', or the Error it threw.
  function missing(what = 'OpenLDAP slapd (apt-get install slapd ldap-utils)'): 'skipped' | Error {
    try {
      requireServer(fakeContext, false, what);
    } catch (error) {
      if (error instanceof Skipped) return 'skipped';
      return error as Error;
    }
    throw new Error('requireServer returned for a missing server');
  }

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

  it('fails, never skips, when the server is missing, naming what to install', () => {
    delete process.env['AUTHBRIDGE_SKIP_MISSING_SERVERS'];
    for (const ci of ['true', undefined]) {
      if (ci === undefined) delete process.env['CI'];
      else process.env['CI'] = ci;
      const outcome = missing();
      expect(outcome, `CI=${String(ci)}`).to.be.instanceOf(Error);
      expect((outcome as Error).message).to.include('apt-get install slapd ldap-utils');
    }
  });

  it('skips only when asked to, and never on CI', () => {
    process.env['AUTHBRIDGE_SKIP_MISSING_SERVERS'] = '1';
    delete process.env['CI'];
    expect(missing()).to.equal('skipped');
    process.env['CI'] = 'true';
    expect(missing()).to.be.instanceOf(Error);
    process.env['AUTHBRIDGE_SKIP_MISSING_SERVERS'] = '0';
    delete process.env['CI'];
    expect(missing()).to.be.instanceOf(Error);
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
