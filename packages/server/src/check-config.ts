/**
 * What `authbridge check-config` checks beyond the schema.
 *
 * @packageDocumentation
 */
import {
  AuthBridgeError,
  Authenticator,
  MemoryKeyValueStore,
  MemoryUserStore,
} from '@authbridge/core';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import { buildBackends } from './build-backends.js';
import type { HostConfig } from './config/schema.js';

/**
 * Refuses what `serve` would refuse at start-up, without starting: every backend is built from
 * its options (PEM files read, SAML and LDAP settings checked by the backends themselves) against
 * in-memory stores, then closed. Nothing connects at construction, no local account is created and
 * the configured SQLite file is not opened: only its directory is checked (it exists, is writable).
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the backend and the problem.
 */
export async function checkConfig(config: HostConfig): Promise<void> {
  if (config.stores.kind === 'sqlite') checkStoreDirectory(config.stores.path);
  const backends = await buildBackends(config.backends, {
    userStore: new MemoryUserStore(),
    kvStore: new MemoryKeyValueStore(),
    logger: pino({ level: 'silent' }),
    publicUrl: config.server.publicUrl,
    dryRun: true,
  });
  try {
    // The chain's own checks (ids unique, at least one backend).
    new Authenticator({ backends });
  } finally {
    await Promise.allSettled(backends.map((b) => b.close()));
  }
}

// SQLite creates the file, and its -wal and -shm files, next to it: the directory must take them.
function checkStoreDirectory(path: string): void {
  const directory = dirname(resolve(path));
  try {
    if (!statSync(directory).isDirectory()) throw new Error('not a directory');
    accessSync(directory, constants.W_OK);
  } catch (cause) {
    throw new AuthBridgeError(
      'CONFIG_INVALID',
      `stores.path: ${directory} is not a writable directory`,
      { cause },
    );
  }
}
