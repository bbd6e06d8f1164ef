import { existsSync } from 'node:fs';
import { findExecutable } from './find-executable.js';
import { networkNamespacesAvailable } from './network-namespace.js';
import { startSambaDcInstance } from './samba-dc.js';
import type { SambaDcOptions, SambaDcServer } from './samba-types.js';

/**
 * Where samba-tool finds its provisioning LDIF (Debian/Ubuntu package samba-ad-provision).
 * Without it samba and samba-tool may be installed (a file server) yet unable to make a domain.
 */
const PROVISION_SETUP_DIR = process.env['AUTHBRIDGE_SAMBA_SETUP_DIR'] ?? '/usr/share/samba/setup';

/**
 * Starts a real Active Directory domain controller (Samba's, in a network namespace of its own)
 * with the seeded users and groups of the testkit README, and waits until it accepts binds.
 *
 * The first call of a process provisions the domain `AUTHBRIDGE.TEST` and seeds it (5-20 s,
 * mostly `samba-tool domain provision`); every call then starts a private copy of that state
 * (about 1-2 s), so each test group can lock out, modify and delete what it likes. Stop it
 * with {@link SambaDcServer.stop} or `await using`; it is also torn down when the process exits
 * or is interrupted. Needs root (network namespaces), see {@link sambaAvailable}.
 *
 * @example
 * ```ts
 * await using dc = await startSambaDc();
 * const client = new Client({ url: dc.url });
 * await client.bind(`${dc.netbiosDomain}\\${dc.users.alice.sam}`, dc.users.alice.password);
 * ```
 */
export async function startSambaDc(options: SambaDcOptions = {}): Promise<SambaDcServer> {
  const logLevel = options.logLevel ?? 1;
  if (!Number.isInteger(logLevel) || logLevel < 0 || logLevel > 10) {
    throw new Error(`SambaDcOptions.logLevel must be an integer from 0 to 10, not ${logLevel}`);
  }
  // A static import, unlike ldapts inside: a module loaded with import() while the tests run as
  // CommonJS (tsx) would get its own copy of live-servers.ts, hidden from liveServers().
  return startSambaDcInstance({ logLevel });
}

/**
 * Whether {@link startSambaDc} can run here: Linux, `samba`, `samba-tool` and `ip` installed, the
 * provisioning data present, and permission to create network namespaces (tried once, cached).
 * Use it with `requireServer`, which fails a test whose server is missing.
 */
export async function sambaAvailable(): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  if (['samba', 'samba-tool', 'ip'].some((name) => findExecutable(name) === undefined)) {
    return false;
  }
  if (!existsSync(PROVISION_SETUP_DIR)) return false;
  return networkNamespacesAvailable();
}
