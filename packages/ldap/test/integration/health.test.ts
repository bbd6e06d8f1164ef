// healthCheck() for readiness probes, and the ping of pooled connections that sat idle.
import { expectRejection } from '@authbridge/conformance';
import { requireServer, slapdAvailable, type SlapdServer } from '@authbridge/testkit';
import { expect } from 'chai';
import { after, afterEach, before, describe, it } from 'mocha';
import { setTimeout as sleep } from 'node:timers/promises';
import { LdapBackend, type LdapBackendOptions } from '@authbridge/ldap';
import {
  acceptCount,
  BlackholeProxy,
  RecordingLogger,
  searchOptions,
  startSlapd,
} from './helpers.ts';

/** Root DSE reads (base "" searches) in slapd's log. */
async function rootDseReads(server: SlapdServer): Promise<number> {
  return ((await server.log()).match(/ SRCH base="" scope=0/g) ?? []).length;
}

describe('LdapBackend health (slapd)', function () {
  let server: SlapdServer;
  const backends: LdapBackend[] = [];
  const proxies: BlackholeProxy[] = [];
  const make = (
    extra: Partial<LdapBackendOptions> = {},
  ): { backend: LdapBackend; logger: RecordingLogger } => {
    const logger = new RecordingLogger();
    const backend = new LdapBackend(searchOptions(server, logger, extra));
    backends.push(backend);
    return { backend, logger };
  };
  const alice = { username: 'alice', password: 'alice-password' };
  const bob = { username: 'bob', password: 'bob-password' };

  before(async function () {
    requireServer(this, await slapdAvailable(), 'slapd');
    server = await startSlapd();
  });

  afterEach(function () {
    server.resume();
  });

  after(async function () {
    for (const b of backends) await b.close();
    for (const p of proxies) await p.close();
    if ((server as SlapdServer | undefined) !== undefined) await server.stop();
  });

  describe('pool rebuilds', function () {
    it('a rebuild that outlives its callers lands in the pool and is closed with it', async function () {
      // Every answer takes 400 ms: StartTLS and the service bind take longer than the health
      // check waits, and the rebuild goes on after it gave up.
      const proxy = await BlackholeProxy.start(server.port, 400);
      proxies.push(proxy);
      const { backend } = make({
        url: proxy.url,
        poolSize: 1,
        healthCheckTimeoutMs: 300,
        connectTimeoutMs: 5000,
      });
      for (let i = 0; i < 3; i++) await expectRejection(backend.healthCheck());
      expect(proxy.connections, 'one shared rebuild, not one per caller').to.equal(1);
      await backend.close();
      // The rebuild finishes after close() and must close its connection itself.
      const until = Date.now() + 8000;
      while (proxy.connections > 0 && Date.now() < until) await sleep(50);
      expect(proxy.connections, 'no socket left bound as the service account').to.equal(0);
    });
  });

  describe('healthCheck()', function () {
    it('resolves when the directory answers, with a root DSE read on the wire', async function () {
      const { backend } = make();
      const before = await rootDseReads(server);
      await backend.healthCheck();
      expect(await rootDseReads(server)).to.equal(before + 1);
      // Again on the now-warm pooled connection.
      await backend.healthCheck();
      expect(await rootDseReads(server)).to.equal(before + 2);
    });

    it('rejects BACKEND_UNAVAILABLE within its deadline when the server freezes', async function () {
      const { backend, logger } = make({ healthCheckTimeoutMs: 400 });
      await backend.healthCheck();
      server.pause();
      // Warm pool: the pooled connection is open, but nothing answers on it.
      let started = performance.now();
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
      expect(performance.now() - started).to.be.below(900);
      // Cold: the TCP handshake succeeds (the kernel still accepts), StartTLS hangs.
      const cold = make({ healthCheckTimeoutMs: 400 }).backend;
      started = performance.now();
      await expectRejection(cold.healthCheck(), 'BACKEND_UNAVAILABLE');
      expect(performance.now() - started).to.be.below(900);
      expect(logger.events.some((e) => e.event === 'ldap.health_check_failed')).to.equal(true);
      server.resume();
      await backend.healthCheck();
      await cold.healthCheck();
    });

    it('rejects BACKEND_UNAVAILABLE when the server is down, and recovers after a restart', async function () {
      const { backend } = make({ healthCheckTimeoutMs: 1000 });
      await backend.healthCheck();
      await server.kill();
      try {
        const started = performance.now();
        await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
        expect(performance.now() - started).to.be.below(1500);
      } finally {
        await server.restart();
      }
      await backend.healthCheck();
    });

    it('rejects BACKEND_UNAVAILABLE once the server is stopped for good', async function () {
      const doomed = await startSlapd({ logLevel: 'none' });
      let stopped = false;
      try {
        const logger = new RecordingLogger();
        const backend = new LdapBackend(
          searchOptions(doomed, logger, { healthCheckTimeoutMs: 1000, connectTimeoutMs: 500 }),
        );
        backends.push(backend);
        await backend.healthCheck();
        await doomed.stop();
        stopped = true;
        const started = performance.now();
        await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
        expect(performance.now() - started).to.be.below(1500);
      } finally {
        if (!stopped) await doomed.stop();
      }
    });

    it('rejects BACKEND_UNAVAILABLE when the service account is refused', async function () {
      const { backend } = make({ bindPassword: 'not-the-service-password' });
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
    });

    it('rejects BACKEND_UNAVAILABLE once closed', async function () {
      const { backend } = make();
      await backend.healthCheck();
      await backend.close();
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
    });
  });

  describe('idle ping of pooled connections', function () {
    it('replaces a silently dropped idle connection within the ping budget', async function () {
      const proxy = await BlackholeProxy.start(server.port);
      proxies.push(proxy);
      const { backend, logger } = make({
        url: proxy.url,
        poolSize: 1,
        poolIdlePingMs: 100,
        healthCheckTimeoutMs: 300,
        timeoutMs: 3000,
      });
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      await sleep(50);
      // The user-bind connection is gone by now; what is left is the pooled one.
      expect(proxy.connections).to.equal(1);
      proxy.blackhole();
      await sleep(150);
      const started = performance.now();
      expect((await backend.authenticate(undefined, bob))?.username).to.equal('bob');
      const elapsed = performance.now() - started;
      expect(elapsed).to.be.below(1500);
      expect(logger.events.filter((e) => e.event === 'ldap.pool_ping_failed')).to.have.length(1);
    });

    it('without the ping, the same drop costs the login its whole deadline (control)', async function () {
      const proxy = await BlackholeProxy.start(server.port);
      proxies.push(proxy);
      const { backend, logger } = make({
        url: proxy.url,
        poolSize: 1,
        poolIdlePingMs: 60_000,
        timeoutMs: 800,
      });
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      await sleep(50);
      proxy.blackhole();
      await sleep(150);
      const started = performance.now();
      await expectRejection(backend.authenticate(undefined, bob), 'BACKEND_TIMEOUT');
      expect(performance.now() - started).to.be.at.least(700);
      expect(logger.events.some((e) => e.event === 'ldap.pool_ping_failed')).to.equal(false);
    });

    it('does not ping a connection in steady use', async function () {
      const { backend } = make({ poolSize: 1, poolIdlePingMs: 5_000 });
      await backend.authenticate(undefined, alice);
      const before = await rootDseReads(server);
      for (let i = 0; i < 5; i++) await backend.authenticate(undefined, alice);
      expect(await rootDseReads(server)).to.equal(before);
    });

    it('shares one ping among concurrent logins that find the connection idle', async function () {
      const { backend } = make({ poolSize: 1, poolIdlePingMs: 100 });
      await backend.authenticate(undefined, alice);
      const before = await rootDseReads(server);
      await sleep(200);
      const users = await Promise.all(
        Array.from({ length: 8 }, () => backend.authenticate(undefined, { ...bob })),
      );
      expect(users.map((u) => u?.username)).to.deep.equal(Array(8).fill('bob'));
      expect(await rootDseReads(server)).to.equal(before + 1);
    });

    it('pings a connection idle for longer than poolIdlePingMs before reusing it', async function () {
      const { backend } = make({ poolSize: 1, poolIdlePingMs: 100 });
      await backend.authenticate(undefined, alice);
      const before = await rootDseReads(server);
      await sleep(200);
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      expect(await rootDseReads(server)).to.equal(before + 1);
    });
  });
  describe('pooled connection lifetime', function () {
    it('replaces a pooled connection older than poolMaxLifetimeMs, and not before', async function () {
      const { backend } = make({
        poolSize: 1,
        poolMaxLifetimeMs: 1_000,
        timeoutMs: 900,
        poolIdlePingMs: 60_000,
      });
      await backend.authenticate(undefined, alice);
      // The cost of one login on a pooled connection still young: its user bind's connection.
      let before = await acceptCount(server);
      expect((await backend.authenticate(undefined, bob))?.username).to.equal('bob');
      const young = (await acceptCount(server)) - before;
      await sleep(1_100);
      before = await acceptCount(server);
      expect((await backend.authenticate(undefined, alice))?.username).to.equal('alice');
      // Past its lifetime the pooled connection is rebuilt: one connection more than before.
      expect((await acceptCount(server)) - before).to.equal(young + 1);
    });

    it('retires a connection past its lifetime without cutting off a read still running on it', async function () {
      const { backend, logger } = make({
        poolSize: 1,
        poolMaxLifetimeMs: 1_000,
        timeoutMs: 900,
        healthCheckTimeoutMs: 5_000,
      });
      await backend.healthCheck();
      // A read in flight on the pooled connection (for less than ldapts' per-operation timeout,
      // timeoutMs) when the next caller finds it too old.
      await sleep(800);
      server.pause();
      const running = backend.healthCheck();
      await sleep(300);
      const next = backend.healthCheck();
      server.resume();
      await running;
      await next;
      expect(logger.events.filter((e) => e.event === 'ldap.pool_reconnect')).to.deep.equal([]);
    });
  });

  describe('a pooled connection shared by callers with their own deadlines', function () {
    it("one caller's deadline does not cut off another's search on the same connection", async function () {
      const { backend, logger } = make({
        poolSize: 1,
        timeoutMs: 5_000,
        healthCheckTimeoutMs: 300,
      });
      await backend.healthCheck();
      server.pause();
      const login = backend.authenticate(undefined, alice);
      // The health check reads on the same connection as the login's user search, and gives up
      // first (before ldapts' own per-operation timeout, timeoutMs, which would end both).
      await expectRejection(backend.healthCheck(), 'BACKEND_UNAVAILABLE');
      server.resume();
      expect((await login)?.username).to.equal('alice');
      expect(logger.events.filter((e) => e.event === 'ldap.pool_reconnect')).to.deep.equal([]);
    });

    it('closes the retired connection when its last user leaves, or at close()', async function () {
      const proxy = await BlackholeProxy.start(server.port);
      proxies.push(proxy);
      const { backend } = make({
        url: proxy.url,
        poolSize: 1,
        timeoutMs: 300,
        healthCheckTimeoutMs: 2_000,
      });
      const closed = async (withinMs: number): Promise<boolean> => {
        const until = performance.now() + withinMs;
        while (proxy.connections > 0 && performance.now() < until) await sleep(20);
        return proxy.connections === 0;
      };
      // The login gives up on the pooled connection while a health check still reads on it.
      const retire = async (): Promise<{ running: Promise<unknown> }> => {
        await backend.healthCheck();
        server.pause();
        const running = backend.healthCheck().catch((error: unknown) => error);
        await expectRejection(backend.authenticate(undefined, alice), 'BACKEND_TIMEOUT');
        expect(proxy.connections, 'retired, still in use').to.equal(1);
        return { running };
      };
      await (
        await retire()
      ).running;
      expect(await closed(1_000), 'closed after the last user gave up').to.equal(true);
      server.resume();
      const { running } = await retire();
      const started = performance.now();
      await backend.close();
      await running;
      expect(performance.now() - started, 'not left to its user').to.be.below(1_000);
      expect(await closed(500), 'closed by close()').to.equal(true);
    });
  });
});
