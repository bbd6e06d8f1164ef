import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import {
  OPENLDAP_ADMIN_DN,
  OPENLDAP_BASE_DN,
  OPENLDAP_SERVICE_DN,
  OPENLDAP_SERVICE_PASSWORD,
  renderSlapdConf,
  seedLdif,
} from './openldap-fixture.js';
import { runCommand } from './run-command.js';
import { makeServerDir, sweepStaleServerDirs } from './server-dir.js';
import type { ResolvedSlapdOptions, SlapdServer } from './slapd-types.js';
import { spawnServer } from './spawn-server.js';
import type { ServerProcess } from './spawn-server.js';
import { testTlsMaterial } from './tls-material.js';
import { canConnect, waitFor } from './wait-for.js';

/** Where Debian/Ubuntu install schemas and modules; the environment can point elsewhere. */
const SCHEMA_DIR = process.env['AUTHBRIDGE_SLAPD_SCHEMA_DIR'] ?? '/etc/ldap/schema';
const MODULE_DIR = process.env['AUTHBRIDGE_SLAPD_MODULE_DIR'] ?? '/usr/lib/ldap';

/** How long slapd gets to accept a bind. It needs ~50 ms; the slack is for loaded CI machines. */
const READY_TIMEOUT_MS = 15_000;
/** Attempts with fresh ports when another process takes a port between freePort() and bind(). */
const PORT_ATTEMPTS = 3;

/** The binaries the native mode runs. */
const BINARIES = ['slapd', 'slapadd', 'ldapwhoami', 'openssl'] as const;
type Binary = (typeof BINARIES)[number];

/** Whether everything the native mode needs is installed. */
export function nativeSlapdAvailable(): boolean {
  return BINARIES.every((name) => findExecutable(name) !== undefined);
}

function requireBinary(name: Binary): string {
  const path = findExecutable(name);
  if (path === undefined) {
    throw new Error(
      `${name} is not installed; the native slapd harness needs slapd, ldap-utils and openssl ` +
        '(Debian/Ubuntu: apt-get install slapd ldap-utils openssl), or use mode: "docker"',
    );
  }
  return path;
}

/**
 * Starts slapd as a child process on two free loopback ports (LDAP with StartTLS, and LDAPS):
 *
 * 1. a private temp dir gets the TLS files (generated once per process), slapd.conf rendered
 *    from docker/openldap/slapd.conf.template, and an mdb database filled by slapadd, which is
 *    much faster than ldapadd against a running server. slapadd runs no overlays, so the seed
 *    carries memberOf explicitly rather than adding groups through the memberof overlay after
 *    start: one offline load (~40 ms) instead of a second, online pass, and the integration
 *    test checks that the explicit values mirror the groups;
 * 2. slapd runs in the foreground (`-d`, so it never forks away from us) under spawnServer's
 *    teardown guarantees, logging to `<dir>/slapd.log`;
 * 3. it is ready once its port accepts connections and `ldapwhoami` binds as the rootdn.
 */
