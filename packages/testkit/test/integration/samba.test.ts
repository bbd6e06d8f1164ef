import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { expect } from 'chai';
import { Attribute, Change, Client, InvalidCredentialsError } from 'ldapts';
import { liveServers, requireServer, sambaAvailable, startSambaDc } from '@authbridge/testkit';
import type { AdSubCode, SambaDcServer, SambaUsers } from '@authbridge/testkit';

const SAMBA =
  'Samba AD DC, as root (Debian/Ubuntu: apt-get install --no-install-recommends samba ' +
  'samba-ad-provision samba-dsdb-modules samba-vfs-modules iproute2)';

/** LDAP_MATCHING_RULE_IN_CHAIN: matches through any depth of group nesting. */
const IN_CHAIN = '1.2.840.113556.1.4.1941';

/** Every seeded failure state and the sub-code AD reports for it. */
const FAILURES: readonly (readonly [keyof SambaUsers, AdSubCode])[] = [
  ['disabled', '533'],
  ['expired', '701'],
  ['locked', '775'],
  ['mustChange', '773'],
  ['passwordExpired', '532'],
  ['logonHours', '530'],
  ['workstation', '531'],
];

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** Binds a fresh connection; returns the error, or undefined on success. */
async function tryBind(url: string, name: string, password: string): Promise<unknown> {
  const client = new Client({ url, timeout: 5000 });
  try {
    await client.bind(name, password);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await client.unbind();
  }
}

/** Asserts an InvalidCredentials rejection carrying `data <subCode>`. */
function expectSubCode(error: unknown, subCode: AdSubCode): void {
  expect(error).to.be.instanceOf(InvalidCredentialsError);
  expect((error as Error).message).to.match(new RegExp(`\\bdata ${subCode}\\b`));
}

const values = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);

/** Whether a process no longer runs (a zombie waiting to be reaped counts as gone). */
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

/**
 * Pids of live processes working in `dir` or inside the network namespace with inode `netInode`.
 * (Not the command line: samba rewrites its own to "samba: root process".)
 */
