// Session lifetime controls: a login that ends at a fixed time (SAML's SessionNotOnOrAfter), and
// ending a session by id from outside the request (IdP-initiated logout, administrators).
import Router from '@koa/router';
import {
  Authenticator,
  LocalPasswordBackend,
  ManualClock,
  MemoryKeyValueStore,
  MemoryUserStore,
} from '@authbridge/core';
import {
  type AuthState,
  authbridge,
  destroySession,
  errorHandler,
  login,
  requireAuth,
  sessions,
} from '@authbridge/koa';
import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';

describe('@authbridge/koa session lifetime', function () {
  const clock = new ManualClock(1_000_000);
  const store = new MemoryKeyValueStore();
  let app: Koa<AuthState>;
  const ids: string[] = [];

  before(async function () {
    const users = new MemoryUserStore();
    const local = new LocalPasswordBackend({ store: users, scrypt: { logN: 10, r: 8, p: 1 } });
    await local.createUser({ username: 'alice' }, 'alice-pw');
    const authenticator = new Authenticator({ backends: [local] });
    app = new Koa<AuthState>();
    app.use(errorHandler());
    const router = new Router<AuthState>();
    router.use(sessions({ store }), authbridge({ authenticator, secret: 's'.repeat(32), clock }));
    router.post('/login', async (ctx) => {
      const user = await authenticator.authenticate(ctx, {
        username: 'alice',
        password: 'alice-pw',
      });
      const expiresAt =
        ctx.query['for'] === undefined ? undefined : clock.now() + Number(ctx.query['for']);
      await login(ctx, user!, { expiresAt });
      ids.push(ctx.state.session!.id);
      ctx.body = { ok: true };
    });
    router.get('/me', requireAuth(), (ctx) => {
      ctx.body = { ok: true };
    });
    app.use(router.routes());
  });

  it('ends a login at expiresAt, whatever the session lifetime', async function () {
    const agent = request.agent(app.callback());
    await agent.post('/login?for=60000').expect(200);
    await agent.get('/me').expect(200);
    clock.advance(59_999);
    await agent.get('/me').expect(200);
    clock.advance(1);
    await agent.get('/me').expect(401);
  });

  it('knows the session id at login and can end that session from outside', async function () {
    const agent = request.agent(app.callback());
    const res = await agent.post('/login').expect(200);
    const id = ids.at(-1)!;
    expect(String(res.headers['set-cookie'])).to.include(`authbridge.sid=${id}`);
    await agent.get('/me').expect(200);
    await destroySession(store, id);
    await agent.get('/me').expect(401);
  });
});
