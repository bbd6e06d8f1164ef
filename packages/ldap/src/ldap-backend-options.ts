/**
 * The LDAP backend's options, and their resolution into one frozen, fully defaulted object.
 *
 * Everything is checked once, at construction (CONFIG_INVALID), so a bad configuration never
 * shows up as a per-request failure, and insecure transport has to be asked for in writing.
 *
 * @packageDocumentation
 */
import { AuthBridgeError, type Clock, systemClock, type UserStore } from '@authbridge/core';
import type { Filter } from 'ldapts';
import type { ConnectionOptions } from 'node:tls';
import { isDnWithin, tryNormalizeDn } from './dn.js';
import { parseConfigFilter } from './filters.js';
import { type CompiledGroupQuery, compileGroupQuery, type GroupQuery } from './group-query.js';
import { consoleLdapLogger, type LdapLogger } from './ldap-logger.js';
import { LDAP_PRESETS, type LdapPreset, type LdapPresetName } from './presets.js';

/**
 * How the user's groups are found. Several may be combined; the union is used.
 * - `memberOf`: the user entry's `memberOf` attribute (OpenLDAP memberof overlay, AD, FreeIPA).
 * - `member` / `uniqueMember`: groups whose `member` / `uniqueMember` is the user's DN
 *   (groupOfNames / groupOfUniqueNames).
 * - `posix`: posixGroups whose `memberUid` is the user's login name, plus the group whose
 *   `gidNumber` is the user's primary `gidNumber`.
 * - `inChain`: Active Directory's LDAP_MATCHING_RULE_IN_CHAIN on `member` (nested, server-side).
 */
export type GroupStrategy = 'memberOf' | 'member' | 'uniqueMember' | 'posix' | 'inChain';

/** TLS settings for `ldaps://` and StartTLS. */
export interface LdapTlsOptions {
  /** CA certificate(s) to trust (PEM), instead of Node's default store: CA pinning. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Host name to verify the certificate against (and to send as SNI). Default: the URL's host. */
  readonly servername?: string;
  /** Minimum TLS version. Default `TLSv1.2`. */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Client certificate and key (PEM), for directories that require them. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Skip certificate verification. Only with `allowInsecure: true`; never in production. */
  readonly rejectUnauthorized?: boolean;
}

/** Search-then-bind: find the user's entry with the service account, then bind as it. */
export interface LdapUserSearchOptions {
  /** One or several search bases; results are united by DN. */
  readonly base: string | readonly string[];
  /** Search scope. Default `sub`. */
  readonly scope?: 'sub' | 'one';
  /** Extra filter on user entries (object class, account state). Default from the preset. */
  readonly filter?: string;
}

/** Group lookup settings. */
export interface LdapGroupOptions {
  /**
   * Where groups live (for member/uniqueMember/posix/inChain searches and nesting). Without the
   * `memberOf` strategy, every group DN in `requireGroup`, `denyGroup` and `userFlagsByGroup` must
   * lie within one of these bases (CONFIG_INVALID otherwise): the searches would never find it.
   */
  readonly base?: string | readonly string[];
  /** Strategies to use. Default from the preset. */
  readonly strategies?: readonly GroupStrategy[];
  /** Resolve groups of groups (iterative, cycle-safe). Default false. */
  readonly nested?: boolean;
  /** Nesting levels followed at most. Default 10. */
  readonly maxDepth?: number;
  /** Extra filter on group entries. Default from the preset. */
  readonly filter?: string;
  /**
   * Page size of group searches (RFC 2696 paged results): a user in more groups than the
   * server's size limit still gets all of them. Default 500.
   */
  readonly pageSize?: number;
}

/** The user flags that can be derived from groups. */
export interface LdapUserFlagsByGroup {
  readonly isActive?: GroupQuery;
  readonly isStaff?: GroupQuery;
  readonly isSuperuser?: GroupQuery;
}