export async function startNativeSlapd(options: ResolvedSlapdOptions): Promise<SlapdServer> {
  const binaries = {
    slapd: requireBinary('slapd'),
    slapadd: requireBinary('slapadd'),
    ldapwhoami: requireBinary('ldapwhoami'),
  };
  requireBinary('openssl');
  await sweepStaleServerDirs('slapd');

  const dir = await makeServerDir('slapd');
  const file = (name: string): string => join(dir, name);
  let server: ServerProcess | undefined;
  try {
    const [tls] = await Promise.all([testTlsMaterial(), chmod(dir, 0o700)]);
    const adminPassword = randomBytes(18).toString('base64url');
    await Promise.all([
      writeFile(file('ca.crt'), tls.caCertPem),
      writeFile(file('server.crt'), tls.certPem),
      writeFile(file('server.key'), tls.keyPem, { mode: 0o600 }),
      // For `ldapwhoami -y`, which keeps the password out of the process list. No trailing
      // newline: -y sends the file's bytes verbatim.
      writeFile(file('admin.pw'), adminPassword, { mode: 0o600 }),
      mkdir(file('data')),
    ]);
    const conf = await renderSlapdConf({
      SCHEMA_DIR,
      MODULE_DIR,
      RUN_DIR: dir,
      DATA_DIR: file('data'),
      ROOT_PW: adminPassword,
      CA_CERT: file('ca.crt'),
      SERVER_CERT: file('server.crt'),
      SERVER_KEY: file('server.key'),
    });
    await writeFile(file('slapd.conf'), conf);
    await writeFile(file('seed.ldif'), await seedLdif(options.seed, options.ldif));
    await runCommand(binaries.slapadd, ['-f', file('slapd.conf'), '-l', file('seed.ldif')]);

    let port = 0;
    let ldapsPort = 0;
    const managed = spawnServer({
      kind: 'slapd',
      command: binaries.slapd,
      // A function, so a retry after a port clash picks up the new ports.
      args: () => [
        ...['-f', file('slapd.conf')],
        ...['-h', `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${ldapsPort}/`],
        ...['-d', options.logLevel],
        // -d sends the log to stderr; -s 0 keeps it out of the host's syslog.
        ...['-s', '0'],
      ],
      dir,
      logFile: file('slapd.log'),
    });
    server = managed;
    const ready = (): Promise<void> =>
      waitUntilReady(managed, binaries.ldapwhoami, port, file('admin.pw'));
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      do ldapsPort = await freePort();
      while (ldapsPort === port);
      managed.spawn();
      try {
        await ready();
        break;
      } catch (error) {
        await managed.terminate();
        // Another process took a port between freePort() and slapd's bind(): new ports, again.
        const portTaken = /errno=98|Address already in use/.test(await managed.log());
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw error;
      }
    }

    const stop = (): Promise<void> => managed.dispose();
    const slapdServer: SlapdServer = {
      url: `ldap://127.0.0.1:${port}`,
      ldapsUrl: `ldaps://127.0.0.1:${ldapsPort}`,
      host: '127.0.0.1',
      port,
      ldapsPort,
      baseDN: OPENLDAP_BASE_DN,
      adminDN: OPENLDAP_ADMIN_DN,
      adminPassword,
      serviceDN: OPENLDAP_SERVICE_DN,
      servicePassword: OPENLDAP_SERVICE_PASSWORD,
      caCertPem: tls.caCertPem,
      caCertPath: file('ca.crt'),
      serverName: tls.serverName,
      dir,
      get pid() {
        return managed.pid;
      },
      mode: 'native',
      log: () => managed.log(),
      stop,
      async restart() {
        await managed.terminate();
        managed.spawn();
        await ready();
      },
      pause: () => {
        managed.pause();
      },
      resume: () => {
        managed.resume();
      },
      kill: () => managed.kill(),
      [Symbol.asyncDispose]: stop,
    };
    return slapdServer;
  } catch (error) {
    if (server) await server.dispose();
    else await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Polls until slapd accepts a rootdn bind: first a cheap TCP connect, then `ldapwhoami`, the
 * python-ldap slapdtest approach. Fails fast, with the tail of slapd's log, if slapd exits.
 */
async function waitUntilReady(
  server: ServerProcess,
  ldapwhoami: string,
  port: number,
  passwordFile: string,
): Promise<void> {
  const failure = (reason: string): Error => {
    const tail = server.logTail();
    // Ubuntu's AppArmor profile confines /usr/sbin/slapd to its standard paths, so it cannot
    // read a config in a temp dir; django-auth-ldap's CI runs `aa-disable` for this.
    const hint = /Permission denied|EACCES/.test(tail)
      ? '\nIf AppArmor confines slapd (Ubuntu), run: sudo aa-disable /usr/sbin/slapd'
      : '';
    return new Error(`slapd ${reason}. Last lines of ${server.logFile}:\n${tail}${hint}`);
  };
  try {
    await waitFor(
      async () => {
        if (!server.running) {
          const exit = await server.exited;
          throw failure(
            `exited before it was ready (${exit?.error?.message ?? `code ${exit?.code}, signal ${exit?.signal}`})`,
          );
        }
        if (!(await canConnect('127.0.0.1', port))) return false;
        try {
          await runCommand(
            ldapwhoami,
            ['-x', '-H', `ldap://127.0.0.1:${port}`, '-D', OPENLDAP_ADMIN_DN, '-y', passwordFile],
            // LDAPNOINIT: ignore ldap.conf, ~/.ldaprc and LDAP* variables of the host.
            { env: { ...process.env, LDAPNOINIT: '1' }, timeoutMs: 2000 },
          );
          return true;
        } catch {
          return false;
        }
      },
      { deadline: Date.now() + READY_TIMEOUT_MS, what: 'slapd to accept a bind' },
    );
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('Timed out')) {
      throw failure(`did not accept a bind within ${READY_TIMEOUT_MS} ms`);
    }
    throw error;
  }
}
