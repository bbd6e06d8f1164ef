/**
 * Turns {@link RestTokenBackendOptions} into a frozen, fully-defaulted configuration, once, at
 * construction. The caller's object is never written to; a bad option is CONFIG_INVALID here,
 * never a surprise on the first request.
 *
 * @packageDocumentation
 */
import {
  AuthBridgeError,
  type Clock,
  isLoopbackHost,
  systemClock,
  type UpdatePolicy,
  type UserStore,
} from '@authbridge/core';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { ClaimPolicy } from './claims.js';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  DEFAULT_CIRCUIT_BREAKER,
} from './circuit-breaker.js';
import { type ClientAuthentication, clientAuthApplier } from './client-auth.js';
import type { CredentialVerifier } from './credential-verifier.js';
import { IntrospectionVerifier } from './introspection-verifier.js';
import { parsePath } from './json-body.js';
import { JwtVerifier } from './jwt-verifier.js';
import { consoleLogger, type RestLogger } from './logger.js';
import { LruTtlCache } from './lru-ttl-cache.js';
import { upstreamLabel } from './map-upstream-error.js';
import type {
  CacheOptions,
  IntrospectionModeOptions,
  JwtModeOptions,
  PermissionOptions,
  RestApiModeOptions,
  RestTokenBackendOptions,
} from './options.js';
import { type PermissionDecision, RemotePermissions } from './remote-permissions.js';
import { type ResolvedMapping, RestApiVerifier, type TokenPlacement } from './rest-api-verifier.js';
import { SingleFlight } from './single-flight.js';
import { createTlsClientFetch } from './tls-client-fetch.js';
import type { TokenPrincipal } from './token-principal.js';
import { type FetchLike, readBody, UpstreamClient } from './upstream-client.js';

/** The resolved verdict-cache settings. */
export interface ResolvedCache {
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
}

/** Everything the backend runs on, validated and defaulted. */
export interface ResolvedOptions {
  readonly id: string;
  readonly store: UserStore;
  readonly issuer: string;
  readonly verifier: CredentialVerifier;
  readonly acceptsTokens: boolean;
  readonly acceptsPasswords: boolean;
  /**
   * The breakers of every upstream a check depends on (introspection / REST endpoint, or the JWKS
   * and the revocation endpoint); empty with `circuitBreaker: false`.
   */
  readonly breakers: readonly CircuitBreaker[];
  readonly deadlineMs: number;
  readonly cache: ResolvedCache | undefined;
  readonly provisioning: {
    readonly create: boolean;
    readonly update: UpdatePolicy;
    readonly username: (principal: TokenPrincipal) => string;
  };
  readonly scopeMap: ReadonlyMap<string, readonly string[]>;
  readonly scopePrefix: string | undefined;
  readonly remotePermissions: RemotePermissions | undefined;
  readonly failOpen: boolean;
  readonly clock: Clock;
  readonly logger: RestLogger;
  readonly maxCredentialLength: number;
}

const DEFAULT_ALGORITHMS = Object.freeze(['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']);
const MAX_DEADLINE_MS = 30_000;

/** Shared pieces every upstream client is built from. */
interface Common {
  readonly fetch: FetchLike;
  readonly retry: boolean;
  readonly breakerOptions: Required<CircuitBreakerOptions> | undefined;
  readonly maxResponseBytes: number;
  readonly clockToleranceSec: number;
  readonly deadlineMs: number;
  readonly clock: Clock;
  readonly logger: RestLogger;
  /** Plain-http upstreams beyond loopback are allowed (spelled out in config). */
  readonly allowInsecureHttp: boolean; /** Sender-constrained tokens pass as bearer (spelled out in config). */
  readonly ignoreCnf: boolean;
}

/**
 * Validates and resolves backend options.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the first bad option.
 */
