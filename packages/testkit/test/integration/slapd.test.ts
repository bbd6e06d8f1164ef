import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  Attribute,
  Change,
  Client,
  InsufficientAccessError,
  InvalidCredentialsError,
  PasswordPolicyControl,
  PasswordPolicyError,
} from 'ldapts';
import type { PasswordPolicyValue } from 'ldapts';
import { liveServers, requireServer, slapdAvailable, startSlapd } from '@authbridge/testkit';
import type { SlapdServer } from '@authbridge/testkit';

// These tests exercise the native mode on purpose: they look at pids, /proc and signals.
const NATIVE_SLAPD =
  'OpenLDAP slapd for the native harness (Debian/Ubuntu: apt-get install slapd ldap-utils openssl)';
const FIXTURE = fileURLToPath(new URL('../fixtures/start-slapd-and-wait.ts', import.meta.url));

const PEOPLE = 'ou=people,dc=example,dc=org';
const GROUPS = 'ou=groups,dc=example,dc=org';
const dnOf = (uid: string): string => `uid=${uid},${PEOPLE}`;

/**
 * Whether a process no longer runs. A zombie (state Z) has exited and only waits to be reaped
 * by whoever inherited it (PID 1 after its parent died), so it counts as gone.
 */
function processGone(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

async function waitUntilGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (processGone(pid)) return true;
    await sleep(25);
  }
  return processGone(pid);
}

