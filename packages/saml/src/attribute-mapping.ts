/**
 * Attribute mapping: from the assertion's attributes (by Name, with FriendlyName aliases) to the
 * profile fields of a local user, with declared cardinality. The result lives in null-prototype
 * objects built only from configured keys, so an attribute called `__proto__` or `constructor`
 * is just an unmapped attribute.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { protocolInvalid } from './protocol-error.js';
import type { SamlAttribute } from './verified-response.js';

/** How one profile field is read from the assertion. */
export interface AttributeRule {
  /** The attribute's Name (a URI or `urn:oid:` OID). */
  readonly name: string;
  /** FriendlyNames accepted when no attribute has `name` (e.g. `mail`). Default none. */
  readonly friendlyNames?: readonly string[];
  /** `single` refuses several values; `multiple` gives a list. Default `single` (`multiple` for groups). */
  readonly cardinality?: 'single' | 'multiple';
  /** Refuse the login when the attribute is absent. Default false. */
  readonly required?: boolean;
}

/**
 * Which attributes fill which profile fields. Fields without a rule are left alone. With a rule,
 * each login says what the field is now: `groups` becomes the attribute's values, and an empty
 * list when the attribute is absent or has no values (a group removed at the IdP must stop
 * granting its permissions here). `email` and `displayName` are cleared by an attribute sent with
 * no values (or only `xsi:nil` ones) and kept when the attribute is absent (IdPs often leave out
 * attributes they were not asked for).
 */
export interface AttributeMapping {
  /** Default: the NameID. */
  readonly username?: AttributeRule;
  readonly email?: AttributeRule;
  readonly displayName?: AttributeRule;
  /** Always a list. */
  readonly groups?: AttributeRule;
  /** Further attributes kept in the user's `attributes`, by key. Reserved keys are refused. */
  readonly extra?: Readonly<Record<string, AttributeRule>>;
}

/** A validated {@link AttributeMapping}. */
export interface ResolvedAttributeMapping {
  readonly username: ResolvedRule | undefined;
  readonly email: ResolvedRule | undefined;
  readonly displayName: ResolvedRule | undefined;
  readonly groups: ResolvedRule | undefined;
  readonly extra: ReadonlyMap<string, ResolvedRule>;
}

/** A validated {@link AttributeRule}. */
export interface ResolvedRule {
  readonly name: string;
  readonly friendlyNames: readonly string[];
  readonly cardinality: 'single' | 'multiple';
  readonly required: boolean;
}

/**
 * What the mapping produced; null-prototype records only. `undefined`: no rule, or (email,
 * displayName) the attribute was absent, so the stored value stays; `null`: the attribute was
 * sent without a value, so the stored value is cleared.
 */
export interface MappedAttributes {
  readonly username: string | undefined;
  readonly email: string | null | undefined;
  readonly displayName: string | null | undefined;
  /** The user's groups now, when a rule is configured (empty when the IdP sent none). */
  readonly groups: readonly string[] | undefined;
  readonly extra: Readonly<Record<string, string | readonly string[]>>;
}

/**
 * Keys `extra` may not use: prototype machinery, the profile's own fields, and the names node-saml
 * puts on its profile object (so a mapping ported from passport-saml cannot shadow them).
 */
export const RESERVED_ATTRIBUTE_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toString',
  'toLocaleString',
  'valueOf',
  'id',
  'username',
  'email',
  'displayName',
  'isActive',
  'isStaff',
  'isSuperuser',
  'groups',
  'permissions',
  'attributes',
  'sessionVersion',
  'backendId',
  'issuer',
  'nameID',
  'nameIDFormat',
  'nameQualifier',
  'spNameQualifier',
  'sessionIndex',
  'inResponseTo',
  'getAssertionXml',
  'getAssertion',
  'getSamlResponseXml',
]);

const EXTRA_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

function configInvalid(message: string): AuthBridgeError {
  return new AuthBridgeError('CONFIG_INVALID', message);
}

function resolveRule(
  rule: AttributeRule | undefined,
  where: string,
  fixed?: 'single' | 'multiple',
): ResolvedRule | undefined {
  if (rule === undefined) return undefined;
  // Checked at runtime: mappings usually come from parsed configuration, not typed code.
  const raw = rule as unknown as Record<string, unknown> | null;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    typeof raw['name'] !== 'string' ||
    raw['name'] === ''
  ) {
    throw configInvalid(`${where}.name must be a non-empty string`);
  }
  const friendlyNames: unknown = raw['friendlyNames'] ?? [];
  if (
    !Array.isArray(friendlyNames) ||
    !friendlyNames.every((n) => typeof n === 'string' && n !== '')
  ) {
    throw configInvalid(`${where}.friendlyNames must be a list of non-empty strings`);
  }
  const cardinality: unknown = raw['cardinality'] ?? fixed ?? 'single';
  if (cardinality !== 'single' && cardinality !== 'multiple') {
    throw configInvalid(`${where}.cardinality must be single or multiple`);
  }
  if (fixed !== undefined && cardinality !== fixed)
    throw configInvalid(`${where} is always ${fixed}`);
  const required: unknown = raw['required'] ?? false;
  if (typeof required !== 'boolean') throw configInvalid(`${where}.required must be a boolean`);
  return Object.freeze({
    name: raw['name'],
    friendlyNames: Object.freeze([...(friendlyNames as string[])]),
    cardinality,
    required,
  });
}