export function resolveOptions(options: RestTokenBackendOptions): ResolvedOptions {
  const raw: unknown = options;
  if (typeof raw !== 'object' || raw === null) throw invalid('options are required');
  const store: unknown = options.store;
  if (typeof store !== 'object' || store === null) {
    throw invalid('store is required');
  }
  const id = options.id ?? 'rest';
  nonEmptyString(id, 'id');
  const logger = options.logger ?? consoleLogger;
  if (
    !['debug', 'info', 'warn', 'error'].every(
      (m) => typeof (logger as unknown as Record<string, unknown>)[m] === 'function',
    )
  ) {
    throw invalid('logger needs debug, info, warn and error functions');
  }
  const clock = options.clock ?? systemClock;
  if (typeof (clock as { now?: unknown }).now !== 'function') throw invalid('clock needs now()');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw invalid('fetch must be a function');

  const deadlineMs = intIn(options.deadlineMs ?? 2000, 'deadlineMs', 1, MAX_DEADLINE_MS);
  const retry = bool(options.retry ?? true, 'retry');
  const breakerOption = options.circuitBreaker ?? {};
  const breakerOptions =
    breakerOption === false
      ? undefined
      : Object.freeze({
          failureThreshold: intIn(
            breakerOption.failureThreshold ?? DEFAULT_CIRCUIT_BREAKER.failureThreshold,
            'circuitBreaker.failureThreshold',
            1,
            1_000,
          ),
          openMs: intIn(
            breakerOption.openMs ?? DEFAULT_CIRCUIT_BREAKER.openMs,
            'circuitBreaker.openMs',
            1,
            3_600_000,
          ),
        });
  const clockToleranceSec = numberIn(options.clockToleranceSec ?? 5, 'clockToleranceSec', 0, 300);
  const maxResponseBytes = intIn(
    options.maxResponseBytes ?? 1 << 20,
    'maxResponseBytes',
    1024,
    1 << 26,
  );
  const common: Common = {
    fetch: fetchImpl,
    retry,
    breakerOptions,
    maxResponseBytes,
    clockToleranceSec,
    deadlineMs,
    clock,
    logger,
    allowInsecureHttp: bool(options.allowInsecureHttp ?? false, 'allowInsecureHttp'),
    ignoreCnf: bool(options.dangerouslyIgnoreCnf ?? false, 'dangerouslyIgnoreCnf'),
  };

  const mode = options.mode as unknown;
  if (typeof mode !== 'object' || mode === null) throw invalid('mode is required');
  let built: ModeParts;
  switch ((mode as { kind?: unknown }).kind) {
    case 'introspection':
      built = introspectionMode(options.mode as IntrospectionModeOptions, common);
      break;
    case 'jwt':
      built = jwtMode(options.mode as JwtModeOptions, common);
      break;
    case 'rest':
      built = restMode(options.mode as RestApiModeOptions, common);
      break;
    default:
      throw invalid('mode.kind must be "introspection", "rest" or "jwt"');
  }

  const permissions = resolvePermissions(options.permissions ?? {}, common);
  const provisioning = options.provisioning ?? {};
  const update = oneOf(provisioning.update ?? 'always', ['always', 'never'], 'provisioning.update');
  if (provisioning.username !== undefined && typeof provisioning.username !== 'function') {
    throw invalid('provisioning.username must be a function');
  }

  const failOpen = bool(options.dangerouslyFailOpen ?? false, 'dangerouslyFailOpen');
  return Object.freeze({
    id,
    store: options.store,
    issuer: built.issuer,
    verifier: built.verifier,
    acceptsTokens: built.acceptsTokens,
    acceptsPasswords: built.acceptsPasswords,
    breakers: built.breakers,
    deadlineMs,
    cache: resolveCache(options.cache, 'cache', 60_000, 10_000),
    provisioning: Object.freeze({
      create: bool(provisioning.create ?? true, 'provisioning.create'),
      update,
      username: provisioning.username ?? ((p: TokenPrincipal) => p.username ?? p.subject),
    }),
    scopeMap: permissions.scopeMap,
    scopePrefix: permissions.scopePrefix,
    remotePermissions: permissions.remote,
    failOpen,
    clock,
    logger,
    maxCredentialLength: intIn(
      options.maxCredentialLength ?? 8192,
      'maxCredentialLength',
      16,
      1 << 20,
    ),
  });
}

