/**
 * IdP metadata: the IDPSSODescriptor of one entity (from a single EntityDescriptor or an
 * aggregate), its signature checked with xml-crypto against pinned keys when configured, and
 * only the signed bytes read after that.
 *
 * @packageDocumentation
 */
import type { Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { SAML_NS, SAML_URI } from './constants.js';
import { normalizePublicPem } from './keys.js';
import { protocolInvalid } from './protocol-error.js';
import { assertSafeXml } from './raw-message.js';
import {
  attribute,
  children,
  isElement,
  parseInstant,
  parseSignedXml,
  textOf,
} from './signed-dom.js';

/** Endpoints of one service by binding. */
export interface BindingEndpoints {
  readonly redirect: string | undefined;
  readonly post: string | undefined;
}

/** What SP configuration needs from an IdP's metadata. */
export interface IdpMetadata {
  readonly entityId: string;
  readonly sso: BindingEndpoints;
  readonly slo: BindingEndpoints;
  /** The SingleLogoutService ResponseLocation by binding, where it differs from Location. */
  readonly sloResponse: BindingEndpoints;
  /** Keys for checking its signatures (`use="signing"` or no `use`), PEM. */
  readonly signingCerts: readonly string[];
  /** Keys for encrypting to it (`use="encryption"` or no `use`), PEM. */
  readonly encryptionCerts: readonly string[];
  readonly nameIdFormats: readonly string[];
  readonly wantAuthnRequestsSigned: boolean;
  /** Epoch ms after which this metadata must not be used; undefined when unbounded. */
  readonly validUntil: number | undefined;
  /** How long it may be cached (cacheDuration), in ms. */
  readonly cacheDurationMs: number | undefined;
}

/** Options for {@link parseIdpMetadata}. */
export interface ParseIdpMetadataOptions {
  /** The entity to take; required when the document is an aggregate. */
  readonly entityId?: string;
  /** Pinned keys of the metadata signer: when given, a valid signature by one is required. */
  readonly signingCerts?: readonly string[];
  /** Refuse metadata without validUntil (Shibboleth's RequireValidUntil). Default false. */
  readonly requireValidUntil?: boolean;
  /** Now, epoch ms. Default Date.now(). */
  readonly now?: number;
}

const DURATION =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses an xs:duration (cacheDuration) to milliseconds; years and months count as 365 and 30
 * days, which is all a cache lifetime needs.
 */
export function parseDuration(value: string): number {
  const m = DURATION.exec(value);
  if (m === null || value === 'P' || value.endsWith('T'))
    throw protocolInvalid(`bad duration ${value}`);
  const n = (i: number): number => Number(m[i] ?? 0);
  return ((((n(1) * 365 + n(2) * 30 + n(3)) * 24 + n(4)) * 60 + n(5)) * 60 + n(6)) * 1000;
}

function verifySignature(xml: string, root: Element, certs: readonly string[]): string {
  const signatures = children(root, SAML_NS.dsig, 'Signature');
  const [signature] = signatures;
  if (signatures.length !== 1 || signature === undefined) {
    throw protocolInvalid('metadata must carry exactly one signature');
  }
  const id = attribute(root, 'ID');
  for (const cert of certs) {
    const sig = new SignedXml({ publicCert: cert });
    sig.loadSignature(signature);
    const refs = sig.getReferences();
    // One Reference, to the root element itself (an enveloped signature), never elsewhere.
    if (refs.length !== 1 || id === undefined || refs[0]?.uri !== `#${id}`) {
      throw protocolInvalid('metadata signature must reference its root element');
    }
    try {
      if (!sig.checkSignature(xml)) continue;
    } catch {
      continue;
    }
    const signed = sig.getSignedReferences();
    if (signed.length === 1 && signed[0] !== undefined) return signed[0];
  }
  throw protocolInvalid('metadata signature does not verify with a pinned key');
}

function findEntity(root: Element, entityId: string | undefined): Element {
  if (isElement(root, SAML_NS.metadata, 'EntityDescriptor')) {
    if (entityId !== undefined && attribute(root, 'entityID') !== entityId) {
      throw protocolInvalid(
        `metadata is for ${String(attribute(root, 'entityID'))}, not ${entityId}`,
      );
    }
    return root;
  }
  if (!isElement(root, SAML_NS.metadata, 'EntitiesDescriptor'))
    throw protocolInvalid('not SAML metadata');
  if (entityId === undefined)
    throw protocolInvalid('aggregate metadata needs an entityId to select');
  const found: Element[] = [];
  const walk = (group: Element): void => {
    for (const e of children(group, SAML_NS.metadata, 'EntityDescriptor')) {
      if (attribute(e, 'entityID') === entityId) found.push(e);
    }
    for (const nested of children(group, SAML_NS.metadata, 'EntitiesDescriptor')) walk(nested);
  };
  walk(root);
  if (found.length !== 1) {
    throw protocolInvalid(
      `${found.length === 0 ? 'no' : 'duplicate'} EntityDescriptor for ${entityId}`,
    );
  }
  const [entity] = found;
  if (entity === undefined) throw protocolInvalid(`no EntityDescriptor for ${entityId}`);
  return entity;
}

/**
 * Parses IdP metadata. With `signingCerts`, only the XML the signature covered is read.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID for unsigned (when required), wrongly signed,
 *   expired, malformed or ambiguous metadata
 */
export function parseIdpMetadata(xml: string, options: ParseIdpMetadataOptions = {}): IdpMetadata {
  assertSafeXml(Buffer.from(xml, 'utf8'));
  let root = parseSignedXml(xml);
  if (options.signingCerts !== undefined) {
    root = parseSignedXml(verifySignature(xml, root, options.signingCerts));
  }
  const now = options.now ?? Date.now();
  const entity = findEntity(root, options.entityId);
  if (!attribute(entity, 'entityID')) throw protocolInvalid('EntityDescriptor has no entityID');
  // The tightest validUntil and cacheDuration between the document root and the entity.
  let validUntil: number | undefined;
  let cacheDurationMs: number | undefined;
  for (let el: Element | null = entity; el?.nodeType === 1; el = el.parentNode as Element | null) {
    const vu = attribute(el, 'validUntil');
    if (vu !== undefined) {
      const t = parseInstant(vu, 'validUntil');
      validUntil = validUntil === undefined ? t : Math.min(validUntil, t);
    }
    const cd = attribute(el, 'cacheDuration');
    if (cd !== undefined) {
      const d = parseDuration(cd);
      cacheDurationMs = cacheDurationMs === undefined ? d : Math.min(cacheDurationMs, d);
    }
    if (el === root) break;
  }
  if (validUntil !== undefined && validUntil <= now)
    throw protocolInvalid('metadata validUntil has passed');
  if (validUntil === undefined && options.requireValidUntil === true) {
    throw protocolInvalid('metadata has no validUntil');
  }
  const descriptors = children(entity, SAML_NS.metadata, 'IDPSSODescriptor').filter((d) =>
    (attribute(d, 'protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML_NS.protocol),
  );
  const [idp] = descriptors;
  if (descriptors.length !== 1 || idp === undefined) {
    throw protocolInvalid('metadata needs exactly one SAML 2.0 IDPSSODescriptor');
  }
  const signingCerts: string[] = [];
  const encryptionCerts: string[] = [];
  for (const kd of children(idp, SAML_NS.metadata, 'KeyDescriptor')) {
    const use = attribute(kd, 'use');
    const certs = children(kd, SAML_NS.dsig, 'KeyInfo')
      .flatMap((ki) => children(ki, SAML_NS.dsig, 'X509Data'))
      .flatMap((xd) => children(xd, SAML_NS.dsig, 'X509Certificate'))
      .map((c) => normalizePublicPem(textOf(c), 'metadata certificate'));
    // An encryption key must never verify signatures; a key without `use` serves both.
    if (use === undefined || use === 'signing') signingCerts.push(...certs);
    if (use === undefined || use === 'encryption') encryptionCerts.push(...certs);
  }
  if (signingCerts.length === 0) throw protocolInvalid('metadata names no signing key');
  const endpoints = (name: string, location = 'Location'): BindingEndpoints => {
    const list = children(idp, SAML_NS.metadata, name);
    const at = (binding: string): string | undefined =>
      list.find((e) => attribute(e, 'Binding') === binding)?.getAttribute(location) ?? undefined;
    return { redirect: at(SAML_URI.bindingRedirect), post: at(SAML_URI.bindingPost) };
  };
  const sso = endpoints('SingleSignOnService');
  if (sso.redirect === undefined && sso.post === undefined)
    throw protocolInvalid('metadata has no SingleSignOnService');
  const wants = attribute(idp, 'WantAuthnRequestsSigned');
  return Object.freeze({
    entityId: attribute(entity, 'entityID') ?? '',
    sso,
    slo: endpoints('SingleLogoutService'),
    sloResponse: endpoints('SingleLogoutService', 'ResponseLocation'),
    signingCerts: Object.freeze([...new Set(signingCerts)]),
    encryptionCerts: Object.freeze([...new Set(encryptionCerts)]),
    nameIdFormats: Object.freeze(
      children(idp, SAML_NS.metadata, 'NameIDFormat').map((e) => textOf(e).trim()),
    ),
    wantAuthnRequestsSigned: wants === 'true' || wants === '1',
    validUntil,
    cacheDurationMs,
  });
}