/** Binds with the ppolicy request control; returns the outcome and the parsed response control. */
async function bindWithPolicy(
  url: string,
  dn: string,
  password: string,
): Promise<{ error: unknown; policy: PasswordPolicyValue | undefined }> {
  const client = new Client({ url, timeout: 5000 });
  const control = new PasswordPolicyControl();
  try {
    await client.bind(dn, password, control);
    return { error: undefined, policy: control.value };
  } catch (error) {
    return { error, policy: control.value };
  } finally {
    await client.unbind();
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** Lowercased, with `\2c` spelled `\,`: enough DN normalisation to compare this fixture's DNs. */
const normalizeDN = (dn: string): string => dn.toLowerCase().replace(/\\2c/g, '\\,');

const values = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);

describe('startSlapd (native)', function () {
  let slapd: SlapdServer;
  let service: Client;

  before(async function () {
    requireServer(this, await slapdAvailable('native'), NATIVE_SLAPD);
    // The start budget: it takes ~0.2 s; 5 s is the contract.
    this.timeout(5000);
    slapd = await startSlapd({ mode: 'native' });
    service = new Client({ url: slapd.url, timeout: 5000 });
    await service.bind(slapd.serviceDN, slapd.servicePassword);
  });

  after(async () => {
    // Both are unset when `before` skipped or failed.
    await (service as Client | undefined)?.unbind();
    await (slapd as SlapdServer | undefined)?.stop();
  });

  it('describes itself', () => {
    expect(slapd.mode).to.equal('native');
    expect(slapd.url).to.equal(`ldap://127.0.0.1:${slapd.port}`);
    expect(slapd.ldapsUrl).to.equal(`ldaps://127.0.0.1:${slapd.ldapsPort}`);
    expect(slapd.baseDN).to.equal('dc=example,dc=org');
    expect(slapd.adminDN).to.equal('cn=admin,dc=example,dc=org');
    expect(slapd.serviceDN).to.equal('cn=authbridge,ou=service,dc=example,dc=org');
    expect(slapd.pid).to.be.a('number');
    expect(readFileSync(slapd.caCertPath, 'utf8')).to.equal(slapd.caCertPem);
    expect(liveServers().map((server) => server.dir)).to.include(slapd.dir);
  });

  it('accepts simple binds as the admin and as the service account', async () => {
    const client = new Client({ url: slapd.url, timeout: 5000 });
    try {
      await client.bind(slapd.adminDN, slapd.adminPassword);
      await client.bind(slapd.serviceDN, slapd.servicePassword);
      expect(await rejection(client.bind(slapd.serviceDN, 'wrong'))).to.be.instanceOf(
        InvalidCredentialsError,
      );
    } finally {
      await client.unbind();
    }
  });

  it('lets the service account, but not anonymous clients, search for alice', async () => {
    const { searchEntries } = await service.search(PEOPLE, {
      filter: '(uid=alice)',
      attributes: ['uid', 'mail', 'userPassword'],
    });
    expect(searchEntries).to.have.length(1);
    expect(searchEntries[0]).to.include({ dn: dnOf('alice'), mail: 'alice@example.org' });
    // The service account may compare passwords but never read them (ldapts reports a
    // requested attribute the server withheld as an empty list).
    expect(values(searchEntries[0]?.['userPassword'])).to.deep.equal([]);
    expect(await service.compare(dnOf('alice'), 'userPassword', 'alice-password')).to.equal(true);

    const anonymous = new Client({ url: slapd.url, timeout: 5000 });
    try {
      const error = await rejection(anonymous.search(PEOPLE, { filter: '(uid=alice)' }));
      expect(error).to.be.instanceOf(InsufficientAccessError);
    } finally {
      await anonymous.unbind();
    }
  });

  it("lists alice's groupOfNames groups, and only those, in her memberOf", async () => {
    const [{ searchEntries: users }, { searchEntries: groups }] = await Promise.all([
      service.search(dnOf('alice'), { scope: 'base', attributes: ['memberOf'] }),
      service.search(GROUPS, {
        filter: `(&(objectClass=groupOfNames)(member=${dnOf('alice')}))`,
        attributes: ['cn'],
      }),
    ]);
    const memberOf = values(users[0]?.['memberOf']).map(normalizeDN).sort();
    expect(memberOf).to.deep.equal([`cn=admins,${GROUPS}`, `cn=staff,${GROUPS}`]);
    expect(groups.map((group) => normalizeDN(group.dn)).sort()).to.deep.equal(memberOf);
  });

  it('has seeded memberOf values that mirror every groupOfNames exactly', async () => {
    // slapadd runs no overlays, so the fixture LDIF spells memberOf out; this keeps it honest.
    const [{ searchEntries: groups }, { searchEntries: members }] = await Promise.all([
      service.search(slapd.baseDN, {
        filter: '(objectClass=groupOfNames)',
        attributes: ['member'],
      }),
      service.search(slapd.baseDN, { filter: '(memberOf=*)', attributes: ['memberOf'] }),
    ]);
    const fromGroups = groups
      .flatMap((group) =>
        values(group['member']).map((m) => `${normalizeDN(m)} -> ${normalizeDN(group.dn)}`),
      )
      .sort();
    const fromMemberOf = members
      .flatMap((entry) =>
        values(entry['memberOf']).map((g) => `${normalizeDN(entry.dn)} -> ${normalizeDN(g)}`),
      )
      .sort();
    expect(fromGroups).to.have.length.greaterThan(10);
    expect(fromMemberOf).to.deep.equal(fromGroups);
  });

  it('runs the memberof overlay: adding a member updates memberOf', async () => {
    const admin = new Client({ url: slapd.url, timeout: 5000 });
    const admins = `cn=admins,${GROUPS}`;
    const memberChange = (operation: 'add' | 'delete'): Change =>
      new Change({
        operation,
        modification: new Attribute({ type: 'member', values: [dnOf('bob')] }),
      });
    const bobsGroups = async (): Promise<string[]> => {
      const { searchEntries } = await service.search(dnOf('bob'), {
        scope: 'base',
        attributes: ['memberOf'],
      });
      return values(searchEntries[0]?.['memberOf']);
    };
    try {
      await admin.bind(slapd.adminDN, slapd.adminPassword);
      await admin.modify(admins, memberChange('add'));
      expect(await bobsGroups()).to.include(admins);
      await admin.modify(admins, memberChange('delete'));
      expect(await bobsGroups()).not.to.include(admins);
    } finally {
      await admin.unbind();
    }
  });

  it('finds both "twin" entries in a subtree search of ou=people', async () => {
    const { searchEntries } = await service.search(PEOPLE, {
      filter: '(uid=twin)',
      attributes: ['cn'],
    });
    expect(searchEntries.map((entry) => entry.dn).sort()).to.deep.equal([
      `uid=twin,ou=contractors,${PEOPLE}`,
      dnOf('twin'),
    ]);
  });

  it('binds users whose DN or password needs escaping or is not ASCII', async () => {
    const jsmith = await bindWithPolicy(slapd.url, `cn=Smith\\, John,${PEOPLE}`, 'jsmith-password');
    expect(jsmith.error).to.equal(undefined);
    const juergen = await bindWithPolicy(slapd.url, dnOf('jürgen'), 'pässwörd-jürgen');
    expect(juergen.error).to.equal(undefined);
  });

  it('serves LDAPS with the generated CA and refuses to verify without it', async () => {
    const trusted = new Client({
      url: slapd.ldapsUrl,
      timeout: 5000,
      tlsOptions: { ca: [slapd.caCertPem] },
    });
    try {
      await trusted.bind(slapd.serviceDN, slapd.servicePassword);
    } finally {
      await trusted.unbind();
    }
    const byName = new Client({
      url: slapd.ldapsUrl,
      timeout: 5000,
      tlsOptions: { ca: [slapd.caCertPem], servername: slapd.serverName },
    });
    try {
      await byName.bind(slapd.serviceDN, slapd.servicePassword);
    } finally {
      await byName.unbind();
    }
    const untrusted = new Client({ url: slapd.ldapsUrl, timeout: 5000, connectTimeout: 5000 });
    try {
      const error = await rejection(untrusted.bind(slapd.serviceDN, slapd.servicePassword));
      expect(error)
        .to.have.property('code')
        .that.matches(
          /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/,
        );
    } finally {
      await untrusted.unbind();
    }
  });

  it('upgrades ldap:// with StartTLS', async () => {
    const client = new Client({ url: slapd.url, timeout: 5000 });
    try {
      await client.startTLS({ ca: [slapd.caCertPem] });
      await client.bind(slapd.serviceDN, slapd.servicePassword);
    } finally {
      await client.unbind();
    }
    expect(await slapd.log()).to.match(/STARTTLS/);
  });

  describe('ppolicy overlay', () => {
    it('refuses a permanently locked account even with the right password', async () => {
      const { error, policy } = await bindWithPolicy(slapd.url, dnOf('locked'), 'locked-password');
      expect(error).to.be.instanceOf(InvalidCredentialsError);
      expect(policy?.error).to.equal(PasswordPolicyError.AccountLocked);
    });

    it('refuses an expired password without grace logins', async () => {
      const { error, policy } = await bindWithPolicy(
        slapd.url,
        dnOf('expired'),
        'expired-password',
      );
      expect(error).to.be.instanceOf(InvalidCredentialsError);
      expect(policy?.error).to.equal(PasswordPolicyError.PasswordExpired);
    });

    it('accepts an expired password while grace logins remain, and counts them', async () => {
      const first = await bindWithPolicy(slapd.url, dnOf('grace'), 'grace-password');
      const second = await bindWithPolicy(slapd.url, dnOf('grace'), 'grace-password');
      expect(first.error).to.equal(undefined);
      expect(first.policy?.graceAuthNsRemaining).to.be.a('number');
      expect(second.policy?.graceAuthNsRemaining).to.equal(first.policy!.graceAuthNsRemaining! - 1);
    });

    it('accepts a reset password but reports that it must be changed', async () => {
      const { error, policy } = await bindWithPolicy(
        slapd.url,
        dnOf('mustchange'),
        'mustchange-password',
      );
      expect(error).to.equal(undefined);
      expect(policy?.error).to.equal(PasswordPolicyError.ChangeAfterReset);
    });

    it('locks "lockme" after three wrong passwords', async () => {
      for (let i = 0; i < 3; i++) {
        const wrong = await bindWithPolicy(slapd.url, dnOf('lockme'), 'wrong');
        expect(wrong.error).to.be.instanceOf(InvalidCredentialsError);
      }
      const { error, policy } = await bindWithPolicy(slapd.url, dnOf('lockme'), 'lockme-password');
      expect(error).to.be.instanceOf(InvalidCredentialsError);
      expect(policy?.error).to.equal(PasswordPolicyError.AccountLocked);
    });

    it('does not lock ordinary users out after failures', async () => {
      for (let i = 0; i < 6; i++) await bindWithPolicy(slapd.url, dnOf('carol'), 'wrong');
      const { error } = await bindWithPolicy(slapd.url, dnOf('carol'), 'carol-password');
      expect(error).to.equal(undefined);
    });
  });

  it('logs operations at the default "stats" level', async () => {
    await bindWithPolicy(slapd.url, dnOf('bob'), 'bob-password');
    expect(await slapd.log()).to.include(`BIND dn="${dnOf('bob')}"`);
  });
});

describe('slapd lifecycle (native)', function () {
  let server: SlapdServer | undefined;

  before(async function () {
    requireServer(this, await slapdAvailable('native'), NATIVE_SLAPD);
  });

  beforeEach(async function () {
    this.timeout(5000);
    server = await startSlapd({ mode: 'native' });
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const bindAsAlice = async (url: string, timeout: number): Promise<void> => {
    const client = new Client({ url, timeout, connectTimeout: timeout });
    try {
      await client.bind(dnOf('alice'), 'alice-password');
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  it('pause() makes a bind hang until it times out; resume() recovers', async () => {
    const slapd = server!;
    slapd.pause();
    const error = await rejection(bindAsAlice(slapd.url, 300));
    expect(error)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/timed out/i);
    slapd.resume();
    await bindAsAlice(slapd.url, 5000);
  });

  it('restart() keeps the data and the ports', async () => {
    const slapd = server!;
    const { url, port, ldapsPort } = slapd;
    const before = slapd.pid!;
    const admin = new Client({ url, timeout: 5000 });
    const description = `written before restart ${Date.now()}`;
    try {
      await admin.bind(slapd.adminDN, slapd.adminPassword);
      await admin.modify(
        dnOf('alice'),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'description', values: [description] }),
        }),
      );
    } finally {
      await admin.unbind();
    }

    await slapd.restart();

    expect(processGone(before)).to.equal(true);
    expect(slapd.pid).to.be.a('number').and.not.equal(before);
    expect([slapd.url, slapd.port, slapd.ldapsPort]).to.deep.equal([url, port, ldapsPort]);
    const client = new Client({ url, timeout: 5000 });
    try {
      await client.bind(slapd.serviceDN, slapd.servicePassword);
      const { searchEntries } = await client.search(dnOf('alice'), {
        scope: 'base',
        attributes: ['description'],
      });
      expect(searchEntries[0]?.['description']).to.equal(description);
    } finally {
      await client.unbind();
    }
  });

  it('kill() is a crash: the process dies, the data stays, restart() brings it back', async () => {
    const slapd = server!;
    const pid = slapd.pid!;
    await slapd.kill();
    expect(processGone(pid)).to.equal(true);
    expect(slapd.pid).to.equal(undefined);
    expect(existsSync(slapd.dir)).to.equal(true);
    const refused = await rejection(bindAsAlice(slapd.url, 1000));
    expect(refused).to.have.property('code', 'ECONNREFUSED');
    await slapd.restart();
    await bindAsAlice(slapd.url, 5000);
  });

  it('stop() ends the process and removes the temp dir, and is idempotent', async () => {
    const slapd = server!;
    const { pid, dir } = slapd;
    expect(pid).to.be.a('number');
    expect(existsSync(dir)).to.equal(true);
    await Promise.all([slapd.stop(), slapd.stop()]);
    expect(processGone(pid!)).to.equal(true);
    expect(existsSync(`/proc/${pid}`)).to.equal(false);
    expect(existsSync(dir)).to.equal(false);
    expect(liveServers().map((live) => live.dir)).not.to.include(dir);
    await slapd.stop();
  });

  it('stop() also works on a paused server', async () => {
    const slapd = server!;
    const pid = slapd.pid!;
    slapd.pause();
    await slapd.stop();
    expect(processGone(pid)).to.equal(true);
  });

  it('disposes with await using', async () => {
    let pid: number | undefined;
    let dir: string | undefined;
    {
      await using slapd = await startSlapd({ mode: 'native', seed: 'none', logLevel: 'none' });
      pid = slapd.pid;
      dir = slapd.dir;
    }
    expect(processGone(pid!)).to.equal(true);
    expect(existsSync(dir)).to.equal(false);
  });
});

