import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { registerLiveServer } from './live-servers.js';
import {
  OPENLDAP_ADMIN_DN,
  OPENLDAP_BASE_DN,
  OPENLDAP_SERVER_NAME,
  OPENLDAP_SERVICE_DN,
  OPENLDAP_SERVICE_PASSWORD,
  extraLdif,
  openldapFixtureDir,
} from './openldap-fixture.js';
import { makeServerDir } from './server-dir.js';
import type { ResolvedSlapdOptions, SlapdServer } from './slapd-types.js';
import { canConnect, waitFor } from './wait-for.js';

/** The image built from docker/openldap/Dockerfile. */
const IMAGE = 'authbridge-openldap:test';
/** The first run builds the image (apt-get), which takes far longer than starting it. */
const STARTUP_TIMEOUT_MS = 180_000;
const READY_COMMAND = [
  'ldapwhoami',
  '-x',
  '-H',
  'ldap://127.0.0.1:389',
  '-D',
  OPENLDAP_ADMIN_DN,
  '-y',
  '/run/authbridge/admin.pw',
];

let image: Promise<GenericContainer> | undefined;

/**
 * Starts the docker/openldap image with testcontainers (Docker mode of `startSlapd`).
 *
 * testcontainers is imported lazily so the native mode never pays for loading it. Host ports
 * are chosen here and bound explicitly, not left to Docker, so that {@link SlapdServer.restart}
 * comes back on the same ports. Teardown: `stop()` removes the container; if the process dies
 * first, the exit/signal handlers run `docker rm -f` when the docker CLI exists, and
 * testcontainers' Ryuk reaper removes the container in every case.
 *
 * This path cannot run on machines without Docker (such as the one the harness was written
 * on); it is kept small and separate from the native mode, which is what CI exercises.
 */
export async function startDockerSlapd(options: ResolvedSlapdOptions): Promise<SlapdServer> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const dir = await makeServerDir('slapd');
  let container: StartedTestContainer | undefined;
  try {
    if (image === undefined) {
      // Built once per process (Docker's layer cache makes later runs fast); a failed build is
      // retried by the next call instead of being remembered.
      const building = GenericContainer.fromDockerfile(openldapFixtureDir()).build(IMAGE, {
        deleteOnExit: false,
      });
      building.catch(() => {
        image = undefined;
      });
      image = building;
    }
    const adminPassword = randomBytes(18).toString('base64url');
    const port = await freePort();
    let ldapsPort = await freePort();
    while (ldapsPort === port) ldapsPort = await freePort();
    const extra = await extraLdif(options.ldif);
    const logChunks: string[] = [];
    container = await (
      await image
    )
      .withEnvironment({
        LDAP_ADMIN_PASSWORD: adminPassword,
        LDAP_SEED: options.seed,
        LDAP_LOG_LEVEL: options.logLevel,
        LDAP_SERVER_NAME: OPENLDAP_SERVER_NAME,
      })
      .withExposedPorts({ container: 389, host: port }, { container: 636, host: ldapsPort })
      .withCopyContentToContainer(
        extra === '' ? [] : [{ content: extra, target: '/opt/authbridge/extra/99-options.ldif' }],
      )
      .withLogConsumer((stream) => {
        stream.on('data', (chunk: Buffer | string) => logChunks.push(chunk.toString()));
      })
      .withWaitStrategy(Wait.forSuccessfulCommand(READY_COMMAND.join(' ')))
      .withStartupTimeout(STARTUP_TIMEOUT_MS)
      .start();
    const started = container;
    const host = started.getHost();
    if (host !== '127.0.0.1' && host !== 'localhost') {
      throw new Error(
        `slapd in Docker is reachable at ${host}; only a local Docker engine is supported`,
      );
    }
    const caCertPem = (await started.exec(['cat', '/run/authbridge/certs/ca.crt'])).stdout;
    const caCertPath = join(dir, 'ca.crt');
    await writeFile(caCertPath, caCertPem);

    const docker = findExecutable('docker');
    const unregister = registerLiveServer({
      kind: 'slapd',
      dir,
      pid: () => undefined,
      killSync: () => {
        if (docker !== undefined)
          spawnSync(docker, ['rm', '-f', started.getId()], { stdio: 'ignore' });
      },
    });
    const dockerCli = (command: 'pause' | 'unpause'): void => {
      // pause()/resume() are synchronous (a test pauses, then immediately sends a request), and
      // the Docker API is not, so these go through the docker CLI.
      if (docker === undefined)
        throw new Error(`slapd ${command} in Docker mode needs the docker CLI`);
      execFileSync(docker, [command, started.getId()], { stdio: 'ignore' });
    };
    const ready = (): Promise<void> =>
      waitFor(
        async () =>
          (await canConnect('127.0.0.1', port)) &&
          (await started.exec(READY_COMMAND)).exitCode === 0,
        { deadline: Date.now() + 30_000, what: 'slapd in Docker to accept a bind' },
      );
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        try {
          await started.stop({ timeout: 3000 });
        } finally {
          await rm(dir, { recursive: true, force: true });
          unregister();
        }
      })();
      return stopping;
    };
    return {
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
      caCertPem,
      caCertPath,
      serverName: OPENLDAP_SERVER_NAME,
      dir,
      pid: undefined,
      mode: 'docker',
      log: () => Promise.resolve(logChunks.join('')),
      stop,
      async restart() {
        // The container keeps its writable layer (data, config, certificates) and the explicit
        // host port bindings; start.sh skips seeding when its config already exists.
        const since = Math.floor(Date.now() / 1000);
        await started.restart({ timeout: 3000 });
        // The log stream attached at start ends with the old process; follow the new one.
        (await started.logs({ since })).on('data', (chunk: Buffer | string) =>
          logChunks.push(chunk.toString()),
        );
        await ready();
      },
      pause: () => {
        dockerCli('pause');
      },
      resume: () => {
        dockerCli('unpause');
      },
      async kill() {
        const client = await getContainerRuntimeClient();
        await client.container.getById(started.getId()).kill();
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await container?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