function processesOf(dir: string, netInode: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const inDir = readlinkSync(`/proc/${entry}/cwd`) === dir;
      const inNamespace = readlinkSync(`/proc/${entry}/ns/net`) === `net:[${netInode}]`;
      if ((inDir || inNamespace) && !processGone(Number(entry))) pids.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

describe('startSambaDc', function () {
  let dc: SambaDcServer;

  before(async function () {
    requireServer(this, await sambaAvailable(), SAMBA);
    // The first DC of a process provisions the domain: 10 s on an idle 2-core machine.
    this.timeout(120_000);
    dc = await startSambaDc();
  });

  after(async () => {
    // Unset when `before` skipped or failed.
    await (dc as SambaDcServer | undefined)?.stop();
  });

  it('describes itself', () => {
    expect(dc.url).to.equal(`ldap://127.0.0.1:${dc.port}`);
    expect(dc.ldapsUrl).to.equal(`ldaps://127.0.0.1:${dc.ldapsPort}`);
    expect(dc.baseDN).to.equal('DC=authbridge,DC=test');
    expect(dc.realm).to.equal('AUTHBRIDGE.TEST');
    expect(dc.netbiosDomain).to.equal('AUTHBRIDGE');
    expect(dc.adminDN).to.equal('CN=Administrator,CN=Users,DC=authbridge,DC=test');
    expect(dc.users.alice).to.include({ sam: 'alice', upn: 'alice@authbridge.test' });
    expect(dc.users.bob.dn).to.equal('CN=Builder\\, Bob,OU=People,DC=authbridge,DC=test');
    expect(dc.caCertPem).to.match(/^-----BEGIN CERTIFICATE-----/);
    expect(readFileSync(dc.caCertPath, 'utf8')).to.equal(dc.caCertPem);
    expect(dc.pid).to.be.a('number');
    expect(ip('netns', 'list')).to.include(dc.namespace);
    expect(liveServers().map((server) => server.dir)).to.include(dc.dir);
  });

  it('binds alice by UPN and by DOMAIN\\user, and the admin by DN', async () => {
    const { alice } = dc.users;
    expect(await tryBind(dc.url, alice.upn, alice.password)).to.equal(undefined);
    expect(await tryBind(dc.url, `${dc.netbiosDomain}\\${alice.sam}`, alice.password)).to.equal(
      undefined,
    );
    expect(await tryBind(dc.url, dc.adminDN, dc.adminPassword)).to.equal(undefined);
  });

  it('answers a wrong password and an unknown user with data 52e', async () => {
    const { alice } = dc.users;
    expectSubCode(await tryBind(dc.url, alice.upn, `${alice.password}x`), '52e');
    expectSubCode(
      await tryBind(dc.url, `${dc.netbiosDomain}\\${alice.sam}`, 'Wrong-Passw0rd!'),
      '52e',
    );
    expectSubCode(await tryBind(dc.url, 'nobody@authbridge.test', 'Wrong-Passw0rd!'), '52e');
  });

  for (const [name, subCode] of FAILURES) {
    // A locked-out account says so whatever the password; the others only for the right one.
    const wrongPasswordCode = name === 'locked' ? '775' : '52e';
    it(`answers ${name} with data ${subCode}, and ${wrongPasswordCode} for a wrong password`, async () => {
      const user = dc.users[name];
      expect(user.expectedSubCode).to.equal(subCode);
      expectSubCode(await tryBind(dc.url, user.upn, user.password), subCode);
      expectSubCode(
        await tryBind(dc.url, `${dc.netbiosDomain}\\${user.sam}`, 'Wrong-Passw0rd!'),
        wrongPasswordCode,
      );
    });
  }

  it('finds nested membership with LDAP_MATCHING_RULE_IN_CHAIN, direct only without it', async () => {
    const { alice, service } = dc.users;
    const { inner, outer } = dc.groups;
    const client = new Client({ url: dc.url, timeout: 5000 });
    try {
      await client.bind(service.upn, service.password);
      const search = async (filter: string): Promise<string[]> =>
        (await client.search(dc.baseDN, { filter, attributes: ['cn'] })).searchEntries
          .map((entry) => entry.dn.toLowerCase())
          .sort();
      expect(await search(`(member:${IN_CHAIN}:=${alice.dn})`)).to.deep.equal(
        [inner.dn, outer.dn].map((dn) => dn.toLowerCase()).sort(),
      );
      expect(await search(`(member=${alice.dn})`)).to.deep.equal([inner.dn.toLowerCase()]);
      expect(await search(`(memberOf:${IN_CHAIN}:=${outer.dn})`)).to.deep.equal(
        [inner.dn, alice.dn].map((dn) => dn.toLowerCase()).sort(),
      );
    } finally {
      await client.unbind();
    }
  });

  it('returns objectGUID as 16 bytes, distinct per entry, and memberOf', async () => {
    const { alice, bob, service } = dc.users;
    const client = new Client({ url: dc.url, timeout: 5000 });
    try {
      await client.bind(service.upn, service.password);
      const { searchEntries } = await client.search(dc.baseDN, {
        filter: `(|(sAMAccountName=${alice.sam})(sAMAccountName=${bob.sam}))`,
        attributes: ['objectGUID', 'memberOf', 'sAMAccountName'],
        explicitBufferAttributes: ['objectGUID'],
      });
      expect(searchEntries).to.have.length(2);
      const guids = searchEntries.map((entry) => entry['objectGUID']);
      for (const guid of guids) {
        expect(Buffer.isBuffer(guid)).to.equal(true);
        expect((guid as Buffer).length).to.equal(16);
      }
      expect((guids[0] as Buffer).equals(guids[1] as Buffer)).to.equal(false);
      const aliceEntry = searchEntries.find((entry) => entry['sAMAccountName'] === alice.sam);
      expect(values(aliceEntry?.['memberOf'])).to.deep.equal([dc.groups.inner.dn]);
    } finally {
      await client.unbind();
    }
  });

  it("binds over LDAPS and StartTLS with Samba's CA, and rejects the certificate without it", async () => {
    const { alice } = dc.users;
    const tlsOptions = { ca: [dc.caCertPem], servername: dc.serverName };
    const ldaps = new Client({ url: dc.ldapsUrl, timeout: 5000, tlsOptions });
    try {
      await ldaps.bind(alice.upn, alice.password);
    } finally {
      await ldaps.unbind();
    }
    const startTls = new Client({ url: dc.url, timeout: 5000 });
    try {
      await startTls.startTLS(tlsOptions);
      await startTls.bind(alice.upn, alice.password);
    } finally {
      await startTls.unbind();
    }
    const untrusted = new Client({
      url: dc.ldapsUrl,
      timeout: 5000,
      tlsOptions: { servername: dc.serverName },
    });
    try {
      const error = await rejection(untrusted.bind(alice.upn, alice.password));
      expect((error as Error).message).to.match(/self[- ]signed|unable to (get|verify)/i);
    } finally {
      await untrusted.unbind();
    }
  });

  describe('a second DC', function () {
    let second: SambaDcServer | undefined;

    afterEach(async () => {
      await second?.stop();
    });

    it('is a private copy of the same domain, whose changes stay in it', async function () {
      second = await startSambaDc();
      expect(second.namespace).to.not.equal(dc.namespace);
      expect(second.port).to.not.equal(dc.port);
      // A copy, not a second provisioning: same admin password, same objectGUIDs.
      expect(second.adminPassword).to.equal(dc.adminPassword);
      const guidOf = async (server: SambaDcServer): Promise<string> => {
        const client = new Client({ url: server.url, timeout: 5000 });
        try {
          await client.bind(server.adminDN, server.adminPassword);
          const { searchEntries } = await client.search(server.users.alice.dn, {
            scope: 'base',
            attributes: ['objectGUID'],
            explicitBufferAttributes: ['objectGUID'],
          });
          return (searchEntries[0]?.['objectGUID'] as Buffer).toString('hex');
        } finally {
          await client.unbind();
        }
      };
      expect(await guidOf(second)).to.equal(await guidOf(dc));

      const description = `changed in ${second.namespace}`;
      const admin = new Client({ url: second.url, timeout: 5000 });
      try {
        await admin.bind(second.adminDN, second.adminPassword);
        await admin.modify(
          second.users.bob.dn,
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'description', values: [description] }),
          }),
        );
      } finally {
        await admin.unbind();
      }
      const read = async (server: SambaDcServer): Promise<string[]> => {
        const client = new Client({ url: server.url, timeout: 5000 });
        try {
          await client.bind(server.adminDN, server.adminPassword);
          const { searchEntries } = await client.search(server.users.bob.dn, {
            scope: 'base',
            attributes: ['description'],
          });
          return values(searchEntries[0]?.['description']);
        } finally {
          await client.unbind();
        }
      };
      expect(await read(second)).to.deep.equal([description]);
      expect(await read(dc)).to.deep.equal([]);
    });

    it('pauses, resumes, survives a kill and a restart', async function () {
      second = await startSambaDc();
      const { alice } = second.users;
      second.pause();
      const frozen = new Client({ url: second.url, timeout: 300 });
      try {
        const error = await rejection(frozen.bind(alice.upn, alice.password));
        expect((error as Error).message).to.match(/timeout|timed out/i);
      } finally {
        await frozen.unbind().catch(() => undefined);
      }
      second.resume();
      expect(await tryBind(second.url, alice.upn, alice.password)).to.equal(undefined);

      const pid = second.pid;
      await second.kill();
      expect(second.pid).to.equal(undefined);
      expect(processGone(pid!)).to.equal(true);
      // The relay on 127.0.0.1 still accepts, then resets: the DC behind it is gone.
      expect(await tryBind(second.url, alice.upn, alice.password)).to.be.instanceOf(Error);
      await second.restart();
      expect(second.pid).to.be.a('number').and.not.equal(pid);
      expect(await tryBind(second.url, alice.upn, alice.password)).to.equal(undefined);
    });

    it('forces a value LDAP refuses (a duplicate userPrincipalName) and comes back up', async function () {
      second = await startSambaDc();
      const { alice } = second.users;
      const shadow = `CN=Alice Shadow,OU=People,${second.baseDN}`;
      const admin = new Client({ url: second.url, timeout: 5000 });
      const upnHolders = async (): Promise<string[]> => {
        const { searchEntries } = await admin.search(second!.baseDN, {
          scope: 'sub',
          filter: `(userPrincipalName=${alice.upn})`,
          attributes: ['dn'],
        });
        return searchEntries.map((e) => e.dn).sort();
      };
      try {
        await admin.bind(second.adminDN, second.adminPassword);
        await admin.add(shadow, [
          new Attribute({ type: 'objectClass', values: ['top', 'person'] }),
          new Attribute({ type: 'sn', values: ['Shadow'] }),
        ]);
        const refused = await rejection(
          admin.modify(
            shadow,
            new Change({
              operation: 'add',
              modification: new Attribute({ type: 'userPrincipalName', values: [alice.upn] }),
            }),
          ),
        );
        expect(refused).to.be.instanceOf(Error);
      } finally {
        await admin.unbind();
      }
      await second.forceAttribute(shadow, 'userPrincipalName', [alice.upn]);
      try {
        await admin.bind(second.adminDN, second.adminPassword);
        expect(await upnHolders()).to.deep.equal([shadow, alice.dn].sort());
      } finally {
        await admin.unbind();
      }
      // Samba's bind looks the UPN up among users: alice still binds by it.
      expect(await tryBind(second.url, alice.upn, alice.password)).to.equal(undefined);
    });

    it('stops without leaving a process, namespace, veth pair, relay or directory', async function () {
      second = await startSambaDc();
      const { pid, namespace, dir, address, port } = second;
      const hostAddress = address.replace(/\d+$/, (last) => String(Number(last) - 1));
      expect(ip('netns', 'list')).to.include(namespace);
      expect(ip('-4', '-o', 'addr', 'show')).to.include(`${hostAddress}/30`);
      const netInode = statSync(`/run/netns/${namespace}`).ino;
      expect(processesOf(dir, netInode)).to.deep.equal([pid]);

      await second.stop();
      await second.stop(); // idempotent

      expect(processGone(pid!)).to.equal(true);
      expect(processesOf(dir, netInode)).to.deep.equal([]);
      expect(ip('netns', 'list')).to.not.include(namespace);
      expect(existsSync(`/run/netns/${namespace}`)).to.equal(false);
      expect(ip('-4', '-o', 'addr', 'show')).to.not.include(`${hostAddress}/30`);
      expect(existsSync(dir)).to.equal(false);
      expect(liveServers().map((server) => server.dir)).to.not.include(dir);
      // Nothing listens on the relay's port any more.
      const error = await rejection(
        new Client({ url: `ldap://127.0.0.1:${port}`, timeout: 2000 }).bind('x', 'y'),
      );
      expect((error as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
    });
  });
});