/**
 * Validates a mapping once, at construction.
 *
 * @param where - the option's name in errors (`attributes`, `idps[1].attributes`).
 * @throws {AuthBridgeError} CONFIG_INVALID for a malformed rule or a reserved `extra` key
 */
export function resolveAttributeMapping(
  mapping: AttributeMapping = {},
  where = 'attributes',
): ResolvedAttributeMapping {
  const raw: unknown = mapping;
  if (typeof raw !== 'object' || raw === null) throw configInvalid(`${where} must be an object`);
  const extra = new Map<string, ResolvedRule>();
  // Own keys only, including one spelled `__proto__` by JSON.parse: it must be refused, not lost.
  for (const [key, rule] of Object.entries(mapping.extra ?? {})) {
    if (RESERVED_ATTRIBUTE_KEYS.has(key) || !EXTRA_KEY.test(key)) {
      throw configInvalid(`${where}.extra key ${JSON.stringify(key)} is reserved or malformed`);
    }
    const resolved = resolveRule(rule, `${where}.extra.${key}`);
    if (resolved !== undefined) extra.set(key, resolved);
  }
  return Object.freeze({
    username: resolveRule(mapping.username, `${where}.username`, 'single'),
    email: resolveRule(mapping.email, `${where}.email`, 'single'),
    displayName: resolveRule(mapping.displayName, `${where}.displayName`, 'single'),
    groups: resolveRule(mapping.groups, `${where}.groups`, 'multiple'),
    extra,
  });
}

function find(
  attributes: ReadonlyMap<string, SamlAttribute>,
  rule: ResolvedRule,
): SamlAttribute | undefined {
  const byName = attributes.get(rule.name);
  if (byName !== undefined) return byName;
  if (rule.friendlyNames.length === 0) return undefined;
  const matches = [...attributes.values()].filter(
    (a) => a.friendlyName !== undefined && rule.friendlyNames.includes(a.friendlyName),
  );
  if (matches.length > 1) throw protocolInvalid(`several attributes match ${rule.name}`);
  return matches[0];
}

/**
 * The value of `rule`'s attribute: `undefined` when there is no rule or no such attribute, `null`
 * when the attribute is there without a value (none, or only `xsi:nil` ones).
 */
function read(
  attributes: ReadonlyMap<string, SamlAttribute>,
  rule: ResolvedRule | undefined,
): string | string[] | null | undefined {
  if (rule === undefined) return undefined;
  const found = find(attributes, rule);
  if (found?.complex === true) throw protocolInvalid(`attribute ${rule.name} is not text`);
  if (found === undefined || found.values.length === 0) {
    if (rule.required) throw protocolInvalid(`required attribute ${rule.name} missing`);
    return found === undefined ? undefined : null;
  }
  if (rule.cardinality === 'single') {
    if (found.values.length > 1) throw protocolInvalid(`attribute ${rule.name} has several values`);
    return found.values[0];
  }
  return [...found.values];
}

/**
 * The "clean attributes" step: reads each configured field from the assertion's attributes.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID for a missing required attribute, a cardinality
 *   violation, non-text content or an ambiguous FriendlyName
 */
export function mapAttributes(
  attributes: ReadonlyMap<string, SamlAttribute>,
  mapping: ResolvedAttributeMapping,
): MappedAttributes {
  const extra = Object.create(null) as Record<string, string | readonly string[]>;
  for (const [key, rule] of mapping.extra) {
    const value = read(attributes, rule);
    // `attributes` is rewritten whole on each login: an extra left out here is removed.
    if (typeof value === 'string') extra[key] = value;
    else if (Array.isArray(value)) extra[key] = Object.freeze(value);
  }
  const single = (rule: ResolvedRule | undefined): string | null | undefined => {
    const v = read(attributes, rule);
    return Array.isArray(v) ? undefined : v;
  };
  const groups = read(attributes, mapping.groups);
  const out = Object.create(null) as Record<string, unknown>;
  out['username'] = single(mapping.username) ?? undefined;
  out['email'] = single(mapping.email);
  out['displayName'] = single(mapping.displayName);
  // With a groups rule, the assertion is the whole truth: no attribute (or no value) is no
  // groups. Keeping the old list would keep permissions the IdP has taken away.
  out['groups'] =
    mapping.groups === undefined
      ? undefined
      : Object.freeze(Array.isArray(groups) ? groups : typeof groups === 'string' ? [groups] : []);
  out['extra'] = Object.freeze(extra);
  return Object.freeze(out) as unknown as MappedAttributes;
}
