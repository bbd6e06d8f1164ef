// Benchmark of @authbridge/ldap (npm run bench:ldap): search-then-bind logins against one slapd
// seeded with BENCH_USERS users, side by side with the same flow written directly on ldapts (the
// floor) and with ldapauth-fork (the engine of passport-ldapauth), in the same run.
//
// Rows (impl × concurrency 1, 16, 256):
// - authbridge: LdapBackend, search + bind, no groups, caches off (the default);
// - authbridge-groups: the same plus a groupOfNames lookup (`member` strategy) per login;
// - ldapts-raw: a pool of service connections (as many as authbridge's) for the search, and a
//   fresh connection per user bind, as authbridge does; no deadline, no DN handling, no store;
// - ldapauth-fork: its own admin connection for searches and one shared connection for binds.
// Every implementation uses StartTLS with the test CA (BENCH_LDAP_TRANSPORT=plain: plaintext).
// Each cell runs for a fixed time (bounded count); an operation that does not finish within
// OP_TIMEOUT_MS is an error, so a stalled implementation is reported, not waited for. A login
// counts as good only if it returns the user that logged in. The last stdout line is the JSON.
import { startSlapd, type SlapdServer } from '@authbridge/testkit';
import { LdapBackend, type LdapBackendOptions, silentLdapLogger } from '@authbridge/ldap';
import { AndFilter, Client, EqualityFilter } from 'ldapts';
import { createRequire } from 'node:module';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadResult, type LoadSample, runLoad, summarize } from './lib-ldap-load.ts';

const BENCH_USERS = 10_000;
const GROUPS = 200;
const CONCURRENCIES = [1, 16, 256] as const;
// Interleaved rounds per concurrency; each round runs every implementation for SEGMENT_MS.
const ROUNDS: Readonly<Record<number, number>> = { 1: 2, 16: 5, 256: 5 };
const SEGMENT_MS = 1_500;
const WARMUP_MS = 500;
const MAX_OPS = 200_000;
const OP_TIMEOUT_MS = 5_000;
const POOL_SIZE = 4;
const BASE = 'dc=example,dc=org';
const USERS_BASE = `ou=bench,${BASE}`;
const GROUPS_BASE = `ou=benchgroups,${BASE}`;
const ATTRIBUTES = ['uid', 'entryUUID', 'mail', 'cn'];
const transport = process.env['BENCH_LDAP_TRANSPORT'] === 'plain' ? 'plain' : 'starttls';

const uidOf = (i: number): string => `bench${String(i).padStart(5, '0')}`;
const passwordOf = (uid: string): string => `pw-${uid}`;
const groupDn = (g: number): string => `cn=bgroup${String(g).padStart(3, '0')},${GROUPS_BASE}`;
// Two groups per user (one by stride, one by block), BENCH_USERS / GROUPS * 2 members each.
const half = GROUPS / 2;
const groupsOf = (i: number): number[] => [i % half, half + Math.floor((i * half) / BENCH_USERS)];

/** The bench directory as one LDIF, loaded offline by slapadd (memberOf spelled out). */
function benchLdif(): string {
  const parts: string[] = [
    `dn: ${USERS_BASE}\nobjectClass: organizationalUnit\nou: bench\n`,
    `dn: ${GROUPS_BASE}\nobjectClass: organizationalUnit\nou: benchgroups\n`,
  ];
  const members: string[][] = Array.from({ length: GROUPS }, () => []);
  for (let i = 0; i < BENCH_USERS; i++) {
    const uid = uidOf(i);
    const dn = `uid=${uid},${USERS_BASE}`;
    const groups = groupsOf(i);
    for (const g of groups) members[g]?.push(dn);
    parts.push(
      `dn: ${dn}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: Bench ${uid}\nsn: ${uid}\n` +
        `mail: ${uid}@example.org\nuserPassword: ${passwordOf(uid)}\n` +
        groups.map((g) => `memberOf: ${groupDn(g)}\n`).join(''),
    );
  }
  members.forEach((dns, g) => {
    const cn = groupDn(g).split(',')[0]!.slice(3);
    parts.push(
      `dn: ${groupDn(g)}\nobjectClass: groupOfNames\ncn: ${cn}\n` +
        dns.map((dn) => `member: ${dn}\n`).join(''),
    );
  });
  return parts.join('\n');
}

