// One test (or a few) per row of the conformance table in shared/reference/core-rest-koa.md §6 that
// core owns. Rows about sessions, CSRF and HTTP challenges belong to @authbridge/koa.
import {
  ANONYMOUS_USER,
  AnonymousUser,
  Authenticator,
  AuthBridgeError,
  CLEANSED_SUBSTITUTE,
  createUser,
  type AuthEvents,
} from '@authbridge/core';
import { expectRejection } from '@authbridge/conformance';
import { expect } from 'chai';
import { alice, inactiveRoot, root, scripted } from './fakes.ts';

describe('Authenticator (Django backend semantics)', function () {
  describe('construction', function () {
    it('refuses an empty chain and duplicate ids with CONFIG_INVALID', function () {
      expect(() => new Authenticator({ backends: [] }))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
      const a = scripted({ id: 'a' });
      expect(() => new Authenticator({ backends: [a, scripted({ id: 'a' })] }))
        .to.throw(AuthBridgeError)
        .with.property('code', 'CONFIG_INVALID');
    });

    it('copies the backend list: later changes to the caller array change nothing', function () {
      const list = [scripted({ id: 'a' })];
      const auth = new Authenticator({ backends: list });
      list.push(scripted({ id: 'b' }));
      expect(auth.backends.map((b) => b.id)).to.deep.equal(['a']);
    });
  });

  describe('row 1 + 6: ordered chain, first success wins', function () {
    it('asks backends in order and stops at the first user', async function () {
      const a = scripted({ id: 'a', result: null });
      const b = scripted({ id: 'b', result: alice });
      const c = scripted({ id: 'c', result: root });
      const user = await new Authenticator({ backends: [a, b, c] }).authenticate(undefined, {
        username: 'x',
      });
      expect(user?.username).to.equal('alice');
      expect(a.calls).to.deep.equal(['authenticate']);
      expect(b.calls).to.deep.equal(['authenticate']);
      expect(c.calls).to.deep.equal([]);
    });
  });

  describe('row 2: a backend is only asked about credentials it accepts', function () {
    it('skips a backend whose accepts() is false', async function () {
      const a = scripted({ id: 'a', accepts: () => false, result: root });
      const b = scripted({ id: 'b', result: alice });
      const user = await new Authenticator({ backends: [a, b] }).authenticate(undefined, {});
      expect(user?.username).to.equal('alice');
      expect(a.calls).to.deep.equal([]);
    });

    it('returns null and fires loginFailed when no backend accepts', async function () {
      const auth = new Authenticator({ backends: [scripted({ id: 'a', accepts: () => false })] });
      const failed: AuthEvents['loginFailed'][] = [];
      auth.events.on('loginFailed', (e) => {
        failed.push(e);
      });
      expect(await auth.authenticate(undefined, { token: 't' })).to.equal(null);
      expect(failed).to.have.length(1);
    });
  });

  describe('row 3: null means no opinion, try the next backend', function () {
    it('goes on after null', async function () {
      const b = scripted({ id: 'b', result: alice });
      await new Authenticator({ backends: [scripted({ id: 'a' }), b] }).authenticate(undefined, {});
      expect(b.calls).to.deep.equal(['authenticate']);
    });
  });

  describe('row 4: PermissionDenied halts the chain', function () {
    it('stops at once, asks no later backend, fires loginFailed naming the veto, returns null', async function () {
      const a = scripted({ id: 'a', result: 'deny' });
      const b = scripted({ id: 'b', result: alice });
      const auth = new Authenticator({ backends: [a, b] });
      const failed: AuthEvents['loginFailed'][] = [];
      auth.events.on('loginFailed', (e) => {
        failed.push(e);
      });
      expect(await auth.authenticate('req', { username: 'alice' })).to.equal(null);
      expect(b.calls).to.deep.equal([]);
      expect(failed).to.have.length(1);
      expect(failed[0]).to.include({ request: 'req', deniedBy: 'a' });
    });
  });

  describe('row 5: any other error propagates', function () {
    it('rejects with the backend error and asks no later backend', async function () {
      const outage = new AuthBridgeError('BACKEND_UNAVAILABLE');
      const b = scripted({ id: 'b', result: alice });
      const auth = new Authenticator({ backends: [scripted({ id: 'a', result: outage }), b] });
      let fired = 0;
      auth.events.on('loginFailed', () => {
        fired += 1;
      });
      const err = await expectRejection(auth.authenticate(undefined, {}), 'BACKEND_UNAVAILABLE');
      expect(err).to.equal(outage);
      expect(b.calls).to.deep.equal([]);
      expect(fired).to.equal(0);
    });

    it('fires loginFailed naming the backend and code when one refuses the credentials with a 4xx error', async function () {
      const forged = new AuthBridgeError('PROTOCOL_INVALID', undefined, {
        detail: 'bad signature',
      });
      const b = scripted({ id: 'b', result: alice });
      const auth = new Authenticator({ backends: [scripted({ id: 'saml', result: forged }), b] });
      const failed: AuthEvents['loginFailed'][] = [];
      auth.events.on('loginFailed', (e) => {
        failed.push(e);
      });
      const err = await expectRejection(
        auth.authenticate(undefined, { idp: 'corp', samlResponse: 'PHJlc3BvbnNlLz4=' }),
        'PROTOCOL_INVALID',
      );
      expect(err).to.equal(forged);
      expect(b.calls).to.deep.equal([]);
      expect(failed).to.have.length(1);
      expect(failed[0]).to.include({ failedBy: 'saml', code: 'PROTOCOL_INVALID' });
      expect(failed[0]?.deniedBy).to.equal(undefined);
      expect(failed[0]?.credentials).to.include({ idp: 'corp' });
    });

    it("treats a backend returning undefined (a bare return) as no opinion, as Django's is None", async function () {
      const b = scripted({ id: 'b', result: alice });
      const js = { ...scripted({ id: 'js' }), authenticate: async () => undefined as never };
      const user = await new Authenticator({ backends: [js, b] }).authenticate(undefined, {});
      expect(user?.username).to.equal('alice');
      expect(await new Authenticator({ backends: [js] }).authenticate(undefined, {})).to.equal(
        null,
      );
    });

    it('propagates a TypeError thrown inside authenticate (not swallowed as "not accepted")', async function () {
      const auth = new Authenticator({
        backends: [scripted({ id: 'a', result: new TypeError('bug') })],
      });
      const err = await expectRejection(auth.authenticate(undefined, {}));
      expect(err).to.be.instanceOf(TypeError);
    });
  });

  describe('row 7: the user is tagged with the backend that authenticated it', function () {
    it('returns a new frozen record with backendId and leaves the backend user untouched', async function () {
      const user = await new Authenticator({
        backends: [scripted({ id: 'ldap', result: alice })],
      }).authenticate(undefined, {});
      expect(user?.backendId).to.equal('ldap');
      expect(Object.isFrozen(user)).to.equal(true);
      expect(alice.backendId).to.equal(undefined);
    });
  });

  describe('rows 9-11: getUser goes through the backend that authenticated', function () {
    it('asks only that backend and tags the user', async function () {
      const a = scripted({ id: 'a', users: { u1: alice } });
      const b = scripted({ id: 'b', users: { u1: root } });
      const user = await new Authenticator({ backends: [a, b] }).getUser('u1', 'b');
      expect(user.username).to.equal('root');
      expect(user.backendId).to.equal('b');
      expect(a.calls).to.deep.equal([]);
    });

    it('gives the anonymous user for a backend no longer configured (row 10)', async function () {
      const user = await new Authenticator({
        backends: [scripted({ id: 'a', users: { u1: alice } })],
      }).getUser('u1', 'gone');
      expect(user).to.be.instanceOf(AnonymousUser);
      expect(user.isAuthenticated).to.equal(false);
    });

    it('gives the anonymous user when the backend no longer knows the user (row 11)', async function () {
      const user = await new Authenticator({ backends: [scripted({ id: 'a' })] }).getUser(
        'deleted',
        'a',
      );
      expect(user).to.equal(ANONYMOUS_USER);
    });
  });

  describe('rows 17-19: events, with credentials cleansed', function () {
    it('masks every key matching api|token|key|secret|password|signature, case-insensitively', async function () {
      const auth = new Authenticator({ backends: [scripted({ id: 'a' })] });
      let payload: AuthEvents['loginFailed'] | undefined;
      auth.events.on('loginFailed', (e) => {
        payload = e;
      });
      const credentials = {
        username: 'alice',
        password: 'p',
        PASSWORD2: 'p',
        token: 't',
        api_key: 'k',
        clientSecret: 's',
        samlSignature: 'sig',
        apiVersion: 2,
        idp: 'okta',
      };
      await auth.authenticate(undefined, credentials);
      expect({ ...payload!.credentials }).to.deep.equal({
        username: 'alice',
        password: CLEANSED_SUBSTITUTE,
        PASSWORD2: CLEANSED_SUBSTITUTE,
        token: CLEANSED_SUBSTITUTE,
        api_key: CLEANSED_SUBSTITUTE,
        clientSecret: CLEANSED_SUBSTITUTE,
        samlSignature: CLEANSED_SUBSTITUTE,
        apiVersion: CLEANSED_SUBSTITUTE,
        idp: 'okta',
      });
      expect(credentials.password, 'the caller object is not mutated').to.equal('p');
    });

    it('fires loggedIn and loggedOut with their payloads, awaiting async listeners', async function () {
      const auth = new Authenticator({ backends: [scripted({ id: 'a' })] });
      const seen: string[] = [];
      auth.events.on('loggedIn', async (e) => {
        await Promise.resolve();
        seen.push(`in:${e.user.username}`);
      });
      auth.events.on('loggedOut', (e) => {
        seen.push(`out:${e.user?.username ?? 'none'}`);
      });
      await auth.loggedIn(undefined, alice);
      await auth.loggedOut(undefined, null);
      expect(seen).to.deep.equal(['in:alice', 'out:none']);
    });
  });

  describe('row 20: the anonymous user', function () {
    it('is not authenticated, has no id, and its permission questions still reach backends', async function () {
      expect(ANONYMOUS_USER).to.include({
        id: null,
        username: '',
        isAuthenticated: false,
        isAnonymous: true,
        isActive: false,
      });
      const a = scripted({ id: 'a', hasPerm: (u, p) => u.isAnonymous && p === 'wiki.view' });
      const auth = new Authenticator({ backends: [a] });
      expect(await auth.hasPerm(ANONYMOUS_USER, 'wiki.view')).to.equal(true);
      expect(await auth.hasPerm(ANONYMOUS_USER, 'wiki.edit')).to.equal(false);
      expect(a.calls).to.deep.equal(['hasPerm:wiki.view', 'hasPerm:wiki.edit']);
    });
  });

  describe('rows 21-25: permissions', function () {
    it('ORs backends: one grant is enough (row 21)', async function () {
      const auth = new Authenticator({
        backends: [
          scripted({ id: 'a', perms: () => new Set() }),
          scripted({ id: 'b', perms: () => new Set(['app.read']) }),
        ],
      });
      expect(await auth.hasPerm(alice, 'app.read')).to.equal(true);
      expect(await auth.hasPerm(alice, 'app.write')).to.equal(false);
    });

    it('stops at a PermissionDenied veto: false without asking later backends (row 22)', async function () {
      const b = scripted({ id: 'b', perms: () => new Set(['app.read']) });
      const auth = new Authenticator({
        backends: [scripted({ id: 'a', hasPerm: () => 'deny' }), b],
      });
      expect(await auth.hasPerm(alice, 'app.read')).to.equal(false);
      expect(await auth.hasModulePerms(alice, 'app')).to.equal(
        true,
        'the veto was only for hasPerm',
      );
      expect(b.calls).to.deep.equal(['getAllPermissions']);
    });

    it('lets an active superuser have everything without asking (row 23)', async function () {
      const a = scripted({ id: 'a', perms: () => new Set() });
      const auth = new Authenticator({ backends: [a] });
      expect(await auth.hasPerm(root, 'anything.at_all')).to.equal(true);
      expect(await auth.hasModulePerms(root, 'anything')).to.equal(true);
      expect(a.calls).to.deep.equal([]);
    });

    it('gives an inactive user nothing, even a superuser (row 24)', async function () {
      const a = scripted({ id: 'a', perms: () => new Set(['app.read']) });
      const auth = new Authenticator({ backends: [a] });
      const inactive = createUser({ id: 'u2', username: 'bob', isActive: false });
      expect(await auth.hasPerm(inactive, 'app.read')).to.equal(false);
      expect(await auth.hasPerm(inactiveRoot, 'app.read')).to.equal(false);
      expect(await auth.hasModulePerms(inactive, 'app')).to.equal(false);
      expect((await auth.getAllPermissions(inactive)).size).to.equal(0);
      expect(a.calls).to.deep.equal([]);
    });

    it('passes obj to backends for object-level permissions (row 25)', async function () {
      const doc = { owner: 'alice' };
      const auth = new Authenticator({
        backends: [
          scripted({
            id: 'a',
            hasPerm: (u, p, obj) =>
              p === 'docs.edit' && (obj as typeof doc | undefined)?.owner === u.username,
          }),
        ],
      });
      expect(await auth.hasPerm(alice, 'docs.edit', doc)).to.equal(true);
      expect(await auth.hasPerm(alice, 'docs.edit', { owner: 'bob' })).to.equal(false);
      expect(await auth.hasPerm(alice, 'docs.edit')).to.equal(false);
    });

    it('unions getAllPermissions, and a veto there leaves nothing', async function () {
      const auth = new Authenticator({
        backends: [
          scripted({ id: 'a', perms: () => new Set(['a.x']) }),
          scripted({ id: 'b', perms: () => new Set(['b.y', 'a.x']) }),
        ],
      });
      expect([...(await auth.getAllPermissions(alice))].sort()).to.deep.equal(['a.x', 'b.y']);
      const vetoed = new Authenticator({
        backends: [
          scripted({ id: 'a', perms: () => new Set(['a.x']) }),
          scripted({ id: 'b', perms: () => 'deny' }),
        ],
      });
      expect((await vetoed.getAllPermissions(alice)).size).to.equal(0);
    });

    it('propagates non-veto errors from permission checks', async function () {
      const auth = new Authenticator({
        backends: [
          scripted({
            id: 'a',
            hasPerm: () => {
              throw new AuthBridgeError('BACKEND_UNAVAILABLE');
            },
          }),
        ],
      });
      await expectRejection(auth.hasPerm(alice, 'x.y'), 'BACKEND_UNAVAILABLE');
    });
  });

  describe('row 26: hasPerms (all of) and hasModulePerms', function () {
    const auth = new Authenticator({
      backends: [scripted({ id: 'a', perms: () => new Set(['app.read', 'app.write']) })],
    });

    it('requires every permission; an empty list is true', async function () {
      expect(await auth.hasPerms(alice, ['app.read', 'app.write'])).to.equal(true);
      expect(await auth.hasPerms(alice, ['app.read', 'app.delete'])).to.equal(false);
      expect(await auth.hasPerms(alice, new Set(['app.read']))).to.equal(true);
      expect(await auth.hasPerms(alice, [])).to.equal(true);
    });

    it('throws a TypeError for a bare string or a non-iterable', async function () {
      for (const bad of ['app.read', 42, null, { length: 1 }]) {
        const err = await expectRejection(auth.hasPerms(alice, bad as unknown as string[]));
        expect(err).to.be.instanceOf(TypeError);
      }
    });

    it('answers module permissions from the app label prefix', async function () {
      expect(await auth.hasModulePerms(alice, 'app')).to.equal(true);
      expect(await auth.hasModulePerms(alice, 'ap')).to.equal(false);
      expect(await auth.hasModulePerms(alice, 'other')).to.equal(false);
    });
  });

  describe('close', function () {
    it('closes every backend once and refuses later use with CLOSED', async function () {
      const a = scripted({ id: 'a' });
      const auth = new Authenticator({ backends: [a] });
      await Promise.all([auth.close(), auth.close()]);
      await auth.close();
      expect(a.calls).to.deep.equal(['close']);
      await expectRejection(auth.authenticate(undefined, {}), 'CLOSED');
      await expectRejection(auth.getUser('u1', 'a'), 'CLOSED');
      // Permission questions too: a closed backend's answers (a released pool, a cleared
      // cache) are not answers.
      const user = createUser({ id: 'u1', username: 'alice', backendId: 'a' });
      await expectRejection(auth.hasPerm(user, 'app.view'), 'CLOSED');
      await expectRejection(auth.hasPerms(user, ['app.view']), 'CLOSED');
      await expectRejection(auth.hasModulePerms(user, 'app'), 'CLOSED');
      await expectRejection(auth.getAllPermissions(user), 'CLOSED');
    });
  });
});
