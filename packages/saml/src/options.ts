/**
 * Options of {@link SamlBackend}, validated once into a frozen, fully defaulted object.
 *
 * @packageDocumentation
 */
import {
  AuthBridgeError,
  type Clock,
  isLoopbackHost,
  type KeyValueStore,
  systemClock,
  type UpdatePolicy,
  type UserStore,
} from '@authbridge/core';
import {
  type AttributeMapping,
  type ResolvedAttributeMapping,
  resolveAttributeMapping,
} from './attribute-mapping.js';
import { checkPrivatePem, normalizePublicPem } from './keys.js';
import type { VerifiedAssertion } from './verified-response.js';

/** Which parts of a login response the IdP signs; what we then require. */
export type SigningPolicy = 'both' | 'response' | 'assertion';

/** The service provider: us. */
export interface SamlSpOptions {
  /** Our entityID (also the required Audience). */
  readonly entityId: string;
  /**
   * Our public origin, e.g. `https://app.example.com`: ACS URLs default to
   * `<baseUrl>/saml/<idp id>/acs`. Never derived from a request's Host header.
   */
  readonly baseUrl: string;
  /** PEM private key for signing AuthnRequests and logout messages. Default none. */
  readonly signingKey?: string;
  /** PEM certificates published for signing: the first is current, the rest are rollover. */
  readonly signingCerts?: readonly string[];
  /**
   * Keys for EncryptedAssertion, each with its certificate (published in SP metadata). Every key
   * is tried, so the old one keeps working while IdPs move to the new. Default none.
   */
  readonly decryptionKeys?: readonly {
    readonly privateKey: string;
    readonly certificate: string;
  }[];
}

/** One identity provider. */
export interface SamlIdpOptions {
  /** Registry key, used in URLs: `[a-z0-9][a-z0-9_-]*`. */
  readonly id: string;
  /** The IdP's entityID; response and assertion Issuer must equal it. */
  readonly entityId: string;
  /** SingleSignOnService URL. */
  readonly ssoUrl: string;
  /** SingleLogoutService URL. Default none. */
  readonly sloUrl?: string;
  /**
   * Binding of the IdP's SingleLogoutService at `sloUrl`, for the LogoutRequests and
   * LogoutResponses we send: `redirect` (deflated, query-signed) or `post` (an enveloped
   * signature, sent by a form the browser submits). Default `redirect`.
   */
  readonly sloBinding?: 'redirect' | 'post';
  /**
   * Where our LogoutResponses go, when the IdP takes them elsewhere than its LogoutRequests (the
   * SingleLogoutService's `ResponseLocation` in metadata). Needs `sloUrl`. Default `sloUrl`.
   */
  readonly sloResponseUrl?: string;
  /**
   * Pinned signing certificates (PEM or base64), or a function returning the current set (a
   * metadata source, for rollover). KeyInfo in messages is never trusted.
   */
  readonly signingCerts: readonly string[] | (() => readonly string[]);
  /** What must be signed. Default `both`. */
  readonly signing?: SigningPolicy;
  /** Accept unsolicited (IdP-initiated) responses. Default false. */
  readonly allowIdpInitiated?: boolean;
  /** Our ACS URL for this IdP. Default `<sp.baseUrl>/saml/<id>/acs`. */
  readonly acsUrl?: string;
  /** Our SingleLogoutService URL for this IdP. Default `<sp.baseUrl>/saml/<id>/slo`. */
  readonly spSloUrl?: string;
  /** Shown by an IdP chooser. Default the id. */
  readonly displayName?: string;
  /** E-mail domains whose users this IdP serves (chooser hint). Default none. */
  readonly emailDomains?: readonly string[];
  /** NameIDPolicy Format; null leaves it out. Default persistent. */
  readonly nameIdFormat?: string | null;
  /** RequestedAuthnContext class refs; empty leaves it out. Default none. */
  readonly requestedAuthnContext?: readonly string[];
  /** RequestedAuthnContext Comparison. Default `exact`. */
  readonly authnContextComparison?: 'exact' | 'minimum' | 'maximum' | 'better';
  /** Policy: the returned AuthnContextClassRef must be one of these. Default any. */
  readonly requiredAuthnContext?: readonly string[];
  /** ForceAuthn on every AuthnRequest. Default false. */
  readonly forceAuthn?: boolean;
  /** IsPassive on every AuthnRequest. Default false. */
  readonly isPassive?: boolean;
  /** Binding for AuthnRequests. Default `redirect`. */
  readonly authnRequestBinding?: 'redirect' | 'post';
  /** Sign AuthnRequests (needs `sp.signingKey`). Default: true when the SP has a signing key. */
  readonly signAuthnRequests?: boolean;
  /** Attribute Name whose single value is the subject instead of the NameID. Default NameID. */
  readonly subjectAttribute?: string;
  /** Overrides the backend's attribute mapping for this IdP. */
  readonly attributes?: AttributeMapping;
}

