import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { debuglog } from 'node:util';
import { findExecutable } from './find-executable.js';
import { createNetworkNamespace, inNamespace } from './network-namespace.js';
import type { NetworkNamespace } from './network-namespace.js';
import { runCommand } from './run-command.js';
import {
  BACKDATE_PASSWORD_PY,
  FORCE_ATTRIBUTE_PY,
  fileTime,
  PASSWORD_EXPIRED_AGE_DAYS,
  SAMBA_ADMIN_DN,
  SAMBA_ADMIN_UPN,
  SAMBA_BASE_DN,
  SAMBA_DNS_DOMAIN,
  SAMBA_GROUPS,
  SAMBA_HOST_NAME,
  SAMBA_NETBIOS_DOMAIN,
  SAMBA_REALM,
  SAMBA_SERVER_NAME,
  SAMBA_USERS,
  loadLdapts,
  seedSambaDirectory,
} from './samba-fixture.js';
import type { SambaDcServer } from './samba-types.js';
import { makeServerDir, sweepStaleServerDirs } from './server-dir.js';
import { spawnServer } from './spawn-server.js';
import type { ServerProcess } from './spawn-server.js';
import { startTcpForwarder } from './tcp-forwarder.js';
import type { TcpForwarder } from './tcp-forwarder.js';
import { canConnect, waitFor } from './wait-for.js';

/**
 * How long samba gets to accept a bind. A copy starts in under a second; the first start of a
 * provisioned domain also generates Samba's 4096-bit RSA TLS key, which takes seconds more on
 * a loaded 2-core machine.
 */
const READY_TIMEOUT_MS = 60_000;
/** `samba-tool domain provision` takes 5-15 s of CPU; loaded CI machines get slack. */
const PROVISION_TIMEOUT_MS = 180_000;

/**
 * Samba's tdb databases fsync on every transaction by default; tests need no durability, and
 * without the fsyncs provisioning and lockout updates do not wait on the disk.
 */
const SAMBA_ENV = { ...process.env, TDB_NO_FSYNC: '1' };

/** Timings of each step, on stderr with `NODE_DEBUG=authbridge-samba`. */
const debug = debuglog('authbridge-samba');

/** Runs `step`, logging how long it took under {@link debug}. */
async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await step();
  } finally {
    debug('%s: %d ms', what, Math.round(performance.now() - start));
  }
}

/** What {@link startSambaDcInstance} needs installed. */
interface Tools {
  readonly samba: string;
  readonly sambaTool: string;
  readonly python: string;
}

function requireTools(): Tools {
  const samba = findExecutable('samba');
  const sambaTool = findExecutable('samba-tool');
  if (samba === undefined || sambaTool === undefined || findExecutable('ip') === undefined) {
    throw new Error(
      'The Samba AD DC harness needs samba, samba-tool and ip (Debian/Ubuntu: apt-get install ' +
        '--no-install-recommends samba samba-ad-provision samba-dsdb-modules samba-vfs-modules iproute2)',
    );
  }
  return { samba, sambaTool, python: pythonOf(sambaTool) };
}

/**
 * The interpreter samba-tool runs under (its `#!` line): the one with Samba's Python bindings,
 * which a `python3` on PATH (pyenv, a venv) need not have.
 */