/** Caches; every one is off (TTL 0) by default. Each TTL is also the revocation delay. */
export interface LdapCacheOptions {
  /**
   * Username → DN. The entry at that DN is still read at every login and must still match the
   * login name and `userSearch.filter`. What it can delay: a moved entry (costs one failed login,
   * which evicts), and a second entry with the same login name (the search would refuse both as
   * ambiguous), for up to this long. Default 0.
   */
  readonly dnTtlMs?: number;
  /**
   * (entry id, DN) → groups. A membership change takes effect at most this late; a new person at a
   * reused DN (another id) is looked up afresh. Default 0.
   */
  readonly groupTtlMs?: number;
  /**
   * Username+password → user, as an HMAC with a per-process random key. A changed password, a
   * locked or deleted account keeps working from the cache for up to this long. Default 0 (off).
   */
  readonly credentialTtlMs?: number;
  /** Entries per cache at most. Default 10,000. */
  readonly maxEntries?: number;
}

/** Options for {@link LdapBackend}. */
export interface LdapBackendOptions {
  /** Backend id stored in sessions. Default `ldap`. */
  readonly id?: string;
  /** Server URL(s), `ldap://` or `ldaps://`; several = failover in this order. */
  readonly url: string | readonly string[];
  /** Upgrade `ldap://` connections with StartTLS. Default true for `ldap://` URLs. */
  readonly startTls?: boolean;
  /** TLS settings for `ldaps://` and StartTLS. */
  readonly tls?: LdapTlsOptions;
  /** Permit plaintext `ldap://` without StartTLS, or unverified certificates. Default false. */
  readonly allowInsecure?: boolean;
  /** Directory flavour: default attribute names, filters and group strategies. Default `openldap`. */
  readonly preset?: LdapPresetName;
  /** Service account DN for searches; absent: searches run anonymously (or as the user). */
  readonly bindDn?: string;
  /** Service account password. */
  readonly bindPassword?: string;
  /** Search-then-bind settings (exactly one of `userSearch` and `userDnTemplate`). */
  readonly userSearch?: LdapUserSearchOptions;
  /**
   * Direct bind: the user's DN, with `{username}` replaced by the RFC 4514-escaped login name,
   * e.g. `uid={username},ou=people,dc=example,dc=org`.
   */
  readonly userDnTemplate?: string;
  /**
   * Active Directory bind: bind with this name, `{username}` replaced by the login name as typed
   * (no DN escaping: it is not a DN), then read the user's own entry as the user.
   * - `{username}@example.org`: a user principal name; the entry is the one under
   *   `userSearch.base` whose `userPrincipalName` is the bound name or, when none is, the one
   *   AD binds by the implicit UPN: `sAMAccountName` the login name, in the domain
   *   `example.org` (its DN ends in `DC=example,DC=org`);
   * - `EXAMPLE\{username}`: a down-level logon name; the entry is the one whose
   *   `sAMAccountName` is the login name.
   * Needs `userSearch` (where the entry lives; its filter applies too); a login name holding
   * `@`, `\` or a control character is refused before any I/O.
   */
  readonly userBindName?: string;
  /** Attribute matched against the login name. Default from the preset (`uid`). */
  readonly usernameAttribute?: string;
  /** Attribute holding the stable user id. Default from the preset (`entryUUID`). */
  readonly idAttribute?: string;
  /** How the id attribute is encoded. Default from the preset. */
  readonly idFormat?: 'string' | 'guid';
  /** Attribute → user field. Defaults from the preset. */
  readonly emailAttribute?: string;
  readonly displayNameAttribute?: string;
  /** Other attributes copied into the stored user's `attributes`: field name → LDAP attribute. */
  readonly extraAttributes?: Readonly<Record<string, string>>;
  /** Group lookup; absent: no groups are read (and group gates must not be configured). */
  readonly groups?: LdapGroupOptions;
  /** Only members may log in. */
  readonly requireGroup?: GroupQuery;
  /** Members are refused with PermissionDenied (a veto: no other backend is asked). */
  readonly denyGroup?: GroupQuery;
  /** Flags derived from groups; a flag not listed keeps its default (active, not staff). */
  readonly userFlagsByGroup?: LdapUserFlagsByGroup;
  /** Group name (first RDN value, e.g. `admins`) → permissions granted to its members. */
  readonly groupPermissions?: Readonly<Record<string, readonly string[]>>;
  /** Local user store users are provisioned into. Default: a private MemoryUserStore. */
  readonly store?: UserStore;
  /** Refuse users who have no local user yet (django-auth-ldap's NO_NEW_USERS). Default false. */
  readonly noNewUsers?: boolean;
  /** Rewrite the local profile from the directory on every login. Default `always`. */
  readonly updateUsers?: 'always' | 'never';
  /**
   * The issuer recorded in each user's identity link (backend id, issuer, subject). Default `ldap`,
   * a constant: the link already names the backend, and the search bases or the DN template can
   * change without touching it. Changing `issuer` (or the backend `id`) relinks nobody: every
   * existing link stops matching, and each user's next login fails with IDENTITY_CONFLICT (their
   * username is taken) until the links are migrated. Links recorded under the earlier default (the
   * normalised first search base, or the template's parent DN) keep working with `issuer` set to it.
   */
  readonly issuer?: string;
  /** Let users log in on a ppolicy grace login (expired password). Default false. */
  readonly allowGraceLogins?: boolean;
  /** Let inactive users (see `userFlagsByGroup.isActive`) log in. Default false. */
  readonly allowInactive?: boolean;
  /** Budget for one whole authentication (connect, TLS, search, bind, groups). Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Per server attempt: the time to connect (TCP, TLS, StartTLS), and as much again to answer the
   * bind, before the next server is tried within the same authentication. Default 5 s (capped by
   * the deadline; the last server to try may use what is left of it for its bind).
   */
  readonly connectTimeoutMs?: number;
  /** Server-side time limit sent with every search, in seconds. Default 5. */
  readonly searchTimeLimitSeconds?: number;
  /** Service-account connections kept open. Default 4. */
  readonly poolSize?: number;
  /**
   * Pooled connections are replaced after this long. Must be longer than `timeoutMs`: a replaced
   * connection stays open until the searches still running on it end, up to `timeoutMs` later,
   * and replaced connections must not pile up. Default 10 minutes.
   */
  readonly poolMaxLifetimeMs?: number;
  /**
   * A pooled connection idle for longer than this is pinged (a root DSE read) before it is used
   * again, and replaced if the ping fails: a connection a firewall dropped silently is noticed
   * within {@link LdapBackendOptions.healthCheckTimeoutMs} instead of eating a login's whole
   * deadline. 0 pings before every use. Default 30 s.
   */
  readonly poolIdlePingMs?: number;
  /**
   * Budget of {@link LdapBackend.healthCheck} and of an idle-connection ping (capped by the
   * login's own deadline). Default 2 s.
   */
  readonly healthCheckTimeoutMs?: number;
  /** A server that failed to connect is skipped for this long (doubling, max 8×). Default 5 s. */
  readonly failoverBackoffMs?: number;
  /**
   * Search-then-bind: when no user is found, bind as a DN that does not exist (the same steps as
   * a wrong password), then wait for the difference between the median times of recent refused
   * binds of real users and of recent unknown-user logins (the last 32 of each, in memory, never
   * past `timeoutMs`): the directory refuses a DN that does not exist without checking a
   * password, which a slow hash makes 100 ms and more faster. This evens out the medians, not
   * every login, and only once a refused bind has been seen. The direct-bind flows
   * (`userDnTemplate`, `userBindName`) cannot tell an unknown user from a wrong password (both
   * are refused binds), so there only `minFailureMs` evens out the time. Default true.
   */
  readonly dummyBind?: boolean;
  /**
   * Failed logins take at least this long (a latency floor, for every flow; above the slowest
   * refused bind, failures take the same time whatever the reason). Default 0.
   */
  readonly minFailureMs?: number;
  /** Caches (off by default). */
  readonly cache?: LdapCacheOptions;
  /** Where failure reasons and operational events go. Default: warnings to the console. */
  readonly logger?: LdapLogger;
  /** Time source for caches. Default the system clock. */
  readonly clock?: Clock;
}