/** A login that passed every check, as the `authorize` hook sees it. */
export interface SamlLoginContext {
  readonly idpId: string;
  readonly assertion: VerifiedAssertion;
}

/** Options for {@link SamlBackend}. */
export interface SamlBackendOptions {
  /** Where linked local users live. */
  readonly users: UserStore;
  /** Replay caches (request, assertion and LogoutRequest IDs); share it between hosts. */
  readonly replayStore: KeyValueStore;
  readonly sp: SamlSpOptions;
  readonly idps: readonly SamlIdpOptions[];
  /** Backend id stored in sessions. Default `saml`. */
  readonly id?: string;
  /** Attribute mapping for every IdP (see {@link SamlIdpOptions.attributes}). Default none. */
  readonly attributes?: AttributeMapping;
  /**
   * Plain `http:` beyond loopback for `sp.baseUrl` and the IdPs' URLs: a password typed at the IdP
   * and an assertion posted back, in clear. Default false; must be written out.
   */
  readonly allowInsecureHttp?: boolean;
  /** Allowed clock difference with IdPs, 0..600000 ms. Default 120000 (2 minutes). */
  readonly clockSkewMs?: number;
  /** Largest decoded message, in bytes. Default 262144 (256 KiB). */
  readonly maxMessageBytes?: number;
  /** How long an AuthnRequest stays answerable. Default 600000 (10 minutes). */
  readonly requestTtlMs?: number;
  /** With ForceAuthn, how old AuthnInstant may be. Default 300000 (5 minutes). */
  readonly maxAuthnAgeMs?: number;
  /** Longest local session, before SessionNotOnOrAfter shortens it. Default 8 hours. */
  readonly maxSessionMs?: number;
  /** Create a user on first login. Default true. */
  readonly create?: boolean;
  /** Rewrite mapped profile fields on each login (`always`) or never. Default `always`. */
  readonly update?: UpdatePolicy;
  /** Policy veto after all checks (djangosaml2's `is_authorized`). Default allow. */
  readonly authorize?: (login: SamlLoginContext) => boolean | Promise<boolean>;
  /** Time source for our checks. node-saml's own checks use the system clock. */
  readonly clock?: Clock;
}

/** A validated IdP. */
export interface ResolvedIdp {
  readonly id: string;
  readonly entityId: string;
  readonly ssoUrl: string;
  readonly sloUrl: string | undefined;
  readonly sloBinding: 'redirect' | 'post';
  /** Where our LogoutResponses go: `sloResponseUrl`, else `sloUrl`. */
  readonly sloResponseUrl: string | undefined;
  readonly signingCerts: () => readonly string[];
  readonly signing: SigningPolicy;
  readonly allowIdpInitiated: boolean;
  readonly acsUrl: string;
  readonly spSloUrl: string;
  readonly displayName: string;
  readonly emailDomains: readonly string[];
  readonly nameIdFormat: string | null;
  readonly requestedAuthnContext: readonly string[];
  readonly authnContextComparison: 'exact' | 'minimum' | 'maximum' | 'better';
  readonly requiredAuthnContext: readonly string[] | undefined;
  readonly forceAuthn: boolean;
  readonly isPassive: boolean;
  readonly authnRequestBinding: 'redirect' | 'post';
  readonly signAuthnRequests: boolean;
  readonly subjectAttribute: string | undefined;
  readonly attributes: ResolvedAttributeMapping;
}