interface ModeParts {
  readonly issuer: string;
  readonly verifier: CredentialVerifier;
  readonly acceptsTokens: boolean;
  readonly acceptsPasswords: boolean;
  readonly breakers: readonly CircuitBreaker[];
}

function introspectionMode(mode: IntrospectionModeOptions, common: Common): ModeParts {
  const issuer = nonEmptyString(mode.issuer, 'mode.issuer');
  if ((mode.audience as unknown) === undefined) {
    throw invalid('mode.audience is required (null turns the audience check off explicitly)');
  }
  const audience = mode.audience === null ? null : stringList(mode.audience, 'mode.audience');
  const endpoint = httpUrl(mode.endpoint, 'mode.endpoint', common);
  const requireIssuer = bool(mode.requireIssuer ?? false, 'mode.requireIssuer');
  const policy: ClaimPolicy = Object.freeze({
    issuer,
    requireIssuer,
    audience,
    allowedClientIds: optionalSet(mode.allowedClientIds, 'mode.allowedClientIds'),
    tokenTypes:
      mode.tokenTypes === undefined
        ? null
        : new Set(stringList(mode.tokenTypes, 'mode.tokenTypes').map((t) => t.toLowerCase())),
    clockToleranceSec: common.clockToleranceSec,
    ignoreCnf: common.ignoreCnf,
  });
  const { verifier, breaker } = introspector(
    endpoint,
    mode.clientAuth,
    mode.tokenTypeHint,
    issuer,
    policy,
    common,
    'mode',
  );
  return {
    issuer,
    verifier,
    acceptsTokens: true,
    acceptsPasswords: false,
    breakers: present(breaker),
  };
}

function introspector(
  endpoint: URL,
  clientAuth: ClientAuthentication,
  tokenTypeHint: string | null | undefined,
  issuer: string,
  policy: ClaimPolicy,
  common: Common,
  where: string,
): { verifier: IntrospectionVerifier; breaker: CircuitBreaker | undefined } {
  const applyClientAuth = clientAuthApplier(clientAuth, issuer, where);
  let fetchImpl = common.fetch;
  let close = (): void => undefined;
  if (clientAuth.method === 'tls_client_auth') {
    if (endpoint.protocol !== 'https:')
      throw invalid(`${where}.endpoint must be https for tls_client_auth`);
    const tlsFetch = createTlsClientFetch(clientAuth.tls);
    fetchImpl = tlsFetch;
    close = () => {
      tlsFetch.close();
    };
  }
  const hint = tokenTypeHint === undefined ? 'access_token' : tokenTypeHint;
  if (hint !== null) nonEmptyString(hint, `${where}.tokenTypeHint`);
  const breaker = makeBreaker(upstreamLabel(endpoint), common);
  const verifier = new IntrospectionVerifier({
    endpoint,
    applyClientAuth,
    tokenTypeHint: hint,
    policy,
    upstream: makeClient(fetchImpl, breaker, common, endpoint),
    clock: common.clock,
    close,
  });
  return { verifier, breaker };
}