/** One server to try. */
export interface ResolvedServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly startTls: boolean;
}

/** How the user's DN is found. */
export type ResolvedFlow =
  | {
      readonly kind: 'search';
      readonly bases: readonly string[];
      readonly scope: 'sub' | 'one';
      readonly filter: Filter | undefined;
    }
  | { readonly kind: 'template'; readonly template: string }
  | {
      readonly kind: 'bindName';
      /** `{username}@domain` or `DOMAIN\{username}`. */
      readonly template: string;
      /** Which attribute the own-entry search matches: the UPN, or the sAMAccountName. */
      readonly form: 'upn' | 'downLevel';
      readonly bases: readonly string[];
      readonly scope: 'sub' | 'one';
      readonly filter: Filter | undefined;
    };

/** Group settings, resolved. */
export interface ResolvedGroups {
  readonly bases: readonly string[];
  readonly strategies: ReadonlySet<GroupStrategy>;
  readonly nested: boolean;
  readonly maxDepth: number;
  readonly filter: Filter | undefined;
  readonly pageSize: number;
}

/** {@link LdapBackendOptions} checked, defaulted and frozen. */
export interface ResolvedLdapOptions {
  readonly id: string;
  readonly servers: readonly ResolvedServer[];
  readonly tls: Readonly<ConnectionOptions>;
  readonly allowInsecure: boolean;
  readonly bind: { readonly dn: string; readonly password: string } | undefined;
  readonly flow: ResolvedFlow;
  readonly usernameAttribute: string;
  readonly idAttribute: string;
  readonly idFormat: 'string' | 'guid';
  readonly emailAttribute: string;
  readonly displayNameAttribute: string;
  readonly extraAttributes: Readonly<Record<string, string>>;
  readonly groups: ResolvedGroups | undefined;
  readonly requireGroup: CompiledGroupQuery | undefined;
  readonly denyGroup: CompiledGroupQuery | undefined;
  readonly userFlags: {
    readonly isActive: CompiledGroupQuery | undefined;
    readonly isStaff: CompiledGroupQuery | undefined;
    readonly isSuperuser: CompiledGroupQuery | undefined;
  };
  readonly groupPermissions: ReadonlyMap<string, readonly string[]>;
  readonly store: UserStore | undefined;
  readonly noNewUsers: boolean;
  readonly updateUsers: 'always' | 'never';
  readonly issuer: string;
  readonly allowGraceLogins: boolean;
  readonly allowInactive: boolean;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly searchTimeLimitSeconds: number;
  readonly poolSize: number;
  readonly poolMaxLifetimeMs: number;
  readonly poolIdlePingMs: number;
  readonly healthCheckTimeoutMs: number;
  readonly failoverBackoffMs: number;
  readonly dummyBind: boolean;
  readonly minFailureMs: number;
  readonly cache: Required<LdapCacheOptions>;
  readonly logger: LdapLogger;
  readonly clock: Clock;
}