interface Impl {
  readonly name: string;
  /** Logs user `i` in; true when the directory said yes for exactly that user. */
  readonly login: (i: number) => Promise<boolean>;
  readonly close: () => Promise<void>;
}

function authbridge(server: SlapdServer, name: string, groups: boolean): Impl {
  const options: LdapBackendOptions = {
    url: server.url,
    tls: { ca: server.caCertPem },
    ...(transport === 'plain' ? { startTls: false, allowInsecure: true } : {}),
    bindDn: server.serviceDN,
    bindPassword: server.servicePassword,
    userSearch: { base: USERS_BASE },
    poolSize: POOL_SIZE,
    logger: silentLdapLogger,
    ...(groups ? { groups: { base: GROUPS_BASE, strategies: ['member'] as const } } : {}),
  };
  const backend = new LdapBackend(options);
  return {
    name,
    login: async (i) => {
      const uid = uidOf(i);
      const user = await backend.authenticate(undefined, {
        username: uid,
        password: passwordOf(uid),
      });
      return user?.username === uid && (!groups || user.groups.length === 2);
    },
    close: () => backend.close(),
  };
}

/** The same flow directly on ldapts: what authbridge costs on top of the library. */
function ldaptsRaw(server: SlapdServer): Impl {
  const tlsOptions = { ca: server.caCertPem };
  const open = async (): Promise<Client> => {
    const client = new Client({ url: server.url, timeout: OP_TIMEOUT_MS });
    if (transport === 'starttls') await client.startTLS(tlsOptions);
    return client;
  };
  const pool: Promise<Client>[] = Array.from({ length: POOL_SIZE }, async () => {
    const client = await open();
    await client.bind(server.serviceDN, server.servicePassword);
    return client;
  });
  let next = 0;
  return {
    name: 'ldapts-raw',
    login: async (i) => {
      const uid = uidOf(i);
      const service = await pool[next++ % POOL_SIZE]!;
      const { searchEntries } = await service.search(USERS_BASE, {
        scope: 'sub',
        filter: new AndFilter({
          filters: [
            new EqualityFilter({ attribute: 'objectClass', value: 'inetOrgPerson' }),
            new EqualityFilter({ attribute: 'uid', value: uid }),
          ],
        }),
        attributes: ATTRIBUTES,
        sizeLimit: 2,
      });
      const entry = searchEntries[0];
      if (searchEntries.length !== 1 || entry === undefined) return false;
      const user = await open();
      try {
        await user.bind(entry.dn, passwordOf(uid));
      } finally {
        void user.unbind().catch(() => undefined);
      }
      return entry['uid'] === uid;
    },
    close: async () => {
      for (const p of pool) await (await p).unbind().catch(() => undefined);
    },
  };
}