function jwtMode(mode: JwtModeOptions, common: Common): ModeParts {
  const issuer = nonEmptyString(mode.issuer, 'mode.issuer');
  if ((mode.audience as unknown) === undefined || (mode.audience as unknown) === null) {
    throw invalid('mode.audience is required (RFC 9068)');
  }
  const audience = stringList(mode.audience, 'mode.audience');
  const algorithms = stringList(mode.algorithms ?? DEFAULT_ALGORITHMS, 'mode.algorithms');
  if (algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
    throw invalid('mode.algorithms must be asymmetric (no "none", no HS*)');
  }
  const typ = mode.typ === undefined ? 'at+jwt' : mode.typ;
  if (typ !== null) nonEmptyString(typ, 'mode.typ');
  if ((mode.jwksUri === undefined) === (mode.jwks === undefined)) {
    throw invalid('mode needs exactly one of jwksUri and jwks');
  }
  let keys: JWTVerifyGetKey;
  let keysLabel: string;
  let breaker: CircuitBreaker | undefined;
  if (mode.jwksUri !== undefined) {
    const url = httpUrl(mode.jwksUri, 'mode.jwksUri', common);
    keysLabel = upstreamLabel(url);
    breaker = makeBreaker(keysLabel, common);
    keys = createRemoteJWKSet(url, {
      timeoutDuration: common.deadlineMs,
      cooldownDuration: intIn(mode.jwksCooldownMs ?? 30_000, 'mode.jwksCooldownMs', 0, 86_400_000),
      cacheMaxAge: intIn(
        mode.jwksCacheMaxAgeMs ?? 600_000,
        'mode.jwksCacheMaxAgeMs',
        1000,
        86_400_000 * 7,
      ),
      [customFetch]: guardedFetch(common.fetch, breaker, common.maxResponseBytes, keysLabel),
    });
  } else {
    const jwks = mode.jwks as unknown;
    if (
      typeof jwks !== 'object' ||
      jwks === null ||
      !Array.isArray((jwks as { keys?: unknown }).keys)
    ) {
      throw invalid('mode.jwks must be a JWK set ({ keys: [...] })');
    }
    keys = createLocalJWKSet(jwks as JSONWebKeySet);
    keysLabel = 'local key set';
  }
  const policy = Object.freeze({
    issuer,
    requireIssuer: true,
    audience,
    allowedClientIds: optionalSet(mode.allowedClientIds, 'mode.allowedClientIds'),
    tokenTypes: null,
    clockToleranceSec: common.clockToleranceSec,
    ignoreCnf: common.ignoreCnf,
  });
  let revocation: IntrospectionVerifier | undefined;
  let revocationBreaker: CircuitBreaker | undefined;
  if (mode.revocation !== undefined) {
    const r = mode.revocation;
    if (typeof (r as unknown) !== 'object' || (r as unknown) === null)
      throw invalid('mode.revocation must be an object');
    // The token's claims were checked locally; the introspection answer only has to say active.
    const revocationPolicy: ClaimPolicy = Object.freeze({
      issuer,
      requireIssuer: false,
      audience: null,
      allowedClientIds: null,
      tokenTypes: null,
      clockToleranceSec: common.clockToleranceSec,
      // The token's own claims were checked (cnf included) before this "still active?" call.
      ignoreCnf: true,
    });
    ({ verifier: revocation, breaker: revocationBreaker } = introspector(
      httpUrl(r.endpoint, 'mode.revocation.endpoint', common),
      r.clientAuth,
      r.tokenTypeHint,
      issuer,
      revocationPolicy,
      common,
      'mode.revocation',
    ));
  }
  const verifier = new JwtVerifier({
    keys,
    keysLabel,
    algorithms: Object.freeze(algorithms),
    typ,
    policy,
    clock: common.clock,
    revocation,
  });
  // A check fails when either upstream does, so both breakers count for health and stats.
  return {
    issuer,
    verifier,
    acceptsTokens: true,
    acceptsPasswords: false,
    breakers: present(breaker, revocationBreaker),
  };
}