/** Validated {@link SamlBackendOptions}. */
export interface ResolvedSamlOptions {
  readonly id: string;
  readonly users: UserStore;
  readonly replayStore: KeyValueStore;
  readonly sp: {
    readonly entityId: string;
    readonly baseUrl: string;
    readonly signingKey: string | undefined;
    readonly signingCerts: readonly string[];
    readonly decryptionKeys: readonly {
      readonly privateKey: string;
      readonly certificate: string;
    }[];
  };
  readonly idps: ReadonlyMap<string, ResolvedIdp>;
  readonly clockSkewMs: number;
  readonly maxMessageBytes: number;
  readonly requestTtlMs: number;
  readonly maxAuthnAgeMs: number;
  readonly maxSessionMs: number;
  readonly create: boolean;
  readonly update: UpdatePolicy;
  readonly authorize: ((login: SamlLoginContext) => boolean | Promise<boolean>) | undefined;
  readonly clock: Clock;
}

/** The default clock skew: 2 minutes, inside the 60–180 s band IdP deployments need. */
export const DEFAULT_CLOCK_SKEW_MS = 120_000;
const MAX_CLOCK_SKEW_MS = 600_000;
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const IDP_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function invalid(message: string): AuthBridgeError {
  return new AuthBridgeError('CONFIG_INVALID', message);
}

function nonEmpty(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(`${where} must be a non-empty string`);
  return value;
}

function httpUrl(value: unknown, where: string, allowHttp: boolean): string {
  const text = nonEmpty(value, where);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${where} must be an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid(`${where} must be http(s)`);
  if (url.username !== '' || url.password !== '')
    throw invalid(`${where} must not carry credentials`);
  // Loopback needs no TLS (a sidecar, a test IdP); anything else does unless spelled out.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !allowHttp)
    throw invalid(`${where} must be https (or set allowInsecureHttp: true)`);
  return text;
}

function duration(
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  where: string,
): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw invalid(`${where} must be a number of milliseconds in ${min}..${max}`);
  }
  return v;
}

function bool(value: unknown, fallback: boolean, where: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(`${where} must be a boolean`);
  return value;
}

function strings(value: unknown, where: string): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw invalid(`${where} must be a list of non-empty strings`);
  }
  return Object.freeze([...(value as string[])]);
}

function oneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  fallback: T,
  where: string,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw invalid(`${where} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function resolveIdp(
  idp: SamlIdpOptions,
  index: number,
  sp: ResolvedSamlOptions['sp'],
  defaultMapping: ResolvedAttributeMapping,
  allowHttp: boolean,
): ResolvedIdp {
  const where = `idps[${index}]`;
  const raw: unknown = idp;
  if (typeof raw !== 'object' || raw === null) throw invalid(`${where} must be an object`);
  const rawId: unknown = idp.id;
  if (typeof rawId !== 'string' || !IDP_ID.test(rawId)) {
    throw invalid(`${where}.id must match ${IDP_ID.source}`);
  }
  const entityId = nonEmpty(idp.entityId, `${where}.entityId`);
  const source = idp.signingCerts;
  let signingCerts: () => readonly string[];
  if (typeof source === 'function') {
    // A live source (metadata): each call's answer is checked, and an empty set trusts nothing.
    // Normalised once per set the source hands out (a metadata source returns the same array
    // until a refresh), not once per validation.
    let lastSet: readonly string[] | undefined;
    let lastNormalized: readonly string[] = Object.freeze([]);
    signingCerts = () => {
      const current = source();
      if (current !== lastSet) {
        lastNormalized = Object.freeze(
          current.map((c, i) => normalizePublicPem(c, `${where}.signingCerts[${i}]`)),
        );
        lastSet = current;
      }
      return lastNormalized;
    };
  } else {
    const pinned = strings(source, `${where}.signingCerts`).map((c, i) =>
      normalizePublicPem(c, `${where}.signingCerts[${i}]`),
    );
    if (pinned.length === 0)
      throw invalid(`${where}.signingCerts must name at least one certificate`);
    const frozen = Object.freeze(pinned);
    signingCerts = () => frozen;
  }
  const signAuthnRequests = bool(
    idp.signAuthnRequests,
    sp.signingKey !== undefined,
    `${where}.signAuthnRequests`,
  );
  if (signAuthnRequests && sp.signingKey === undefined) {
    throw invalid(`${where}.signAuthnRequests needs sp.signingKey`);
  }
  const nameIdFormat =
    idp.nameIdFormat === null
      ? null
      : idp.nameIdFormat === undefined
        ? PERSISTENT
        : nonEmpty(idp.nameIdFormat, `${where}.nameIdFormat`);
  const required =
    idp.requiredAuthnContext === undefined
      ? undefined
      : strings(idp.requiredAuthnContext, `${where}.requiredAuthnContext`);
  if (required?.length === 0) throw invalid(`${where}.requiredAuthnContext must not be empty`);
  const sloUrl =
    idp.sloUrl === undefined ? undefined : httpUrl(idp.sloUrl, `${where}.sloUrl`, allowHttp);
  if (idp.sloResponseUrl !== undefined && sloUrl === undefined) {
    throw invalid(`${where}.sloResponseUrl needs sloUrl`);
  }
  return Object.freeze({
    id: idp.id,
    entityId,
    ssoUrl: httpUrl(idp.ssoUrl, `${where}.ssoUrl`, allowHttp),
    sloUrl,
    sloBinding: oneOf(
      idp.sloBinding,
      ['redirect', 'post'] as const,
      'redirect',
      `${where}.sloBinding`,
    ),
    sloResponseUrl:
      idp.sloResponseUrl === undefined
        ? sloUrl
        : httpUrl(idp.sloResponseUrl, `${where}.sloResponseUrl`, allowHttp),
    signingCerts,
    signing: oneOf(
      idp.signing,
      ['both', 'response', 'assertion'] as const,
      'both',
      `${where}.signing`,
    ),
    allowIdpInitiated: bool(idp.allowIdpInitiated, false, `${where}.allowIdpInitiated`),
    acsUrl: httpUrl(idp.acsUrl ?? `${sp.baseUrl}/saml/${idp.id}/acs`, `${where}.acsUrl`, allowHttp),
    spSloUrl: httpUrl(
      idp.spSloUrl ?? `${sp.baseUrl}/saml/${idp.id}/slo`,
      `${where}.spSloUrl`,
      allowHttp,
    ),
    displayName:
      idp.displayName === undefined ? idp.id : nonEmpty(idp.displayName, `${where}.displayName`),
    emailDomains: Object.freeze(
      strings(idp.emailDomains, `${where}.emailDomains`).map((d) => d.toLowerCase()),
    ),
    nameIdFormat,
    requestedAuthnContext: strings(idp.requestedAuthnContext, `${where}.requestedAuthnContext`),
    authnContextComparison: oneOf(
      idp.authnContextComparison,
      ['exact', 'minimum', 'maximum', 'better'] as const,
      'exact',
      `${where}.authnContextComparison`,
    ),
    requiredAuthnContext: required,
    forceAuthn: bool(idp.forceAuthn, false, `${where}.forceAuthn`),
    isPassive: bool(idp.isPassive, false, `${where}.isPassive`),
    authnRequestBinding: oneOf(
      idp.authnRequestBinding,
      ['redirect', 'post'] as const,
      'redirect',
      `${where}.authnRequestBinding`,
    ),
    signAuthnRequests,
    subjectAttribute:
      idp.subjectAttribute === undefined
        ? undefined
        : nonEmpty(idp.subjectAttribute, `${where}.subjectAttribute`),
    attributes:
      idp.attributes === undefined
        ? defaultMapping
        : resolveAttributeMapping(idp.attributes, `${where}.attributes`),
  });
}

/**
 * Validates options once; every default is applied here.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID naming the first bad option
 */
export function resolveSamlOptions(options: SamlBackendOptions): ResolvedSamlOptions {
  // Checked at runtime: options often come from parsed configuration, not typed code.
  const raw = options as unknown as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null) throw invalid('SamlBackend needs options');
  const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null;
  if (!isObject(raw['users'])) throw invalid('users (a UserStore) is required');
  if (!isObject(raw['replayStore'])) {
    throw invalid('replayStore (a KeyValueStore) is required: replay protection is not optional');
  }
  if (!isObject(raw['sp'])) throw invalid('sp is required');
  const allowHttp = bool(options.allowInsecureHttp, false, 'allowInsecureHttp');
  const baseUrl = httpUrl(options.sp.baseUrl, 'sp.baseUrl', allowHttp);
  if (new URL(baseUrl).pathname !== '/' || baseUrl.endsWith('/')) {
    throw invalid('sp.baseUrl must be an origin without a path or trailing slash');
  }
  const signingKey =
    options.sp.signingKey === undefined
      ? undefined
      : checkPrivatePem(options.sp.signingKey, 'sp.signingKey');
  const signingCerts = strings(options.sp.signingCerts, 'sp.signingCerts').map((c, i) =>
    normalizePublicPem(c, `sp.signingCerts[${i}]`),
  );
  if (signingKey !== undefined && signingCerts.length === 0) {
    throw invalid('sp.signingCerts must hold the certificate of sp.signingKey');
  }
  const rawKeys: unknown = options.sp.decryptionKeys ?? [];
  if (!Array.isArray(rawKeys)) throw invalid('sp.decryptionKeys must be a list');
  const decryptionKeys = (rawKeys as { privateKey?: unknown; certificate?: unknown }[]).map(
    (k, i) =>
      Object.freeze({
        privateKey: checkPrivatePem(k.privateKey, `sp.decryptionKeys[${i}].privateKey`),
        certificate: normalizePublicPem(k.certificate, `sp.decryptionKeys[${i}].certificate`),
      }),
  );
  const sp = Object.freeze({
    entityId: nonEmpty(options.sp.entityId, 'sp.entityId'),
    baseUrl,
    signingKey,
    signingCerts: Object.freeze(signingCerts),
    decryptionKeys: Object.freeze(decryptionKeys),
  });
  const rawIdps: unknown = raw['idps'];
  if (!Array.isArray(rawIdps) || rawIdps.length === 0)
    throw invalid('idps must list at least one IdP');
  // Checked even when every IdP has its own: an IdP added later without one would take it.
  const defaultMapping = resolveAttributeMapping(options.attributes);
  const idps = new Map<string, ResolvedIdp>();
  const acsUrls = new Set<string>();
  options.idps.forEach((idp, i) => {
    const resolved = resolveIdp(idp, i, sp, defaultMapping, allowHttp);
    if (idps.has(resolved.id)) throw invalid(`idps[${i}].id ${resolved.id} is not unique`);
    // One ACS URL per IdP binds each response to the IdP it came through.
    if (acsUrls.has(resolved.acsUrl)) throw invalid(`idps[${i}].acsUrl is shared with another IdP`);
    idps.set(resolved.id, resolved);
    acsUrls.add(resolved.acsUrl);
  });
  const id = options.id ?? 'saml';
  if (typeof id !== 'string' || id === '') throw invalid('id must be a non-empty string');
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw invalid('authorize must be a function');
  }
  const clockSkew: unknown = options.clockSkewMs;
  if (typeof clockSkew === 'number' && clockSkew < 0) {
    // node-saml reads -1 as "skip every time check"; we never do.
    throw invalid('clockSkewMs must not be negative');
  }
  return Object.freeze({
    id,
    users: options.users,
    replayStore: options.replayStore,
    sp,
    idps,
    clockSkewMs: duration(
      options.clockSkewMs,
      DEFAULT_CLOCK_SKEW_MS,
      0,
      MAX_CLOCK_SKEW_MS,
      'clockSkewMs',
    ),
    maxMessageBytes: duration(
      options.maxMessageBytes,
      256 * 1024,
      1024,
      16 * 1024 * 1024,
      'maxMessageBytes',
    ),
    requestTtlMs: duration(options.requestTtlMs, 600_000, 1000, 3_600_000, 'requestTtlMs'),
    maxAuthnAgeMs: duration(options.maxAuthnAgeMs, 300_000, 1000, 86_400_000, 'maxAuthnAgeMs'),
    maxSessionMs: duration(
      options.maxSessionMs,
      8 * 3_600_000,
      60_000,
      30 * 86_400_000,
      'maxSessionMs',
    ),
    create: bool(options.create, true, 'create'),
    update: oneOf(options.update, ['always', 'never'] as const, 'always', 'update'),
    authorize: options.authorize,
    clock: options.clock ?? systemClock,
  });
}
