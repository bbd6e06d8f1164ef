/**
 * The conformance suite every authbridge backend runs: the behaviours the chain relies on.
 *
 * @packageDocumentation
 */
import { type AuthBackend, Authenticator, type User } from '@authbridge/core';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';

/** A user the backend under test can authenticate. */
export interface ConformanceUser<TCredentials> {
  /** Good credentials for this user. */
  readonly credentials: TCredentials;
  /** The username the backend must report for them. */
  readonly username: string;
}

/** What a backend's test provides: a live backend and users to log in with. */
export interface ConformanceSubject<TCredentials> {
  readonly backend: AuthBackend<TCredentials>;
  /** At least two distinct users; the concurrency test spreads its calls over all of them. */
  readonly users: readonly ConformanceUser<TCredentials>[];
  /** Credentials naming an existing user with a wrong secret. */
  readonly wrongSecret: TCredentials;
  /** Credentials naming a user that does not exist, with some secret. */
  readonly unknownUser: TCredentials;
  /** Credentials this backend must not accept (added to the suite's own list). */
  readonly foreignCredentials?: readonly unknown[];
  /** What to pass as `request`; undefined by default. */
  readonly request?: unknown;
  /** Releases what `setup` made besides the backend (servers, stores). */
  teardown?(): Promise<void>;
}

/** A backend's entry into the suite. */
export interface BackendConformanceFixture<TCredentials> {
  /** Shown in the suite title. */
  readonly name: string;
  /** Makes a fresh subject; called once for the suite and once more for the `close()` test. */
  setup(): Promise<ConformanceSubject<TCredentials>>;
  /** Concurrent `authenticate` calls in the mix-up test. Default 100. */
  readonly concurrency?: number;
}

/** Credentials no backend should take: not objects, or objects with nothing in them. */
const ALWAYS_FOREIGN: readonly unknown[] = [null, undefined, '', 'alice:secret', 42, true, [], {}];

type Outcome =
  | { kind: 'user'; username: string }
  | { kind: 'null' }
  | { kind: 'error'; name: string; code: unknown; message: string };

async function outcomeOf(run: () => Promise<User | null>): Promise<Outcome> {
  try {
    const user = await run();
    return user === null ? { kind: 'null' } : { kind: 'user', username: user.username };
  } catch (error) {
    const e = error as { name?: unknown; code?: unknown; message?: unknown };
    return { kind: 'error', name: String(e.name), code: e.code, message: String(e.message) };
  }
}

/**
 * Registers the conformance suite for one backend with mocha.
 *
 * @example
 * ```ts
 * describeBackendConformance({ name: 'LocalPasswordBackend', setup: async () => ({ backend, users, wrongSecret, unknownUser }) });
 * ```
 */
export function describeBackendConformance<TCredentials>(
  fixture: BackendConformanceFixture<TCredentials>,
): void {
  describe(`conformance: ${fixture.name}`, function () {
    let subject: ConformanceSubject<TCredentials>;

    before(async function () {
      subject = await fixture.setup();
      expect(subject.users.length, 'fixture users').to.be.at.least(2);
    });

    after(async function () {
      // `subject` is unset when setup itself failed; that failure is already reported.
      if ((subject as ConformanceSubject<TCredentials> | undefined) === undefined) return;
      await subject.backend.close();
      await subject.teardown?.();
    });

    it('returns a well-formed, authenticated user for good credentials', async function () {
      const first = subject.users[0]!;
      const user = await subject.backend.authenticate(subject.request, first.credentials);
      expect(user).to.be.an('object');
      expect(user!.id).to.be.a('string').and.not.equal('');
      expect(user!.username).to.equal(first.username);
      expect(user!.isAuthenticated).to.equal(true);
      expect(user!.isAnonymous).to.equal(false);
      expect(user!.isActive).to.be.a('boolean');
      expect(user!.isStaff).to.be.a('boolean');
      expect(user!.isSuperuser).to.be.a('boolean');
      expect(user!.groups).to.be.an('array');
    });

    it('is tagged with its backend id by the Authenticator', async function () {
      const auth = new Authenticator({ backends: [subject.backend] });
      const user = await auth.authenticate(subject.request, subject.users[0]!.credentials);
      expect(user?.backendId).to.equal(subject.backend.id);
    });

    it('gives identical outcomes for an unknown user and a wrong secret', async function () {
      const unknown = await outcomeOf(() =>
        subject.backend.authenticate(subject.request, subject.unknownUser),
      );
      const wrong = await outcomeOf(() =>
        subject.backend.authenticate(subject.request, subject.wrongSecret),
      );
      expect(unknown.kind, 'unknown user must not log in').to.not.equal('user');
      expect(wrong).to.deep.equal(unknown);
    });

    it('accepts its own credentials and nothing else', function () {
      for (const u of subject.users) expect(subject.backend.accepts(u.credentials)).to.equal(true);
      for (const foreign of [...ALWAYS_FOREIGN, ...(subject.foreignCredentials ?? [])]) {
        expect(
          subject.backend.accepts(foreign),
          foreign === undefined ? 'undefined' : JSON.stringify(foreign),
        ).to.equal(false);
      }
    });

    it('is only asked about credentials it accepts', async function () {
      let asked = 0;
      const counted: AuthBackend<TCredentials> = {
        id: subject.backend.id,
        accepts: (c): c is TCredentials => subject.backend.accepts(c),
        authenticate: (r, c) => {
          asked += 1;
          return subject.backend.authenticate(r, c);
        },
        getUser: (id) => subject.backend.getUser(id),
        close: async () => undefined,
      };
      const catchAll: AuthBackend = {
        id: 'conformance-catch-all',
        accepts: (credentials): credentials is unknown => credentials !== Symbol.for('never'),
        authenticate: async () => null,
        getUser: async () => null,
        close: async () => undefined,
      };
      const auth = new Authenticator({ backends: [counted, catchAll] });
      for (const foreign of [...ALWAYS_FOREIGN, ...(subject.foreignCredentials ?? [])]) {
        expect(await auth.authenticate(subject.request, foreign)).to.equal(null);
      }
      expect(asked, 'authenticate calls for foreign credentials').to.equal(0);
      expect(
        (await auth.authenticate(subject.request, subject.users[0]!.credentials))?.backendId,
      ).to.equal(subject.backend.id);
      expect(asked).to.equal(1);
    });

    it('round-trips a user through getUser', async function () {
      const user = await subject.backend.authenticate(
        subject.request,
        subject.users[1]!.credentials,
      );
      expect(user).to.not.equal(null);
      const again = await subject.backend.getUser(user!.id);
      expect(again?.id).to.equal(user!.id);
      expect(again?.username).to.equal(user!.username);
      expect(await subject.backend.getUser('conformance-no-such-user-id')).to.equal(null);
    });

    it('never mixes users up under concurrent authentication', async function () {
      const n = fixture.concurrency ?? 100;
      const calls = Array.from({ length: n }, (_, i) => subject.users[i % subject.users.length]!);
      const results = await Promise.all(
        calls.map((u) => subject.backend.authenticate(subject.request, u.credentials)),
      );
      results.forEach((user, i) => {
        expect(user?.username, `call ${i}`).to.equal(calls[i]!.username);
      });
      // The same username must always map to the same local id.
      const ids = new Map<string, string>();
      for (const user of results) {
        const seen = ids.get(user!.username);
        if (seen !== undefined) expect(user!.id).to.equal(seen);
        ids.set(user!.username, user!.id);
      }
    });

    it('closes idempotently', async function () {
      const other = await fixture.setup();
      await other.backend.close();
      await other.backend.close();
      await other.teardown?.();
    });
  });
}
