/**
 * What `authbridge check-config` checks beyond the schema.
 *
 * @packageDocumentation
 */
import { Authenticator, MemoryKeyValueStore, MemoryUserStore } from '@authbridge/core';
import { pino } from 'pino';
import { buildBackends } from './build-backends.js';
import type { HostConfig } from './config/schema.js';

/**
 * Refuses what `serve` would refuse at start-up, without starting: every backend is built from
 * its options (PEM files read, SAML and LDAP settings checked by the backends themselves) against
 * in-memory stores, then closed. Nothing connects at construction, no local account is created and
 * the configured SQLite file is not opened.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the backend and the problem.
 */
export async function checkConfig(config: HostConfig): Promise<void> {
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