function restMode(mode: RestApiModeOptions, common: Common): ModeParts {
  const issuer = nonEmptyString(mode.issuer, 'mode.issuer');
  const requestOption: unknown = mode.request;
  if (typeof requestOption !== 'object' || requestOption === null) {
    throw invalid('mode.request is required');
  }
  const request = mode.request;
  const url = httpUrl(request.url, 'mode.request.url', common);
  const method = oneOf(request.method ?? 'POST', ['GET', 'POST', 'PUT'], 'mode.request.method');
  const bodyFormat = oneOf(
    request.bodyFormat ?? 'json',
    ['json', 'form'],
    'mode.request.bodyFormat',
  );
  const headers = stringRecord(request.headers ?? {}, 'mode.request.headers');
  const extraFields = { ...(request.extraFields ?? {}) };
  for (const [k, v] of Object.entries(extraFields)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) {
      throw invalid(`mode.request.extraFields.${k} must be a string, number or boolean`);
    }
  }
  const token: TokenPlacement | null =
    request.token === undefined ? Object.freeze({ in: 'header' }) : request.token;
  let usesBody = Object.keys(extraFields).length > 0;
  if (token !== null) {
    switch ((token as { in?: unknown }).in) {
      case 'header':
        if (
          token.in === 'header' &&
          token.name !== undefined &&
          !/^[A-Za-z0-9-]+$/.test(token.name)
        ) {
          throw invalid('mode.request.token.name must be a header name');
        }
        break;
      case 'body':
        usesBody = true;
        break;
      case 'query':
        if (token.in === 'query') {
          nonEmptyString(token.param, 'mode.request.token.param');
          if ((token.dangerouslyAllowTokenInQuery as unknown) !== true) {
            throw invalid(
              'mode.request.token: a token in the query string needs dangerouslyAllowTokenInQuery: true (query strings are logged)',
            );
          }
        }
        break;
      default:
        throw invalid('mode.request.token.in must be header, body or query');
    }
  }
  const password = request.password ?? null;
  if (password !== null) {
    if (password.in === 'body') usesBody = true;
    else if ((password.in as unknown) !== 'basic')
      throw invalid('mode.request.password.in must be body or basic');
  }
  if (token === null && password === null) {
    throw invalid('mode.request needs a token placement, a password placement, or both');
  }
  if (usesBody && method === 'GET')
    throw invalid('mode.request: a GET request cannot carry body fields');
  const hooks = mode.hooks ?? {};
  for (const name of ['request', 'response'] as const) {
    if (hooks[name] !== undefined && typeof hooks[name] !== 'function') {
      throw invalid(`mode.hooks.${name} must be a function`);
    }
  }
  if (mode.response === undefined && hooks.response === undefined) {
    throw invalid('mode.response (a mapping) is required unless mode.hooks.response decides');
  }
  const invalidStatuses = new Set(mode.invalidStatuses ?? [401, 403, 404]);
  for (const status of invalidStatuses) {
    if (!Number.isInteger(status) || status < 400 || status > 499) {
      throw invalid('mode.invalidStatuses must be 4xx statuses');
    }
  }
  const breaker = makeBreaker(upstreamLabel(url), common);
  const verifier = new RestApiVerifier({
    issuer,
    url,
    method,
    headers,
    bodyFormat,
    token,
    password,
    extraFields: Object.freeze(extraFields),
    mapping: mode.response === undefined ? undefined : resolveMapping(mode.response),
    invalidStatuses,
    audience: mode.audience === undefined ? null : stringList(mode.audience, 'mode.audience'),
    clockToleranceSec: common.clockToleranceSec,
    hooks,
    upstream: makeClient(common.fetch, breaker, common, url),
    clock: common.clock,
  });
  return {
    issuer,
    verifier,
    acceptsTokens: token !== null,
    acceptsPasswords: password !== null,
    breakers: present(breaker),
  };
}