function pythonOf(script: string): string {
  const firstLine = readFileSync(script, 'utf8').slice(0, 256).split('\n', 1)[0] ?? '';
  const words = firstLine
    .replace(/^#!\s*/, '')
    .trim()
    .split(/\s+/);
  const [interpreter, argument] = words;
  if (interpreter === undefined || interpreter === '' || !firstLine.startsWith('#!')) {
    return findExecutable('python3') ?? 'python3';
  }
  if (interpreter.endsWith('/env') && argument !== undefined) {
    return findExecutable(argument) ?? argument;
  }
  return interpreter;
}

/** A provisioned and seeded domain, stopped, that every DC of this process is copied from. */
interface Template {
  /** The Samba data directory (private/, state/, tdb files). */
  readonly dataDir: string;
  readonly adminPassword: string;
}

let template: Promise<Template> | undefined;

/**
 * The template, built on first use and shared by every later call: provisioning costs 5-15 s,
 * a copy well under a second. A failed build is not cached.
 */
function sambaTemplate(tools: Tools, logLevel: number): Promise<Template> {
  if (template === undefined) {
    const building = buildTemplate(tools, logLevel);
    template = building;
    building.catch(() => {
      if (template === building) template = undefined;
    });
  }
  return template;
}

/**
 * Provisions the domain into a private directory, starts it once to let Samba generate its TLS
 * certificate and to seed it over LDAP, backdates one password offline, and keeps the result.
 *
 * The template is not a server, so it is not in `liveServers()`: it lives as long as the test
 * process and is removed by an `exit` handler, or by the stale-directory sweep of a later run
 * if this process is killed.
 */
async function buildTemplate(tools: Tools, logLevel: number): Promise<Template> {
  await sweepStaleServerDirs('samba-template');
  const root = await makeServerDir('samba-template');
  const removeTemplate = (): void => {
    rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', removeTemplate);
  try {
    await chmod(root, 0o700);
    // Three character classes, as AD's complexity rule demands of every password.
    const adminPassword = `${randomBytes(15).toString('base64url')}-Aa1`;
    const provisioned = join(root, 'provisioned');
    await timed('provision', () =>
      runCommand(
        tools.sambaTool,
        [
          'domain',
          'provision',
          // Not the host's /etc/samba/smb.conf: its settings would leak into the domain.
          ...['-s', '/dev/null'],
          `--targetdir=${provisioned}`,
          `--realm=${SAMBA_REALM}`,
          `--domain=${SAMBA_NETBIOS_DOMAIN}`,
          `--host-name=${SAMBA_HOST_NAME}`,
          '--server-role=dc',
          '--dns-backend=NONE',
          '--use-rfc2307',
          `--adminpass=${adminPassword}`,
        ],
        { env: SAMBA_ENV, timeoutMs: PROVISION_TIMEOUT_MS },
      ),
    );
    // provision's smb.conf names absolute paths in this directory; every copy writes its own.
    await rm(join(provisioned, 'etc'), { recursive: true, force: true });

    const seeding = await launch(tools, { dataDir: provisioned, adminPassword }, logLevel);
    try {
      await timed('seed over LDAP', () =>
        seedSambaDirectory(seeding.server.ldapsUrl, seeding.server.url, {
          ca: seeding.server.caCertPem,
          adminPassword,
        }),
      );
      // Offline from here: the copy must be taken from databases nobody is writing.
      await seeding.process.terminate();
      await timed('backdate pwdLastSet (python)', () =>
        runCommand(
          tools.python,
          [
            ...['-c', BACKDATE_PASSWORD_PY],
            seeding.confPath,
            join(seeding.dataDir, 'private', 'sam.ldb'),
            SAMBA_USERS.passwordExpired.dn,
            fileTime(Date.now() - PASSWORD_EXPIRED_AGE_DAYS * 86_400_000),
          ],
          {
            env: { ...SAMBA_ENV, AUTHBRIDGE_PASSWORD: SAMBA_USERS.passwordExpired.password },
            timeoutMs: 60_000,
          },
        ),
      );
      // Runtime state of the stopped server: messaging sockets and pid-named lock files.
      await Promise.all(
        ['msg.sock', 'msg.lock'].map((name) =>
          rm(join(seeding.dataDir, name), { recursive: true, force: true }),
        ),
      );
      await rename(seeding.dataDir, join(root, 'dc'));
    } finally {
      await seeding.server.stop();
    }
    await rm(provisioned, { recursive: true, force: true });
    return { dataDir: join(root, 'dc'), adminPassword };
  } catch (error) {
    process.off('exit', removeTemplate);
    removeTemplate();
    throw error;
  }
}

/** The smb.conf of one DC: every path inside its directory, only the LDAP service. */
function smbConf(dir: string, dataDir: string): string {
  const run = join(dir, 'run');
  return [
    '[global]',
    `netbios name = ${SAMBA_HOST_NAME}`,
    `realm = ${SAMBA_REALM}`,
    `workgroup = ${SAMBA_NETBIOS_DOMAIN}`,
    'server role = active directory domain controller',
    // Only the LDAP server (LDAP, LDAPS and the global catalog ports): no smbd, nbt, dns, kdc,
    // winbindd, rpc, kcc or drepl. It starts in about a second and binds nothing else.
    'server services = ldap',
    // Simple binds over plain LDAP, which AD tests need; LDAPS and StartTLS work as well.
    'ldap server require strong auth = no',
    'idmap_ldb:use rfc2307 = yes',
    `private dir = ${join(dataDir, 'private')}`,
    `lock directory = ${dataDir}`,
    `state directory = ${join(dataDir, 'state')}`,
    `cache directory = ${join(dataDir, 'cache')}`,
    `binddns dir = ${join(dataDir, 'bind-dns')}`,
    `pid directory = ${run}`,
    `ncalrpc dir = ${join(run, 'ncalrpc')}`,
    `winbindd socket directory = ${join(run, 'winbindd')}`,
    `ntp signd socket directory = ${join(run, 'ntp_signd')}`,
    `log file = ${join(dir, 'log', 'log.%m')}`,
    'panic action =',
    '',
  ].join('\n');
}

/** A started DC with the internals the template build needs. */
interface Launched {
  readonly server: SambaDcServer;
  readonly process: ServerProcess;
  readonly dataDir: string;
  readonly confPath: string;
}

/**
 * Starts one DC from a copy of `source`:
 *
 * 1. the data directory is copied into a fresh `authbridge-samba-*` temp dir, with an smb.conf
 *    whose every path points inside it;
 * 2. a network namespace with a veth pair to this host is created (Samba's LDAP ports are
 *    fixed at 389 and 636, so each DC needs an address of its own);
 * 3. `samba -F -M single` runs inside it (`ip netns exec`), under spawnServer's teardown
 *    guarantees: one foreground process, all services in it;
 * 4. two relays on 127.0.0.1 forward fresh ports to 389 and 636 inside the namespace;
 * 5. it is ready once the Administrator can bind.
 */
async function launch(tools: Tools, source: Template, logLevel: number): Promise<Launched> {
  const dir = await makeServerDir('samba');
  const dataDir = join(dir, 'dc');
  const confPath = join(dir, 'smb.conf');
  let namespace: NetworkNamespace | undefined;
  let managed: ServerProcess | undefined;
  const forwarders: TcpForwarder[] = [];
  let paused = false;

  const unfreeze = (): void => {
    if (!paused) return;
    namespace?.signalAll('SIGCONT');
    managed?.resume();
    paused = false;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        unfreeze();
        await managed?.terminate();
      } finally {
        try {
          await namespace?.destroy();
        } finally {
          try {
            await Promise.all(forwarders.map((forwarder) => forwarder.close()));
          } finally {
            if (managed) await managed.dispose();
            else await rm(dir, { recursive: true, force: true });
          }
        }
      }
    })();
    return stopping;
  };

  try {
    await chmod(dir, 0o700);
    await timed('copy', () =>
      Promise.all([
        cp(source.dataDir, dataDir, { recursive: true, filter: notASocket }),
        mkdir(join(dir, 'run')),
        mkdir(join(dir, 'log')),
        writeFile(confPath, smbConf(dir, dataDir)),
      ]),
    );
    const ns = await timed('network namespace', () => createNetworkNamespace('samba', dir));
    namespace = ns;
    const [command, args] = inNamespace(ns.name, tools.samba, [
      // Foreground, so it can be tracked, and all services in one process, so pause() and
      // kill() have one process to deal with.
      ...['-F', '-M', 'single'],
      ...['-s', confPath],
      ...['--debug-stdout', '-d', String(logLevel)],
    ]);
    const server = spawnServer({
      kind: 'samba',
      command,
      args,
      dir,
      logFile: join(dir, 'samba.log'),
      env: SAMBA_ENV,
    });
    managed = server;
    forwarders.push(
      await startTcpForwarder(ns.address, 389),
      await startTcpForwarder(ns.address, 636),
    );
    const [ldap, ldaps] = forwarders as [TcpForwarder, TcpForwarder];
    const ready = (): Promise<void> => waitUntilReady(server, ns.address, source.adminPassword);
    server.spawn();
    await timed('samba start until bind', ready);
    const caCertPath = join(dataDir, 'private', 'tls', 'ca.pem');
    const caCertPem = await readFile(caCertPath, 'utf8');

    const sambaDc: SambaDcServer = {
      url: `ldap://127.0.0.1:${ldap.port}`,
      ldapsUrl: `ldaps://127.0.0.1:${ldaps.port}`,
      host: '127.0.0.1',
      port: ldap.port,
      ldapsPort: ldaps.port,
      baseDN: SAMBA_BASE_DN,
      realm: SAMBA_REALM,
      dnsDomain: SAMBA_DNS_DOMAIN,
      netbiosDomain: SAMBA_NETBIOS_DOMAIN,
      serverName: SAMBA_SERVER_NAME,
      adminDN: SAMBA_ADMIN_DN,
      adminUPN: SAMBA_ADMIN_UPN,
      adminPassword: source.adminPassword,
      caCertPem,
      caCertPath,
      users: SAMBA_USERS,
      groups: SAMBA_GROUPS,
      dir,
      get pid() {
        return server.pid;
      },
      namespace: ns.name,
      address: ns.address,
      log: () => server.log(),
      stop,
      async restart() {
        unfreeze();
        await server.terminate();
        await killLeftovers(ns);
        server.spawn();
        await ready();
      },
      pause() {
        server.pause();
        ns.signalAll('SIGSTOP');
        paused = true;
      },
      resume() {
        unfreeze();
      },
      async kill() {
        await server.kill();
        await killLeftovers(ns);
        paused = false;
      },
      async forceAttribute(dn, attribute, values) {
        unfreeze();
        await server.terminate();
        await killLeftovers(ns);
        try {
          await runCommand(
            tools.python,
            [
              ...['-c', FORCE_ATTRIBUTE_PY],
              // The domain partition's file (Samba names it after the upper-cased base DN).
              join(dataDir, 'private', 'sam.ldb.d', `${SAMBA_BASE_DN.toUpperCase()}.ldb`),
              dn,
              attribute,
              ...values,
            ],
            { env: SAMBA_ENV, timeoutMs: 60_000 },
          );
        } finally {
          server.spawn();
          await ready();
        }
      },
      [Symbol.asyncDispose]: stop,
    };
    return { server: sambaDc, process: server, dataDir, confPath };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Copy filter: a stopped Samba leaves its sockets behind (private/ldapi, msg.sock/*), which
 * cannot be copied and which the copy recreates anyway.
 */
async function notASocket(source: string): Promise<boolean> {
  return !(await lstat(source)).isSocket();
}

/** SIGKILLs whatever is still in the namespace and waits (up to 5 s) until it is empty. */
async function killLeftovers(namespace: NetworkNamespace): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = namespace.pids();
    if (pids.length === 0 || Date.now() > deadline) return;
    namespace.signalAll('SIGKILL');
    await sleep(10);
  }
}