describe('no slapd left behind when the test process dies', function () {
  this.timeout(20_000);
  let child: ChildProcessByStdio<null, Readable, Readable> | undefined;

  before(async function () {
    requireServer(this, await slapdAvailable('native'), NATIVE_SLAPD);
  });

  afterEach(() => {
    if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  /** Starts the fixture process and waits for the slapd it started. */
  async function startChild(): Promise<{ pid: number; dir: string }> {
    const started = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    let stdout = '';
    let stderr = '';
    started.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`fixture did not report a slapd within 10 s; stderr:\n${stderr}`));
      }, 10_000);
      started.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n') && line !== undefined) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { pid: number; dir: string });
        }
      });
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`fixture exited early (${code ?? signal}); stderr:\n${stderr}`));
      });
    });
  }

  const exitOf = (process: ChildProcessByStdio<null, Readable, Readable>) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (process.exitCode !== null || process.signalCode !== null) {
        resolve({ code: process.exitCode, signal: process.signalCode });
      } else {
        process.once('exit', (code, signal) => {
          resolve({ code, signal });
        });
      }
    });

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal}: slapd dies, the temp dir goes, and the signal is not swallowed`, async () => {
      const { pid, dir } = await startChild();
      expect(processGone(pid)).to.equal(false);
      const proc = child!;
      proc.kill(signal);
      const exit = await exitOf(proc);
      // Re-raised: the parent sees death by the signal (a shell shows `status`).
      expect(exit.signal === signal || exit.code === status, JSON.stringify(exit)).to.equal(true);
      expect(await waitUntilGone(pid), `slapd ${pid} still running`).to.equal(true);
      expect(existsSync(dir)).to.equal(false);
    });
  }

  it('SIGKILL: slapd dies anyway (parent-death signal)', async function () {
    // Nothing in a SIGKILLed process runs; only the kernel's parent-death signal helps.
    requireServer(
      this,
      existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv'),
      'setpriv (util-linux)',
    );
    const { pid, dir } = await startChild();
    const proc = child!;
    proc.kill('SIGKILL');
    const exit = await exitOf(proc);
    expect(exit.signal).to.equal('SIGKILL');
    try {
      expect(await waitUntilGone(pid), `slapd ${pid} still running`).to.equal(true);
    } finally {
      // The killed process could not remove its directory; the next run's sweep would.
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('liveServers()', () => {
  it('is empty once every server has been stopped', () => {
    expect(liveServers()).to.deep.equal([]);
  });
});
