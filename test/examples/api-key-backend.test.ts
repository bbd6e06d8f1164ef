import { Authenticator, LocalPasswordBackend, MemoryUserStore } from '@authbridge/core';
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