/**
 * Polls until both LDAP ports accept connections and the Administrator can bind. Fails fast,
 * with the tail of samba's log, if samba exits.
 */
async function waitUntilReady(
  server: ServerProcess,
  address: string,
  adminPassword: string,
): Promise<void> {
  const { Client } = await loadLdapts();
  const failure = (reason: string): Error =>
    new Error(`samba ${reason}. Last lines of ${server.logFile}:\n${server.logTail()}`);
  try {
    await waitFor(
      async () => {
        if (!server.running) {
          const exit = await server.exited;
          throw failure(
            `exited before it was ready (${exit?.error?.message ?? `code ${exit?.code}, signal ${exit?.signal}`})`,
          );
        }
        if (!(await canConnect(address, 389)) || !(await canConnect(address, 636))) return false;
        const client = new Client({ url: `ldap://${address}:389`, timeout: 2000 });
        try {
          await client.bind(SAMBA_ADMIN_UPN, adminPassword);
          return true;
        } catch {
          return false;
        } finally {
          await client.unbind().catch(() => undefined);
        }
      },
      { deadline: Date.now() + READY_TIMEOUT_MS, what: 'samba to accept a bind', intervalMs: 50 },
    );
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('Timed out')) {
      throw failure(`did not accept a bind within ${READY_TIMEOUT_MS} ms`);
    }
    throw error;
  }
}

/** Resolved options of `startSambaDc`. */
export interface ResolvedSambaDcOptions {
  readonly logLevel: number;
}

/** Copies the template (provisioning it first, once per process) and starts a DC from it. */
export async function startSambaDcInstance(
  options: ResolvedSambaDcOptions,
): Promise<SambaDcServer> {
  const tools = requireTools();
  await sweepStaleServerDirs('samba');
  const source = await sambaTemplate(tools, options.logLevel);
  return (await launch(tools, source, options.logLevel)).server;
}
