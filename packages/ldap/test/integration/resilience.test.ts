// Outages: a frozen server hits the deadline, a restarted one is reconnected, a dead one fails over.
import { expectRejection } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { after, afterEach, before, describe, it } from 'mocha';
import type { LdapBackendOptions } from '@authbridge/ldap';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { BlackholeProxy, backendMaker, PEOPLE, RecordingLogger, startSlapd } from './helpers.ts';

describe('LdapBackend resilience (slapd)', function () {
  let server: SlapdServer;
  let second: SlapdServer;
  const { make, closeAll } = backendMaker(() => server);
  const alice = { username: 'alice', password: 'alice-password' };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
    second = await startSlapd();
  });

  afterEach(function () {
    server.resume();
  });

  after(async function () {
    await closeAll();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
    if ((second as SlapdServer | undefined) !== undefined) await second.stop();
  });

  it('fails within the deadline when the server freezes, then recovers', async function () {
    const backend = make({ timeoutMs: 1000, connectTimeoutMs: 1000 });
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
    server.pause();
    const started = performance.now();
    const error = await expectRejection(backend.authenticate(undefined, alice));
    const elapsed = performance.now() - started;
    expect((error as { code?: unknown }).code).to.be.oneOf([
      'BACKEND_TIMEOUT',
      'BACKEND_UNAVAILABLE',
    ]);
    expect(elapsed).to.be.below(1500);
    // A fresh login during the freeze fails the same way (new connections hang in the backlog).
    await expectRejection(
      backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }),
    );
    server.resume();
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
  });

  it('rebuilds the service connection after the server restarts between two logins', async function () {
    const backend = make();
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
    await server.restart();
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
    expect(
      (await backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }))
        ?.username,
    ).to.equal('bob');
  });

  it('fails over to the next URL when the first server is dead', async function () {
    // Two independent fixtures have different entryUUIDs (replicas would share them): key by uid.
    const backend = make({
      url: [server.url, second.url],
      connectTimeoutMs: 1000,
      idAttribute: 'uid',
    });
    expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
    await server.kill();
    try {
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(
        (await backend.authenticate(undefined, { username: 'bob', password: 'bob-password' }))
          ?.username,
      ).to.equal('bob');
    } finally {
      await server.restart();
    }
  });

  it('an outage of new connections looks the same for a known and an unknown user', async function () {
    // The pooled search connection still works; every new one (the user bind, the dummy bind) is
    // refused. An unknown user must not come back as a plain failure while a known one is an
    // outage: that would list the directory's users to whoever can exhaust its connections.
    const proxy = await BlackholeProxy.start(server.port);
    try {
      const backend = make({ url: proxy.url, poolSize: 1, connectTimeoutMs: 1000 });
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      proxy.refuseNew();
      for (const username of ['alice', 'nobody-here'])
        await expectRejection(
          backend.authenticate(undefined, { username, password: 'a-wrong-guess' }),
          'BACKEND_UNAVAILABLE',
        );
    } finally {
      await proxy.close();
    }
  });

  /** Runs `work` with a first URL that accepts TCP and then says nothing (a hung directory). */
  async function withSilentServer(work: (url: string) => Promise<void>): Promise<void> {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      await work(`ldap://127.0.0.1:${String((silent.address() as AddressInfo).port)}`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => {
        silent.close(() => {
          resolve();
        });
      });
    }
  }

  /**
   * Runs `work` with a first URL that answers every BindRequest with `resultCode` (and closes on
   * anything else): just enough of LDAP's BER for one bind.
   */
  async function withBindResultServer(
    resultCode: number,
    work: (url: string, binds: () => number) => Promise<void>,
  ): Promise<void> {
    let binds = 0;
    const sockets = new Set<Socket>();
    const fake = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', (message: Buffer) => {
        // SEQUENCE { INTEGER messageID, [APPLICATION 0] BindRequest ... }
        const at = (message[1]! & 0x80) === 0 ? 2 : 2 + (message[1]! & 0x7f);
        const idLength = message[at + 1]!;
        if (message[at] !== 0x02 || message[at + 2 + idLength] !== 0x60) {
          socket.destroy();
          return;
        }
        binds++;
        const id = message.subarray(at, at + 2 + idLength);
        // [APPLICATION 1] BindResponse { ENUMERATED resultCode, matchedDN "", diagnostic "" }
        const response = Buffer.from([0x61, 0x07, 0x0a, 0x01, resultCode, 0x04, 0x00, 0x04, 0x00]);
        socket.write(
          Buffer.concat([Buffer.from([0x30, id.length + response.length]), id, response]),
        );
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      await work(`ldap://127.0.0.1:${String((fake.address() as AddressInfo).port)}`, () => binds);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => {
        fake.close(() => {
          resolve();
        });
      });
    }
  }

  // Plain LDAP, so nothing at connect time notices the silence (StartTLS would).
  const silentFirst = (url: string, logger: RecordingLogger): Partial<LdapBackendOptions> => ({
    url: [url, server.url],
    startTls: false,
    allowInsecure: true,
    poolSize: 1,
    // Room for the silent server's attempt and a whole login on the next one.
    timeoutMs: 3_000,
    connectTimeoutMs: 400,
    idAttribute: 'uid',
    logger,
  });

  const directBind = (options: Partial<LdapBackendOptions>): Partial<LdapBackendOptions> => ({
    ...options,
    bindDn: undefined,
    bindPassword: undefined,
    userSearch: undefined,
    userDnTemplate: `uid={username},${PEOPLE}`,
  });

  const failedServers = (logger: RecordingLogger): unknown[] =>
    logger.events.filter((e) => e.event === 'ldap.server_failed').map((e) => e.fields['server']);

  it('fails over within the login from a server that takes connections but never answers the service bind', async function () {
    await withSilentServer(async (url) => {
      const logger = new RecordingLogger();
      const backend = make(silentFirst(url, logger));
      // The silent server gets its connect timeout for the bind, then the next server serves the
      // same login...
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(failedServers(logger)).to.deep.equal([url]);
      // ...and the silent one, marked failed, is tried last for the next logins.
      expect(await backend.authenticate(undefined, { ...alice, password: 'wrong' })).to.equal(null);
      expect(await backend.authenticate(undefined, { username: 'nobody', password: 'x' })).to.equal(
        null,
      );
      expect(failedServers(logger)).to.deep.equal([url]);
    });
  });

  it('fails over within the login from a server that never answers the user bind', async function () {
    await withSilentServer(async (url) => {
      // Direct bind: no service account, the user's own bind meets the silence.
      const logger = new RecordingLogger();
      const backend = make(directBind(silentFirst(url, logger)));
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(failedServers(logger)).to.deep.equal([url]);
    });
  });

  it('answers a wrong password as a failure, not an outage, after failing over', async function () {
    await withSilentServer(async (url) => {
      const backend = make(directBind(silentFirst(url, new RecordingLogger())));
      expect(await backend.authenticate(undefined, { ...alice, password: 'wrong' })).to.equal(null);
    });
  });

  it('ends the failover on an LDAP result to the bind that is not a refusal of the password', async function () {
    // The first URL answers every bind with resultCode 13 (confidentialityRequired): an answer,
    // not an outage. The login ends there (503), the server is not marked failed, and the
    // password never goes to the next one.
    await withBindResultServer(13, async (url, binds) => {
      const logger = new RecordingLogger();
      const backend = make(directBind(silentFirst(url, logger)));
      await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_UNAVAILABLE');
      expect(binds()).to.equal(1);
      expect(failedServers(logger)).to.deep.equal([]);
    });
  });

  it('fails over from a server that answers the bind busy (51): its own state, not an answer', async function () {
    await withBindResultServer(51, async (url, binds) => {
      const logger = new RecordingLogger();
      const backend = make(directBind(silentFirst(url, logger)));
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(binds()).to.equal(1);
      expect(failedServers(logger)).to.deep.equal([url]);
    });
  });

  it('times out when every server is silent', async function () {
    await withSilentServer(async (url) => {
      const backend = make({
        ...silentFirst(url, new RecordingLogger()),
        url: [url, url],
        timeoutMs: 1_000,
      });
      await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_TIMEOUT');
    });
  });

  it('reports an outage, not a wrong password, when every server is down', async function () {
    const backend = make({ url: [server.url], connectTimeoutMs: 500 });
    await server.kill();
    try {
      await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_UNAVAILABLE');
    } finally {
      await server.restart();
    }
  });
});
