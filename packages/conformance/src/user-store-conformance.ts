/**
 * The conformance suite for {@link UserStore} implementations (memory, SQLite, later PostgreSQL).
 *
 * @packageDocumentation
 */
import type { ExternalIdentity, UserStore } from '@authbridge/core';
import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { expectRejection } from './expect-rejection.js';

/** A store under test. */
export interface UserStoreSubject {
  readonly store: UserStore;
  teardown?(): Promise<void>;
}

const ldapAlice: ExternalIdentity = {
  backendId: 'ldap',
  issuer: 'dc=example,dc=org',
  subject: 'uuid-alice',
};
const samlAlice: ExternalIdentity = {
  backendId: 'saml',
  issuer: 'https://idp.example',
  subject: 'alice@example.org',
};
const always = { create: true, update: 'always' } as const;

/** Registers the user store suite with mocha. */
export function describeUserStoreConformance(
  name: string,
  setup: () => Promise<UserStoreSubject>,
): void {
  describe(`UserStore conformance: ${name}`, function () {
    let s: UserStoreSubject;
    beforeEach(async function () {
      s = await setup();
    });
    afterEach(async function () {
      await s.store.close();
      await s.teardown?.();
    });

    it('creates a local user with safe defaults and finds it by id and username', async function () {
      const user = await s.store.create({ username: 'admin' });
      expect(user).to.include({
        username: 'admin',
        isActive: true,
        isStaff: false,
        isSuperuser: false,
      });
      expect(user.passwordHash).to.equal(undefined);
      expect(user.sessionVersion).to.be.a('string').and.not.equal('');
      expect((await s.store.getById(user.id))?.username).to.equal('admin');
      expect((await s.store.getByUsername('admin'))?.id).to.equal(user.id);
      expect(await s.store.getByUsername('nobody')).to.equal(undefined);
    });

    it('refuses a duplicate username with IDENTITY_CONFLICT', async function () {
      await s.store.create({ username: 'admin' });
      await expectRejection(s.store.create({ username: 'admin' }), 'IDENTITY_CONFLICT');
    });

    it('keeps usernames NFKC-normalized on create, provision and rename: lookalikes clash', async function () {
      const fullwidth = '\uFF41\uFF44\uFF4D\uFF49\uFF4E'; // ａｄｍｉｎ
      const admin = await s.store.create({ username: fullwidth });
      expect(admin.username).to.equal('admin');
      expect((await s.store.getByUsername('admin'))?.id).to.equal(admin.id);
      await expectRejection(s.store.create({ username: 'admin' }), 'IDENTITY_CONFLICT');
      // Combining accents are composed: one José, however it was typed.
      const jose = await s.store.create({ username: 'Jose\u0301' });
      expect(jose.username).to.equal('Jos\u00e9');
      await expectRejection(s.store.create({ username: 'Jos\u00e9' }), 'IDENTITY_CONFLICT');
      // A name from a directory or an IdP is stored normalized too.
      const provisioned = await s.store.provision(
        ldapAlice,
        { username: '\uFF41\uFF4C\uFF49\uFF43\uFF45' },
        always,
      );
      expect(provisioned?.user.username).to.equal('alice');
      expect((await s.store.getByUsername('alice'))?.id).to.equal(provisioned?.user.id);
      const renamed = await s.store.update(jose.id, { username: '\uFF4A\uFF4F\uFF53\uFF45' });
      expect(renamed.username).to.equal('jose');
      expect((await s.store.getByUsername('jose'))?.id).to.equal(jose.id);
      await expectRejection(s.store.update(jose.id, { username: fullwidth }), 'IDENTITY_CONFLICT');
      await expectRejection(s.store.create({ username: '\u3000' }), 'INVALID_REQUEST');
    });

    it('provisions an identity once, then finds it', async function () {
      const first = await s.store.provision(
        ldapAlice,
        { username: 'alice', email: 'a@example.org' },
        always,
      );
      expect(first?.created).to.equal(true);
      const second = await s.store.provision(
        ldapAlice,
        { username: 'alice', email: 'a@example.org' },
        always,
      );
      expect(second?.created).to.equal(false);
      expect(second?.user.id).to.equal(first?.user.id);
      expect((await s.store.getByIdentity(ldapAlice))?.id).to.equal(first?.user.id);
      expect(await s.store.identitiesOf(first!.user.id)).to.deep.equal([ldapAlice]);
    });

    it('updates a known user by policy', async function () {
      await s.store.provision(ldapAlice, { username: 'alice', displayName: 'Alice' }, always);
      const kept = await s.store.provision(
        ldapAlice,
        { username: 'alice', displayName: 'Changed' },
        { create: true, update: 'never' },
      );
      expect(kept?.user.displayName).to.equal('Alice');
      const updated = await s.store.provision(
        ldapAlice,
        { username: 'alice', displayName: 'Changed', groups: ['g'] },
        always,
      );
      expect(updated?.user.displayName).to.equal('Changed');
      expect(updated?.user.groups).to.deep.equal(['g']);
    });

    it('updates only the fields the identity source sent: local decisions such as isActive stay', async function () {
      const first = await s.store.provision(
        ldapAlice,
        { username: 'alice', permissions: ['wiki.view'], isStaff: true },
        always,
      );
      await s.store.update(first!.user.id, { isActive: false });
      const again = await s.store.provision(
        ldapAlice,
        { username: 'alice', email: 'new@example.org' },
        always,
      );
      expect(again?.user).to.include({ isActive: false, isStaff: true, email: 'new@example.org' });
      expect(again?.user.permissions).to.deep.equal(['wiki.view']);
    });

    it('returns null for an unknown identity when creation is off (noNewUsers)', async function () {
      expect(
        await s.store.provision(
          ldapAlice,
          { username: 'alice' },
          { create: false, update: 'always' },
        ),
      ).to.equal(null);
      expect(await s.store.getByUsername('alice')).to.equal(undefined);
    });

    it('never links by e-mail or username: a clash is a conflict and writes nothing', async function () {
      const local = await s.store.create({ username: 'alice', email: 'alice@example.org' });
      await expectRejection(
        s.store.provision(samlAlice, { username: 'alice', email: 'alice@example.org' }, always),
        'IDENTITY_CONFLICT',
      );
      expect(await s.store.getByIdentity(samlAlice)).to.equal(undefined);
      expect(await s.store.identitiesOf(local.id)).to.deep.equal([]);
      const other = await s.store.provision(
        samlAlice,
        { username: 'alice.saml', email: 'alice@example.org' },
        always,
      );
      expect(other?.user.id).to.not.equal(local.id);
    });

    it('links an identity explicitly, and refuses to move it to another user', async function () {
      const a = await s.store.create({ username: 'a' });
      const b = await s.store.create({ username: 'b' });
      await s.store.link(a.id, samlAlice);
      await s.store.link(a.id, samlAlice);
      expect((await s.store.getByIdentity(samlAlice))?.id).to.equal(a.id);
      await expectRejection(s.store.link(b.id, samlAlice), 'IDENTITY_CONFLICT');
      await expectRejection(s.store.link('missing', ldapAlice), 'NOT_FOUND');
    });

    it('provisions one user for one identity under concurrency', async function () {
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          s.store.provision(ldapAlice, { username: 'alice' }, always),
        ),
      );
      expect(results.filter((r) => r?.created)).to.have.length(1);
      expect(new Set(results.map((r) => r?.user.id)).size).to.equal(1);
    });

    it('rotates the session version with the password, unless told to keep it', async function () {
      const user = await s.store.create({ username: 'u', passwordHash: 'h1' });
      const kept = await s.store.setPassword(user.id, 'h2', { keepSessions: true });
      expect(kept.passwordHash).to.equal('h2');
      expect(kept.sessionVersion).to.equal(user.sessionVersion);
      const rotated = await s.store.setPassword(user.id, 'h3');
      expect(rotated.sessionVersion).to.not.equal(user.sessionVersion);
      await expectRejection(s.store.setPassword('missing', 'h'), 'NOT_FOUND');
    });

    it('sets a password only over the hash it was told to expect (ifPasswordHash)', async function () {
      const user = await s.store.create({ username: 'u', passwordHash: 'h1' });
      // Changed meanwhile: nothing is written, and the user comes back as it stands.
      const reset = await s.store.setPassword(user.id, 'h-reset');
      const stale = await s.store.setPassword(user.id, 'h1-rehashed', {
        keepSessions: true,
        ifPasswordHash: 'h1',
      });
      expect(stale.passwordHash).to.equal('h-reset');
      expect(stale.sessionVersion).to.equal(reset.sessionVersion);
      expect((await s.store.getById(user.id))?.passwordHash).to.equal('h-reset');
      const fresh = await s.store.setPassword(user.id, 'h-rehashed', {
        keepSessions: true,
        ifPasswordHash: 'h-reset',
      });
      expect(fresh.passwordHash).to.equal('h-rehashed');
      expect(fresh.sessionVersion).to.equal(reset.sessionVersion);
    });

    it('updates fields, keeps the rest, and reports a missing user', async function () {
      const user = await s.store.create({ username: 'u', email: 'u@example.org', isStaff: true });
      const next = await s.store.update(user.id, { displayName: 'U', isActive: false });
      expect(next).to.include({
        username: 'u',
        email: 'u@example.org',
        isStaff: true,
        displayName: 'U',
        isActive: false,
      });
      await expectRejection(s.store.update('missing', { isActive: false }), 'NOT_FOUND');
      await s.store.create({ username: 'taken' });
      await expectRejection(s.store.update(user.id, { username: 'taken' }), 'IDENTITY_CONFLICT');
    });

    it('deletes a user with its links', async function () {
      const r = await s.store.provision(ldapAlice, { username: 'alice' }, always);
      expect(await s.store.delete(r!.user.id)).to.equal(true);
      expect(await s.store.delete(r!.user.id)).to.equal(false);
      expect(await s.store.getById(r!.user.id)).to.equal(undefined);
      expect(await s.store.getByIdentity(ldapAlice)).to.equal(undefined);
    });

    it('stores attributes as data: __proto__ and constructor change nothing', async function () {
      const attributes = JSON.parse(
        '{"__proto__": {"polluted": true}, "constructor": "x", "dept": "R&D"}',
      ) as Record<string, unknown>;
      const user = await s.store.create({ username: 'p', attributes });
      const again = await s.store.getById(user.id);
      expect(again?.attributes['dept']).to.equal('R&D');
      expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
      expect((again?.attributes as Record<string, unknown>)['polluted']).to.equal(undefined);
    });

    it('rejects an empty username and an incomplete identity with INVALID_REQUEST', async function () {
      await expectRejection(s.store.create({ username: '' }), 'INVALID_REQUEST');
      await expectRejection(
        s.store.provision({ ...ldapAlice, subject: '' }, { username: 'x' }, always),
        'INVALID_REQUEST',
      );
    });
  });
}