function resolveMapping(m: NonNullable<RestApiModeOptions['response']>): ResolvedMapping {
  const required = (value: string, name: string): readonly string[] => {
    const segments = parsePath(value);
    if (segments === undefined) throw invalid(`mode.response.${name} is not a dotted path`);
    return segments;
  };
  const path = (value: string | undefined, name: string): readonly string[] | undefined =>
    value === undefined ? undefined : required(value, name);
  const validValue = m.validValue ?? true;
  if (!['string', 'number', 'boolean'].includes(typeof validValue)) {
    throw invalid('mode.response.validValue must be a string, number or boolean');
  }
  const unit = oneOf(
    m.expiresAtUnit ?? 'seconds',
    ['seconds', 'milliseconds'],
    'mode.response.expiresAtUnit',
  );
  if ((m.subject as unknown) === undefined) throw invalid('mode.response.subject is required');
  const subject = required(m.subject, 'subject');
  return Object.freeze({
    valid: required(m.valid ?? 'active', 'valid'),
    validValue,
    subject,
    username: path(m.username, 'username'),
    email: path(m.email, 'email'),
    displayName: path(m.displayName, 'displayName'),
    groups: path(m.groups, 'groups'),
    permissions: path(m.permissions, 'permissions'),
    scope: path(m.scope, 'scope'),
    clientId: path(m.clientId, 'clientId'),
    audience: path(m.audience, 'audience'),
    expiresAt: path(m.expiresAt, 'expiresAt'),
    expiresAtUnit: unit,
    attributes: Object.freeze(
      Object.entries(m.attributes ?? {}).map(([name, p]) =>
        Object.freeze([name, required(p, `attributes.${name}`)] as const),
      ),
    ),
  });
}

function resolvePermissions(
  p: PermissionOptions,
  common: Common,
): {
  scopeMap: ReadonlyMap<string, readonly string[]>;
  scopePrefix: string | undefined;
  remote: RemotePermissions | undefined;
} {
  const scopeMap = new Map<string, readonly string[]>();
  for (const [scope, perms] of Object.entries(p.scopeMap ?? {})) {
    scopeMap.set(scope, Object.freeze(stringList(perms, `permissions.scopeMap.${scope}`)));
  }
  if (p.scopePrefix !== undefined) nonEmptyString(p.scopePrefix, 'permissions.scopePrefix');
  let remote: RemotePermissions | undefined;
  if (p.remote !== undefined) {
    const r = p.remote;
    const url = httpUrl(r.url, 'permissions.remote.url', common);
    if (r.objectId !== undefined && typeof r.objectId !== 'function') {
      throw invalid('permissions.remote.objectId must be a function');
    }
    const field = (
      value: string | undefined,
      fallback: string,
      name: string,
    ): readonly string[] => {
      const segments = parsePath(value ?? fallback);
      if (segments === undefined) throw invalid(`permissions.remote.${name} is not a dotted path`);
      return segments;
    };
    const cache = resolveCache(r.cache, 'permissions.remote.cache', 30_000, 10_000);
    const breaker = makeBreaker(upstreamLabel(url), common);
    remote = new RemotePermissions({
      url,
      headers: stringRecord(r.headers ?? {}, 'permissions.remote.headers'),
      objectId: r.objectId,
      allowed: field(r.allowedField, 'allowed', 'allowedField'),
      denied: field(r.deniedField, 'denied', 'deniedField'),
      ttlMs: cache?.ttlMs ?? 0,
      negativeTtlMs: cache?.negativeTtlMs ?? 0,
      deadlineMs: common.deadlineMs,
      cache:
        cache === undefined
          ? undefined
          : new LruTtlCache<PermissionDecision>(cache.maxEntries, common.clock),
      flights: new SingleFlight<PermissionDecision>(),
      upstream: makeClient(common.fetch, breaker, common, url),
      clock: common.clock,
    });
  }
  return { scopeMap, scopePrefix: p.scopePrefix, remote };
}