interface LdapAuthLike {
  authenticate(
    username: string,
    password: string,
    callback: (error: unknown, user?: Record<string, unknown>) => void,
  ): void;
  close(callback?: () => void): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

function ldapauthFork(server: SlapdServer): Impl {
  // CommonJS, and its typings need @types/ldapjs; the few members used are typed here.
  const require = createRequire(import.meta.url);
  const LdapAuth = require('ldapauth-fork') as new (
    options: Record<string, unknown>,
  ) => LdapAuthLike;
  const auth = new LdapAuth({
    url: server.url,
    bindDN: server.serviceDN,
    bindCredentials: server.servicePassword,
    searchBase: USERS_BASE,
    searchFilter: '(&(objectClass=inetOrgPerson)(uid={{username}}))',
    searchAttributes: ATTRIBUTES,
    starttls: transport === 'starttls',
    tlsOptions: { ca: server.caCertPem },
    timeout: OP_TIMEOUT_MS,
    connectTimeout: OP_TIMEOUT_MS,
    reconnect: true,
  });
  auth.on('error', () => undefined);
  return {
    name: 'ldapauth-fork',
    login: (i) => {
      const uid = uidOf(i);
      return new Promise<boolean>((resolve, reject) => {
        auth.authenticate(uid, passwordOf(uid), (error, user) => {
          if (error !== null && error !== undefined) {
            reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
          } else resolve(user?.['uid'] === uid);
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        auth.close(() => {
          resolve();
        });
        setTimeout(resolve, 1_000).unref();
      }),
  };
}

/** Warns when the built package is older than its sources: the bench measures dist/. */
function warnIfStale(): void {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
  const root = join(import.meta.dirname, '../packages/ldap');
  try {
    if (newest(join(root, 'src')) > newest(join(root, 'dist'))) {
      console.error('warning: packages/ldap/dist is older than src; run tsc -b packages/ldap');
    }
  } catch {
    console.error('warning: packages/ldap is not built; run tsc -b packages/ldap');
  }
}

interface Row extends LoadResult {
  readonly impl: string;
  readonly concurrency: number;
}

/** ldapjs (under ldapauth-fork) adds a listener per queued request: its warning is noise here. */
function quietListenerWarnings(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'MaxListenersExceededWarning') return;
    for (const print of printers) print(warning);
  });
}

async function main(): Promise<void> {
  quietListenerWarnings();
  warnIfStale();
  const t0 = performance.now();
  const server = await startSlapd({ ldif: [benchLdif()], logLevel: 'none' });
  console.error(
    `slapd (${server.mode}) seeded with ${BENCH_USERS} users, ${GROUPS} groups in ` +
      `${Math.round(performance.now() - t0)} ms; transport ${transport}`,
  );
  const makers: [string, () => Impl][] = [
    ['authbridge', () => authbridge(server, 'authbridge', false)],
    ['authbridge-groups', () => authbridge(server, 'authbridge-groups', true)],
    ['ldapts-raw', () => ldaptsRaw(server)],
    ['ldapauth-fork', () => ldapauthFork(server)],
  ];
  // For profiling one cell: BENCH_LDAP_IMPLS=authbridge BENCH_LDAP_CONCURRENCY=256.
  const onlyImpls = process.env['BENCH_LDAP_IMPLS']?.split(',');
  const onlyConcurrency = process.env['BENCH_LDAP_CONCURRENCY']?.split(',').map(Number);
  const rows: Row[] = [];
  // Users are taken from a moving cursor: no two concurrent logins share a user, and no cell
  // starts with the users the previous one just logged in.
  let cursor = 0;
  const load = (impl: Impl, concurrency: number, durationMs: number): Promise<LoadSample> => {
    const base = cursor;
    cursor += 7919;
    return runLoad((seq) => impl.login((base + seq) % BENCH_USERS), {
      concurrency,
      durationMs,
      maxOps: MAX_OPS,
      opTimeoutMs: OP_TIMEOUT_MS,
      serverPid: server.pid,
    });
  };
  try {
    for (const concurrency of CONCURRENCIES) {
      if (onlyConcurrency !== undefined && !onlyConcurrency.includes(concurrency)) continue;
      const impls = makers
        .filter(([name]) => onlyImpls === undefined || onlyImpls.includes(name))
        .map(([, make]) => make());
      const samples = new Map<Impl, LoadSample[]>(impls.map((impl) => [impl, []]));
      try {
        // Warm-up (pools, JIT), not counted.
        for (const impl of impls) await load(impl, concurrency, WARMUP_MS);
        // Interleaved rounds, each starting with a different implementation, so a neighbour's
        // burst of load on this shared machine does not fall on one implementation only.
        for (let r = 0; r < (ROUNDS[concurrency] ?? 3); r++) {
          for (let k = 0; k < impls.length; k++) {
            const impl = impls[(r + k) % impls.length]!;
            samples.get(impl)!.push(await load(impl, concurrency, SEGMENT_MS));
          }
        }
      } finally {
        for (const impl of impls) await impl.close();
      }
      for (const impl of impls) {
        const s = summarize(samples.get(impl)!);
        rows.push({
          impl: impl.name,
          concurrency,
          perSec: s.perSec,
          p50Ms: s.p50Ms,
          p99Ms: s.p99Ms,
          errors: s.errors,
        });
        const firstError = s.firstError === undefined ? '' : `  first error: ${s.firstError}`;
        console.log(
          `${impl.name.padEnd(18)} c=${String(concurrency).padEnd(4)} ` +
            `${String(s.perSec).padStart(8)}/s  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  ` +
            `errors ${s.errors}  cpu/login: client ${s.clientCpuUsPerOp} µs, ` +
            `slapd ${s.serverCpuUsPerOp ?? '?'} µs${firstError}`,
        );
      }
    }
  } finally {
    await server.stop();
  }
  console.error(`total ${Math.round((performance.now() - t0) / 1000)} s`);
  console.log(JSON.stringify({ suite: 'ldap', results: rows }));
}

await main();
// Timed-out operations of a stalled implementation may still hold sockets: do not wait for them.
process.exit(0);
