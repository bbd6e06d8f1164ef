import { dockerAvailable } from './docker-available.js';
import { nativeSlapdAvailable, startNativeSlapd } from './slapd-native.js';
import type { ResolvedSlapdOptions, SlapdOptions, SlapdServer } from './slapd-types.js';

type Mode = NonNullable<SlapdOptions['mode']>;

/** The mode from `AUTHBRIDGE_LDAP` (`native`, `docker` or `auto`), if set. */
function modeFromEnvironment(): Mode | undefined {
  const value = process.env['AUTHBRIDGE_LDAP']?.trim().toLowerCase();
  if (value === undefined || value === '') return undefined;
  if (value === 'native' || value === 'docker' || value === 'auto') return value;
  throw new Error(`AUTHBRIDGE_LDAP must be native, docker or auto, not "${value}"`);
}

/**
 * Starts a real OpenLDAP server (slapd 2.5 with the memberof, refint and ppolicy overlays,
 * TLS on both ports) seeded with the authbridge fixture directory, and waits until it accepts
 * binds. See docker/openldap/README.md for the seeded entries.
 *
 * Every server gets fresh ports, a fresh temp directory and a random admin password, so tests
 * can run servers side by side. Stop it with {@link SlapdServer.stop} or `await using`; it is
 * also torn down when the process exits, is interrupted, or is killed.
 *
 * @example
 * ```ts
 * await using slapd = await startSlapd();
 * const client = new Client({ url: slapd.url });
 * await client.bind(slapd.serviceDN, slapd.servicePassword);
 * ```
 */
export async function startSlapd(options: SlapdOptions = {}): Promise<SlapdServer> {
  const resolved: ResolvedSlapdOptions = {
    ldif: options.ldif ?? [],
    seed: options.seed ?? 'default',
    logLevel: options.logLevel ?? 'stats',
  };
  let mode = options.mode ?? modeFromEnvironment() ?? 'auto';
  if (mode === 'auto') mode = (await dockerAvailable()) ? 'docker' : 'native';
  if (mode === 'native') return startNativeSlapd(resolved);
  // Loaded on demand: it pulls in testcontainers.
  const { startDockerSlapd } = await import('./slapd-docker.js');
  return startDockerSlapd(resolved);
}

/**
 * Whether {@link startSlapd} can run in the given mode: `'native'` needs slapd, slapadd,
 * ldapwhoami and openssl installed; `'docker'` a Docker engine that answers; `'auto'` (the
 * default) either. Use it with `requireServer`, which fails a test whose server is missing.
 */
export async function slapdAvailable(mode: Mode = 'auto'): Promise<boolean> {
  if (mode === 'native') return nativeSlapdAvailable();
  if (mode === 'docker') return dockerAvailable();
  return nativeSlapdAvailable() || (await dockerAvailable());
}