function resolveCache(
  cache: CacheOptions | false | undefined,
  where: string,
  ttlDefault: number,
  negativeDefault: number,
): ResolvedCache | undefined {
  if (cache === false) return undefined;
  const c = cache ?? {};
  if (typeof c !== 'object' || (c as unknown) === null)
    throw invalid(`${where} must be an object or false`);
  return Object.freeze({
    ttlMs: intIn(c.ttlMs ?? ttlDefault, `${where}.ttlMs`, 0, 86_400_000),
    negativeTtlMs: intIn(
      c.negativeTtlMs ?? negativeDefault,
      `${where}.negativeTtlMs`,
      0,
      3_600_000,
    ),
    maxEntries: intIn(c.maxEntries ?? 10_000, `${where}.maxEntries`, 1, 10_000_000),
  });
}

function makeBreaker(label: string, common: Common): CircuitBreaker | undefined {
  return common.breakerOptions === undefined
    ? undefined
    : new CircuitBreaker(label, common.breakerOptions, common.clock, common.logger);
}

// The breakers that exist (none when `circuitBreaker: false`).
function present(...breakers: (CircuitBreaker | undefined)[]): readonly CircuitBreaker[] {
  return Object.freeze(breakers.filter((b) => b !== undefined));
}

function makeClient(
  fetchImpl: FetchLike,
  breaker: CircuitBreaker | undefined,
  common: Common,
  url: URL,
): UpstreamClient {
  return new UpstreamClient({
    fetch: fetchImpl,
    label: upstreamLabel(url),
    breaker,
    retry: common.retry,
    maxResponseBytes: common.maxResponseBytes,
    logger: common.logger,
  });
}

// jose fetches the key set itself; this puts the breaker around those fetches.
function guardedFetch(
  fetchImpl: FetchLike,
  breaker: CircuitBreaker | undefined,
  maxBytes: number,
  label: string,
): FetchLike {
  return async (input, init) => {
    const call = breaker?.acquire();
    let response: Response;
    let body: string;
    try {
      response = await fetchImpl(input, init);
      // The key set is capped like every upstream answer, counted as decompressed (jose would read
      // whatever comes, and fetch inflates gzip without limit).
      body = await readBody(response, maxBytes, label);
    } catch (error) {
      call?.failed();
      throw error;
    }
    if (response.status >= 500 || response.status === 429) call?.failed();
    else call?.succeeded();
    const nullBody = response.status === 204 || response.status === 205 || response.status === 304;
    return new Response(nullBody ? null : body, {
      status: response.status,
      headers: response.headers,
    });
  };
}

function invalid(message: string): AuthBridgeError {
  return new AuthBridgeError('CONFIG_INVALID', message);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw invalid(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '')
    throw invalid(`${name} must be a non-empty string`);
  return value;
}

function bool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean`);
  return value;
}

function intIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

function numberIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(`${name} must be a number in ${min}..${max}`);
  }
  return value;
}

function stringList(value: unknown, name: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((v): v is string => typeof v === 'string' && v !== '')
  ) {
    throw invalid(`${name} must be a non-empty string or list of non-empty strings`);
  }
  return [...list];
}

function optionalSet(value: unknown, name: string): ReadonlySet<string> | null {
  return value === undefined ? null : new Set(stringList(value, name));
}

function stringRecord(value: unknown, name: string): Readonly<Record<string, string>> {
  if (typeof value !== 'object' || value === null) throw invalid(`${name} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalid(`${name}.${k} must be a string`);
    out[k.toLowerCase()] = v;
  }
  return Object.freeze(out);
}

function httpUrl(value: unknown, name: string, common: Pick<Common, 'allowInsecureHttp'>): URL {
  let url: URL;
  try {
    url = new URL(value instanceof URL ? value.href : (value as string));
  } catch {
    throw invalid(`${name} must be an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid(`${name} must be http(s)`);
  if (url.username !== '' || url.password !== '')
    throw invalid(`${name} must not embed credentials`);
  // Loopback needs no TLS (a sidecar, a test server); anything else does unless spelled out.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !common.allowInsecureHttp) {
    throw invalid(`${name} must be https (or set allowInsecureHttp: true)`);
  }
  return url;
}
