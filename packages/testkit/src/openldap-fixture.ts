import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Suffix of the test directory (the mdb database). */
export const OPENLDAP_BASE_DN = 'dc=example,dc=org';
/** rootdn of the test directory; its password is random per server. */
export const OPENLDAP_ADMIN_DN = 'cn=admin,dc=example,dc=org';
/** The seeded read-only service account (docker/openldap/ldif/00-base.ldif). */
export const OPENLDAP_SERVICE_DN = 'cn=authbridge,ou=service,dc=example,dc=org';
/** Password of {@link OPENLDAP_SERVICE_DN}, as seeded. */
export const OPENLDAP_SERVICE_PASSWORD = 'authbridge-service-password';
/** The DNS name in the server certificate besides localhost. */
export const OPENLDAP_SERVER_NAME = 'ldap.test';

/** Only the suffix entry: the seed for `seed: 'none'`. */
const BASE_ENTRY_LDIF = `dn: ${OPENLDAP_BASE_DN}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: authbridge test directory
`;

/**
 * The `docker/openldap` directory of the repository: LDIF seed, slapd.conf template and the
 * Docker image. Found by walking up from this module, which works from both `src/` (tsx) and
 * `dist/` (compiled); `AUTHBRIDGE_OPENLDAP_DIR` overrides it.
 */
export function openldapFixtureDir(): string {
  const override = process.env['AUTHBRIDGE_OPENLDAP_DIR'];
  if (override) return resolve(override);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'docker', 'openldap');
    if (existsSync(join(candidate, 'slapd.conf.template'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        'Cannot find docker/openldap/slapd.conf.template above the testkit package; ' +
          'set AUTHBRIDGE_OPENLDAP_DIR',
      );
    }
    dir = parent;
  }
}

/** Values for the `{{NAME}}` placeholders of docker/openldap/slapd.conf.template. */
export interface SlapdConfValues {
  readonly SCHEMA_DIR: string;
  readonly MODULE_DIR: string;
  readonly RUN_DIR: string;
  readonly DATA_DIR: string;
  readonly ROOT_PW: string;
  readonly CA_CERT: string;
  readonly SERVER_CERT: string;
  readonly SERVER_KEY: string;
}

/**
 * Renders slapd.conf from the template shared with the Docker image, failing loudly on a
 * placeholder without a value (a template edited without updating this harness).
 */
export async function renderSlapdConf(values: SlapdConfValues): Promise<string> {
  const template = await readFile(join(openldapFixtureDir(), 'slapd.conf.template'), 'utf8');
  const table: Readonly<Record<string, string>> = { ...values };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, name: string) => {
    const value = table[name];
    if (value === undefined) throw new Error(`slapd.conf.template: no value for {{${name}}}`);
    return value;
  });
}

/**
 * Whether an `ldif` option entry is LDIF text rather than a file path: text contains a newline
 * or starts (after comments) with an LDIF keyword such as `dn:`.
 */
function isLdifText(entry: string): boolean {
  return entry.includes('\n') || /^\s*(dn|version)\s*::?/i.test(entry);
}

/**
 * Resolves `SlapdOptions.ldif` entries (LDIF text, or a file path relative to the working
 * directory) to one LDIF text. Entries are separated by a blank line, which LDIF needs between
 * records, and lose their `version: 1` lines, which may only open a file.
 */
export async function extraLdif(entries: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const entry of entries) {
    if (isLdifText(entry)) {
      parts.push(entry);
      continue;
    }
    try {
      parts.push(await readFile(resolve(entry), 'utf8'));
    } catch (error) {
      throw new Error(`SlapdOptions.ldif: "${entry}" is neither LDIF text nor a readable file`, {
        cause: error,
      });
    }
  }
  return joinLdif(parts);
}

/**
 * The seed LDIF for slapadd: the default fixture files (`ldif/*.ldif` in name order) or just
 * the base entry, followed by {@link extraLdif} of the `ldif` option.
 */
export async function seedLdif(
  seed: 'default' | 'none',
  extra: readonly string[],
): Promise<string> {
  const parts: string[] = [];
  if (seed === 'default') {
    const dir = join(openldapFixtureDir(), 'ldif');
    const names = (await readdir(dir)).filter((name) => name.endsWith('.ldif')).sort();
    for (const name of names) parts.push(await readFile(join(dir, name), 'utf8'));
  } else {
    parts.push(BASE_ENTRY_LDIF);
  }
  parts.push(await extraLdif(extra));
  return joinLdif(parts);
}

function joinLdif(parts: readonly string[]): string {
  const cleaned = parts
    .map((part) => part.replace(/^version:[ \t]*1[ \t]*$/gm, '').trim())
    .filter((part) => part !== '');
  return cleaned.length === 0 ? '' : cleaned.join('\n\n') + '\n';
}
