import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { makeServerDir, sweepStaleServerDirs } from './server-dir.js';
import {
  makeIdpKeyPair,
  SIMPLESAMLPHP_DEFAULT_USERS,
  type SimpleSamlPhpOptions,
  type SimpleSamlPhpUser,
  writeSimpleSamlPhpConfig,
} from './simplesamlphp-config.js';
import { type ServerProcess, spawnServer } from './spawn-server.js';
import { waitFor } from './wait-for.js';

/** Where Debian installs SimpleSAMLphp; the environment can point elsewhere. */
const SIMPLESAMLPHP_DIR = process.env['AUTHBRIDGE_SIMPLESAMLPHP_DIR'] ?? '/usr/share/simplesamlphp';
/** It starts in well under a second; the slack is for loaded CI machines. */
const READY_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 3;

/** A running SimpleSAMLphp IdP. */
export interface SimpleSamlPhpServer {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** The IdP's entityID (its metadata URL). */
  readonly entityId: string;
  /** SingleSignOnService (HTTP-Redirect and HTTP-POST). */
  readonly ssoUrl: string;
  /** SingleLogoutService (HTTP-Redirect). */
  readonly sloUrl: string;
  /** The IdP metadata document. */
  readonly metadataUrl: string;
  /** The IdP's signing certificate (PEM), generated for this server. */
  readonly certPem: string;
  /** The users of its `exampleauth:UserPass` source. */
  readonly users: readonly SimpleSamlPhpUser[];
  /** Its private directory (config, metadata, keys, logs, sessions). */
  readonly dir: string;
  readonly pid: number | undefined;
  /** php's own log followed by SimpleSAMLphp's. */
  log(): Promise<string>;
  /** Stops the server and deletes its directory. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Whether `startSimpleSamlPhp` can run: php, openssl and Debian's simplesamlphp installed. */
export function simpleSamlPhpAvailable(): boolean {
  return (
    findExecutable('php') !== undefined &&
    findExecutable('openssl') !== undefined &&
    existsSync(join(SIMPLESAMLPHP_DIR, 'www', 'module.php'))
  );
}

/**
 * Starts SimpleSAMLphp as a SAML 2.0 IdP on a free loopback port: `php -S` serving Debian's
 * simplesamlphp from a private temp dir whose generated configuration (`SIMPLESAMLPHP_CONFIG_DIR`)
 * holds a fresh signing key, the `exampleauth:UserPass` source and the given SP's metadata.
 * Teardown is guaranteed as for slapd (see spawn-server.ts). Its error pages answer HTTP 200:
 * tests must look at the content, not the status.
 *
 * @example
 * ```ts
 * await using idp = await startSimpleSamlPhp({ sp: { entityId, acsUrl } });
 * ```
 */
export async function startSimpleSamlPhp(
  options: SimpleSamlPhpOptions,
): Promise<SimpleSamlPhpServer> {
  const php = findExecutable('php');
  const openssl = findExecutable('openssl');
  if (php === undefined || openssl === undefined || !simpleSamlPhpAvailable()) {
    throw new Error(
      'SimpleSAMLphp is not installed; the harness needs php, openssl and simplesamlphp ' +
        '(Debian/Ubuntu: apt-get install simplesamlphp php-xml php-mbstring php-cli)',
    );
  }
  await sweepStaleServerDirs('simplesamlphp');
  const dir = await makeServerDir('simplesamlphp');
  let server: ServerProcess | undefined;
  try {
    await chmod(dir, 0o700);
    const { certPem } = await makeIdpKeyPair(dir);
    const secrets = {
      salt: randomBytes(24).toString('base64url'),
      adminPassword: randomBytes(18).toString('base64url'),
    };
    let port = 0;
    const managed = spawnServer({
      kind: 'simplesamlphp',
      command: php,
      args: () => [
        ...['-S', `127.0.0.1:${port}`],
        ...['-t', join(SIMPLESAMLPHP_DIR, 'www')],
        ...['-d', `session.save_path=${join(dir, 'sessions')}`],
        ...['-d', 'display_errors=stderr'],
      ],
      dir,
      logFile: join(dir, 'php.log'),
      env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: join(dir, 'config') },
    });
    server = managed;
    let baseUrl = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      // The base URL is part of the configuration, so a new port means new files.
      await writeSimpleSamlPhpConfig(dir, baseUrl, options, secrets, SIMPLESAMLPHP_DIR);
      managed.spawn();
      try {
        await waitUntilReady(managed, `${baseUrl}/saml2/idp/metadata.php`);
        break;
      } catch (error) {
        await managed.terminate();
        const portTaken = /Address already in use|Failed to listen/.test(await managed.log());
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw error;
      }
    }
    const stop = (): Promise<void> => managed.dispose();
    return {
      baseUrl,
      entityId: `${baseUrl}/saml2/idp/metadata.php`,
      ssoUrl: `${baseUrl}/saml2/idp/SSOService.php`,
      sloUrl: `${baseUrl}/saml2/idp/SingleLogoutService.php`,
      metadataUrl: `${baseUrl}/saml2/idp/metadata.php`,
      certPem,
      users: options.users ?? SIMPLESAMLPHP_DEFAULT_USERS,
      dir,
      get pid() {
        return managed.pid;
      },
      async log() {
        const own = await managed.log();
        const { readFile } = await import('node:fs/promises');
        const app = await readFile(join(dir, 'log', 'simplesamlphp.log'), 'utf8').catch(() => '');
        return `${own}\n--- simplesamlphp.log ---\n${app}`;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    if (server) await server.dispose();
    else await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Polls the metadata URL until it serves an EntityDescriptor; fails fast if php exits. */
async function waitUntilReady(server: ServerProcess, metadataUrl: string): Promise<void> {
  await waitFor(
    async () => {
      if (!server.running) {
        throw new Error(`php -S exited before SimpleSAMLphp was ready:\n${server.logTail()}`);
      }
      try {
        const response = await fetch(metadataUrl, { signal: AbortSignal.timeout(2000) });
        const body = await response.text();
        return response.ok && body.includes('EntityDescriptor');
      } catch {
        return false;
      }
    },
    { deadline: Date.now() + READY_TIMEOUT_MS, what: `SimpleSAMLphp at ${metadataUrl}` },
  );
}