const STRATEGIES: readonly GroupStrategy[] = [
  'memberOf',
  'member',
  'uniqueMember',
  'posix',
  'inChain',
];

function fail(message: string): never {
  throw new AuthBridgeError('CONFIG_INVALID', message);
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(`${name} must be a non-empty string`);
  return value;
}

function attributeName(value: unknown, name: string): string {
  const s = nonEmptyString(value, name);
  if (!/^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)(;[A-Za-z0-9-]+)*$/.test(s)) {
    fail(`${name} is not an attribute name`);
  }
  return s;
}

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`${name} must be an integer in ${min}..${max}`);
  }
  return v;
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  const v = value ?? fallback;
  if (typeof v !== 'boolean') fail(`${name} must be a boolean`);
  return v;
}

function dnList(value: unknown, name: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) fail(`${name} must be a DN or a non-empty list`);
  return list.map((dn, i) => {
    const s = nonEmptyString(dn, `${name}[${i}]`);
    if (tryNormalizeDn(s) === undefined) fail(`${name}[${i}] is not a valid DN`);
    return s;
  });
}

function resolveServers(
  url: unknown,
  startTls: boolean | undefined,
  allowInsecure: boolean,
): ResolvedServer[] {
  const urls = typeof url === 'string' ? [url] : url;
  if (!Array.isArray(urls) || urls.length === 0) fail('url must be an LDAP URL or a list of them');
  return urls.map((u, i) => {
    const s = nonEmptyString(u, `url[${i}]`);
    let parsed: URL;
    try {
      parsed = new URL(s);
    } catch {
      fail(`url[${i}] is not a URL`);
    }
    const scheme = parsed.protocol.replace(/:$/, '');
    if (scheme !== 'ldap' && scheme !== 'ldaps') fail(`url[${i}] must be ldap:// or ldaps://`);
    if (parsed.pathname !== '' && parsed.pathname !== '/') fail(`url[${i}] must have no path`);
    const secure = scheme === 'ldaps';
    if (secure && startTls === true) fail('startTls cannot be combined with ldaps://');
    const upgrade = !secure && startTls !== false;
    if (!secure && !upgrade && !allowInsecure) {
      fail('plaintext ldap:// without StartTLS needs allowInsecure: true');
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (host === '') fail(`url[${i}] has no host`);
    const port = parsed.port === '' ? (secure ? 636 : 389) : Number(parsed.port);
    return Object.freeze({
      url: `${scheme}://${parsed.host}`,
      host,
      port,
      secure,
      startTls: upgrade,
    });
  });
}

function resolveTls(tls: LdapTlsOptions | undefined, allowInsecure: boolean): ConnectionOptions {
  const t: LdapTlsOptions = tls ?? {};
  if (typeof t !== 'object' || (t as unknown) === null) fail('tls must be an object');
  const out: ConnectionOptions = { minVersion: t.minVersion ?? 'TLSv1.2' };
  const minVersion: unknown = t.minVersion;
  if (minVersion !== undefined && minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
    fail('tls.minVersion must be TLSv1.2 or TLSv1.3');
  }
  if (t.ca !== undefined) {
    const list = Array.isArray(t.ca) ? t.ca : [t.ca];
    if (list.length === 0 || !list.every((c) => typeof c === 'string' || Buffer.isBuffer(c))) {
      fail('tls.ca must be PEM text or a list of PEM texts');
    }
    out.ca = [...list];
  }
  if (t.servername !== undefined) out.servername = nonEmptyString(t.servername, 'tls.servername');
  if ((t.cert === undefined) !== (t.key === undefined)) fail('tls.cert and tls.key go together');
  if (t.cert !== undefined) out.cert = t.cert;
  if (t.key !== undefined) out.key = t.key;
  if (t.rejectUnauthorized === false && !allowInsecure) {
    fail('tls.rejectUnauthorized: false needs allowInsecure: true');
  }
  out.rejectUnauthorized = t.rejectUnauthorized ?? true;
  return Object.freeze(out);
}

function resolveGroups(
  groups: LdapGroupOptions | undefined,
  preset: LdapPreset,
): ResolvedGroups | undefined {
  if (groups === undefined) return undefined;
  if (typeof groups !== 'object' || (groups as unknown) === null) fail('groups must be an object');
  const strategies = groups.strategies ?? preset.groupStrategies;
  if (!Array.isArray(strategies) || strategies.length === 0) {
    fail('groups.strategies must be a non-empty list');
  }
  for (const s of strategies as readonly unknown[]) {
    if (!STRATEGIES.includes(s as GroupStrategy))
      fail(`groups.strategies: unknown strategy ${String(s)}`);
  }
  const needsBase = strategies.some((s) => s !== 'memberOf') || groups.nested === true;
  const bases = groups.base === undefined ? [] : dnList(groups.base, 'groups.base');
  if (needsBase && bases.length === 0) fail('groups.base is needed for these strategies');
  return Object.freeze({
    bases: Object.freeze(bases),
    strategies: new Set(strategies),
    nested: bool(groups.nested, 'groups.nested', false),
    maxDepth: integer(groups.maxDepth, 'groups.maxDepth', 10, 1, 100),
    filter: parseConfigFilter(groups.filter ?? preset.groupFilter, 'groups.filter'),
    pageSize: integer(groups.pageSize, 'groups.pageSize', 500, 1, 10_000),
  });
}

/** Every group DN a query names. */
function queryDns(query: CompiledGroupQuery): string[] {
  if (query.kind === 'dn') return [query.dn];
  if (query.kind === 'not') return queryDns(query.term);
  return query.terms.flatMap(queryDns);
}

/**
 * Checks and fills in {@link LdapBackendOptions}.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the first problem found.
 */
export function resolveLdapOptions(options: LdapBackendOptions): ResolvedLdapOptions {
  // Checked at runtime: options often come from parsed configuration, not typed code.
  if (typeof options !== 'object' || (options as unknown) === null)
    fail('options must be an object');
  const presetName = options.preset ?? 'openldap';
  const preset = LDAP_PRESETS[presetName] as LdapPreset | undefined;
  if (preset === undefined || !Object.hasOwn(LDAP_PRESETS, presetName)) {
    fail(`unknown preset ${presetName}`);
  }
  const allowInsecure = bool(options.allowInsecure, 'allowInsecure', false);
  if (options.startTls !== undefined && typeof options.startTls !== 'boolean') {
    fail('startTls must be a boolean');
  }
  const servers = resolveServers(options.url, options.startTls, allowInsecure);
  const tls = resolveTls(options.tls, allowInsecure);

  let bind: ResolvedLdapOptions['bind'];
  if (options.bindDn !== undefined || options.bindPassword !== undefined) {
    const dn = nonEmptyString(options.bindDn, 'bindDn');
    if (tryNormalizeDn(dn) === undefined) fail('bindDn is not a valid DN');
    // An empty password would be an unauthenticated bind: "success" with no identity at all.
    const password = nonEmptyString(options.bindPassword, 'bindPassword');
    bind = Object.freeze({ dn, password });
  }

  if ((options.userSearch === undefined) === (options.userDnTemplate === undefined)) {
    fail('set exactly one of userSearch and userDnTemplate');
  }
  if (options.userBindName !== undefined && options.userSearch === undefined) {
    fail('userBindName needs userSearch, to find the entry of the bound user');
  }
  let flow: ResolvedFlow;
  if (options.userSearch !== undefined) {
    const us = options.userSearch;
    const bases = dnList(us.base, 'userSearch.base');
    const scope = us.scope ?? 'sub';
    if (!['sub', 'one'].includes(scope)) fail('userSearch.scope must be sub or one');
    const filter = parseConfigFilter(us.filter ?? preset.userFilter, 'userSearch.filter');
    if (options.userBindName === undefined) {
      flow = Object.freeze({ kind: 'search', bases: Object.freeze(bases), scope, filter });
    } else {
      const template = nonEmptyString(options.userBindName, 'userBindName');
      // A domain part of ordinary characters only: no second placeholder, separator or space.
      const form = /^\{username\}@[A-Za-z0-9.-]+$/.test(template)
        ? 'upn'
        : /^[A-Za-z0-9._-]+\\\{username\}$/.test(template)
          ? 'downLevel'
          : fail('userBindName must be {username}@domain or DOMAIN\\{username}');
      flow = Object.freeze({
        kind: 'bindName',
        template,
        form,
        bases: Object.freeze(bases),
        scope,
        filter,
      });
    }
  } else {
    const template = nonEmptyString(options.userDnTemplate, 'userDnTemplate');
    if (template.split('{username}').length !== 2) {
      fail('userDnTemplate must contain {username} exactly once');
    }
    const sample = tryNormalizeDn(template.replace('{username}', 'x'));
    if (sample === undefined) fail('userDnTemplate is not a DN template');
    flow = Object.freeze({ kind: 'template', template });
  }

  const groups = resolveGroups(options.groups, preset);
  const gated = (q: GroupQuery | undefined, name: string): CompiledGroupQuery | undefined => {
    if (q === undefined) return undefined;
    if (groups === undefined) fail(`${name} needs groups to be configured`);
    const compiled = compileGroupQuery(q, name);
    // The search strategies find groups under groups.base only: a DN elsewhere would never match,
    // and a deny (or a `not`) that never matches fails open. memberOf lists groups anywhere.
    if (!groups.strategies.has('memberOf')) {
      for (const dn of queryDns(compiled)) {
        if (!groups.bases.some((base) => isDnWithin(dn, base))) {
          fail(`${name}: ${dn} is outside groups.base, where the group strategies cannot find it`);
        }
      }
    }
    return compiled;
  };
  const flags = options.userFlagsByGroup ?? {};
  const groupPermissions = new Map<string, readonly string[]>();
  for (const [group, perms] of Object.entries(options.groupPermissions ?? {})) {
    const list: unknown = perms;
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' && p !== '')) {
      fail(`groupPermissions.${group} must be a list of permission strings`);
    }
    groupPermissions.set(group.toLowerCase(), Object.freeze([...(list as string[])]));
  }

  const extraAttributes: Record<string, string> = {};
  for (const [field, attr] of Object.entries(options.extraAttributes ?? {})) {
    extraAttributes[field] = attributeName(attr, `extraAttributes.${field}`);
  }
  if (
    options.store !== undefined &&
    (typeof options.store !== 'object' || (options.store as unknown) === null)
  ) {
    fail('store must be a UserStore');
  }
  const updateUsers = options.updateUsers ?? 'always';
  if (!['always', 'never'].includes(updateUsers)) fail('updateUsers must be always or never');
  const idFormat = options.idFormat ?? preset.idFormat;
  if (!['string', 'guid'].includes(idFormat)) fail('idFormat must be string or guid');
  const cache = options.cache ?? {};
  const logger = options.logger ?? consoleLdapLogger;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof (logger as unknown as Record<string, unknown>)[level] !== 'function') {
      fail(`logger.${level} must be a function`);
    }
  }
  const timeoutMs = integer(options.timeoutMs, 'timeoutMs', 10_000, 50, 300_000);
  const poolMaxLifetimeMs = integer(
    options.poolMaxLifetimeMs,
    'poolMaxLifetimeMs',
    600_000,
    1_000,
    86_400_000,
  );
  if (poolMaxLifetimeMs <= timeoutMs) fail('poolMaxLifetimeMs must be longer than timeoutMs');

  return Object.freeze({
    id: nonEmptyString(options.id ?? 'ldap', 'id'),
    servers: Object.freeze(servers),
    tls,
    allowInsecure,
    bind,
    flow,
    usernameAttribute: attributeName(
      options.usernameAttribute ?? preset.usernameAttribute,
      'usernameAttribute',
    ),
    idAttribute: attributeName(options.idAttribute ?? preset.idAttribute, 'idAttribute'),
    idFormat,
    emailAttribute: attributeName(
      options.emailAttribute ?? preset.emailAttribute,
      'emailAttribute',
    ),
    displayNameAttribute: attributeName(
      options.displayNameAttribute ?? preset.displayNameAttribute,
      'displayNameAttribute',
    ),
    extraAttributes: Object.freeze(extraAttributes),
    groups,
    requireGroup: gated(options.requireGroup, 'requireGroup'),
    denyGroup: gated(options.denyGroup, 'denyGroup'),
    userFlags: Object.freeze({
      isActive: gated(flags.isActive, 'userFlagsByGroup.isActive'),
      isStaff: gated(flags.isStaff, 'userFlagsByGroup.isStaff'),
      isSuperuser: gated(flags.isSuperuser, 'userFlagsByGroup.isSuperuser'),
    }),
    groupPermissions,
    store: options.store,
    noNewUsers: bool(options.noNewUsers, 'noNewUsers', false),
    updateUsers,
    // A constant, not derived from the bases: the identity link already names the backend, and a
    // default that moved with userSearch.base would unlink every user when the bases change.
    issuer: nonEmptyString(options.issuer ?? 'ldap', 'issuer'),
    allowGraceLogins: bool(options.allowGraceLogins, 'allowGraceLogins', false),
    allowInactive: bool(options.allowInactive, 'allowInactive', false),
    timeoutMs,
    connectTimeoutMs: integer(options.connectTimeoutMs, 'connectTimeoutMs', 5_000, 10, 300_000),
    searchTimeLimitSeconds: integer(
      options.searchTimeLimitSeconds,
      'searchTimeLimitSeconds',
      5,
      0,
      3600,
    ),
    poolSize: integer(options.poolSize, 'poolSize', 4, 1, 256),
    poolMaxLifetimeMs,
    poolIdlePingMs: integer(options.poolIdlePingMs, 'poolIdlePingMs', 30_000, 0, 86_400_000),
    healthCheckTimeoutMs: integer(
      options.healthCheckTimeoutMs,
      'healthCheckTimeoutMs',
      2_000,
      50,
      300_000,
    ),
    failoverBackoffMs: integer(options.failoverBackoffMs, 'failoverBackoffMs', 5_000, 0, 3_600_000),
    dummyBind: bool(options.dummyBind, 'dummyBind', true),
    minFailureMs: integer(options.minFailureMs, 'minFailureMs', 0, 0, 60_000),
    cache: Object.freeze({
      dnTtlMs: integer(cache.dnTtlMs, 'cache.dnTtlMs', 0, 0, 86_400_000),
      groupTtlMs: integer(cache.groupTtlMs, 'cache.groupTtlMs', 0, 0, 86_400_000),
      credentialTtlMs: integer(cache.credentialTtlMs, 'cache.credentialTtlMs', 0, 0, 86_400_000),
      maxEntries: integer(cache.maxEntries, 'cache.maxEntries', 10_000, 1, 10_000_000),
    }),
    logger,
    clock: options.clock ?? systemClock,
  });
}
