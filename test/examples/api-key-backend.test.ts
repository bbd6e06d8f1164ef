import {
  type AuthBackend,
  type AuthEvents,
  Authenticator,
  createUser,
  LocalPasswordBackend,
  MemoryUserStore,
  type User,
} from '@authbridge/core';
import { describeBackendConformance } from '@authbridge/conformance';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { ApiKeyBackend } from './api-key-backend.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const accounts = [
  { name: 'ci-bot', keySha256: sha('s3cret') },
  { name: 'reporter', keySha256: sha('r3port') },
  { name: 'old-bot', keySha256: sha('leaked'), revoked: true },
];

describeBackendConformance({
  name: 'README example: ApiKeyBackend',
  async setup() {
    return {
      backend: new ApiKeyBackend(accounts),
      users: [
        { username: 'ci-bot', credentials: { apiKey: 'ci-bot.s3cret' } },
        { username: 'reporter', credentials: { apiKey: 'reporter.r3port' } },
      ],
      wrongSecret: { apiKey: 'ci-bot.nope' },
      unknownUser: { apiKey: 'nobody.s3cret' },
      foreignCredentials: [{ username: 'a', password: 'b' }, { apiKey: 42 }],
    };
  },
});

describe('README example in a chain', function () {
  it('vetoes a revoked key, grants its permission map, and routes passwords elsewhere', async function () {
    const store = new MemoryUserStore();
    const local = new LocalPasswordBackend({ store, scrypt: { logN: 10, r: 8, p: 1 } });
    await local.createUser({ username: 'admin', isSuperuser: true }, 'pw');
    const auth = new Authenticator({ backends: [new ApiKeyBackend(accounts), local] });
    const bot = await auth.authenticate(undefined, { apiKey: 'ci-bot.s3cret' });
    expect(bot?.backendId).to.equal('api-key');
    expect(await auth.hasPerm(bot!, 'builds.trigger')).to.equal(true);
    expect(await auth.authenticate(undefined, { apiKey: 'old-bot.leaked' })).to.equal(null);
    expect(
      (await auth.authenticate(undefined, { username: 'admin', password: 'pw' }))?.backendId,
    ).to.equal('local');
  });
});

/** A later backend that takes every API key for its own (a legacy key table): who it was asked. */
function acceptEveryKey(): AuthBackend<{ apiKey: string }> & { asked: string[] } {
  const asked: string[] = [];
  return {
    id: 'legacy-keys',
    asked,
    accepts: (c): c is { apiKey: string } =>
      typeof (c as { apiKey?: unknown } | null)?.apiKey === 'string',
    async authenticate(_request, { apiKey }): Promise<User> {
      asked.push(apiKey);
      return createUser({ id: 'legacy', username: 'legacy' });
    },
    getUser: async () => null,
    close: async () => {},
  };
}

describe('README example: a revoked key is a veto, not "no opinion"', function () {
  it('asks no later backend, even one that would accept the key, and loginFailed names the veto', async function () {
    const later = acceptEveryKey();
    const auth = new Authenticator({ backends: [new ApiKeyBackend(accounts), later] });
    const failed: AuthEvents['loginFailed'][] = [];
    auth.events.on('loginFailed', (e) => {
      failed.push(e);
    });
    expect(await auth.authenticate(undefined, { apiKey: 'old-bot.leaked' })).to.equal(null);
    expect(later.asked, 'the chain stopped at the veto').to.deep.equal([]);
    expect(failed).to.have.length(1);
    expect(failed[0]).to.include({ deniedBy: 'api-key' });
  });

  it('an unknown key or a wrong secret is no opinion: the later backend decides', async function () {
    const later = acceptEveryKey();
    const auth = new Authenticator({ backends: [new ApiKeyBackend(accounts), later] });
    for (const apiKey of ['nobody.s3cret', 'ci-bot.nope']) {
      expect((await auth.authenticate(undefined, { apiKey }))?.backendId, apiKey).to.equal(
        'legacy-keys',
      );
    }
    expect(later.asked).to.deep.equal(['nobody.s3cret', 'ci-bot.nope']);
  });
});
