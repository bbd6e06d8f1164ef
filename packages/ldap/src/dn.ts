/**
 * RFC 4514 distinguished names: parse, normalise, compare and escape.
 *
 * ldapts only builds DNs and compares them byte for byte; every DN comparison in this package
 * (memberOf values, group members, nested groups) goes through {@link normalizeDn} instead, so
 * `CN=Smith\2C John`, `cn=smith\, john` and `cn = Smith\, John` are the same entry.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';

/** One `type=value` pair of an RDN. */
export interface AttributeTypeAndValue {
  /** The attribute type, lower-cased (`cn`, `uid`, or a dotted OID). */
  readonly type: string;
  /** The decoded value (escapes resolved); for `#hex` values, the `#hex` text lower-cased. */
  readonly value: string;
  /**
   * Set for a value written `#hex` (an unescaped leading `#`, RFC 4514 §2.4): BER bytes, compared
   * as written. A text value starting with an escaped `\#` is text, and `hex` is absent.
   */
  readonly hex?: boolean;
}

/** A relative distinguished name: one or more (multi-valued, `+`) type/value pairs. */
export type Rdn = readonly AttributeTypeAndValue[];

// Well-known OIDs written as types (RFC 4514 §3 lets servers return either form).
const OID_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'cn',
  '2.5.4.6': 'c',
  '2.5.4.7': 'l',
  '2.5.4.8': 'st',
  '2.5.4.9': 'street',
  '2.5.4.10': 'o',
  '2.5.4.11': 'ou',
  '0.9.2342.19200300.100.1.1': 'uid',
  '0.9.2342.19200300.100.1.25': 'dc',
};

function invalid(dn: string, why: string): AuthBridgeError {
  // The DN itself goes to `detail` only: it may come from a login form.
  return new AuthBridgeError('INVALID_REQUEST', 'invalid distinguished name', {
    detail: `${why}: ${JSON.stringify(dn.slice(0, 200))}`,
  });
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

/**
 * Parses an RFC 4514 DN string into RDNs, most specific first. The empty string is the root DN
 * (no RDNs). Hex escapes (`\2C`) are decoded as UTF-8 bytes, `\,` style escapes as the character.
 *
 * @throws {AuthBridgeError} INVALID_REQUEST for malformed input.
 */
export function parseDn(dn: string): Rdn[] {
  if (typeof dn !== 'string') throw invalid(String(dn), 'not a string');
  const rdns: Rdn[] = [];
  if (dn.trim() === '') return rdns;
  let i = 0;
  let current: AttributeTypeAndValue[] = [];
  const n = dn.length;
  for (;;) {
    // attribute type
    while (dn[i] === ' ') i++;
    const typeStart = i;
    while (i < n && dn[i] !== '=' && dn[i] !== ' ') i++;
    const rawType = dn.slice(typeStart, i);
    while (dn[i] === ' ') i++;
    if (dn[i] !== '=') throw invalid(dn, 'missing "="');
    i++;
    if (!/^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)$/.test(rawType)) {
      throw invalid(dn, 'bad attribute type');
    }
    const lowered = rawType.toLowerCase().replace(/^oid\./, '');
    const type = OID_NAMES[lowered] ?? lowered;
    while (dn[i] === ' ') i++;
    let value: string;
    const hex = dn[i] === '#';
    if (hex) {
      const start = i;
      i++;
      while (isHex(dn[i])) i++;
      if ((i - start - 1) % 2 !== 0 || i - start === 1) throw invalid(dn, 'bad #hex value');
      value = dn.slice(start, i).toLowerCase();
      while (dn[i] === ' ') i++;
    } else {
      const bytes: number[] = [];
      // Index in `bytes` after the last byte that is not unescaped trailing space.
      let significantEnd = 0;
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const c = dn.charAt(i);
        if (c === '\\') {
          const next = dn[i + 1];
          if (isHex(next) && isHex(dn[i + 2])) {
            bytes.push(parseInt(dn.slice(i + 1, i + 3), 16));
            i += 3;
          } else if (next !== undefined && ' "#+,;<=>\\'.includes(next)) {
            bytes.push(next.charCodeAt(0));
            i += 2;
          } else {
            throw invalid(dn, 'bad escape');
          }
          significantEnd = bytes.length;
          continue;
        }
        if (c === '"' || c === '<' || c === '>' || c === '\0') {
          throw invalid(dn, 'unescaped special character');
        }
        // Whole code points, so astral characters (two UTF-16 units) stay intact.
        const ch = String.fromCodePoint(dn.codePointAt(i) ?? 0);
        for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
        i += ch.length;
        if (ch !== ' ') significantEnd = bytes.length;
      }
      const decoded = Buffer.from(bytes.slice(0, significantEnd));
      try {
        value = new TextDecoder('utf-8', { fatal: true }).decode(decoded);
      } catch {
        throw invalid(dn, 'hex escapes are not UTF-8');
      }
    }
    current.push(hex ? { type, value, hex } : { type, value });
    if (i >= n) {
      rdns.push(current);
      return rdns;
    }
    const sep = dn[i];
    i++;
    if (sep === '+') continue;
    rdns.push(current);
    current = [];
    if (i >= n) throw invalid(dn, 'trailing separator');
  }
}

/** RFC 4514 §2.4 escaping of one attribute value, for building DNs from untrusted input. */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '\0') out += '\\00';
    else if ('"+,;<>\\='.includes(c)) out += `\\${c}`;
    else if ((c === ' ' || c === '#') && i === 0) out += `\\${c}`;
    else if (c === ' ' && i === value.length - 1) out += '\\ ';
    else out += c;
  }
  return out;
}

function normalizeValue(ava: AttributeTypeAndValue): string {
  // Hex is BER, lower-cased when parsed and compared as written; only text is case-folded.
  if (ava.hex === true) return ava.value;
  // caseIgnoreMatch with insignificant-space handling: what cn, uid, ou, dc... use.
  return ava.value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Serialises RDNs back to an RFC 4514 string, in the given (case-preserving) form. */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns
    .map((rdn) =>
      rdn
        .map((ava) =>
          // A text value's leading # is escaped (`\#`), so it cannot be read back as hex.
          ava.hex === true ? `${ava.type}=${ava.value}` : `${ava.type}=${escapeDnValue(ava.value)}`,
        )
        .join('+'),
    )
    .join(',');
}

/**
 * The canonical form of a DN: types lower-cased (OIDs mapped to names), values case-folded with
 * spaces collapsed, multi-valued RDNs sorted, re-escaped minimally. Two DNs name the same entry
 * (under caseIgnore matching, which every naming attribute of the supported directories uses)
 * exactly when their canonical forms are equal.
 *
 * @throws {AuthBridgeError} INVALID_REQUEST for malformed input.
 */
export function normalizeDn(dn: string): string {
  return formatDn(parseDn(dn).map(canonicalRdn));
}

/** Like {@link normalizeDn}, but `undefined` instead of throwing for a malformed DN. */
export function tryNormalizeDn(dn: string): string | undefined {
  try {
    return normalizeDn(dn);
  } catch {
    return undefined;
  }
}

/** Whether two DNs name the same entry (see {@link normalizeDn}); false when either is malformed. */
export function dnEquals(a: string, b: string): boolean {
  const na = tryNormalizeDn(a);
  return na !== undefined && na === tryNormalizeDn(b);
}

/** Whether `dn` is `base` or lies below it. */
export function isDnWithin(dn: string, base: string): boolean {
  const child = parseDn(dn);
  const parent = parseDn(base);
  if (parent.length > child.length) return false;
  const tail = child.slice(child.length - parent.length);
  return formatDn(tail.map(canonicalRdn)) === formatDn(parent.map(canonicalRdn));
}

function canonicalRdn(rdn: Rdn): Rdn {
  return rdn
    .map((ava) => ({ ...ava, value: normalizeValue(ava) }))
    .sort((a, b) => (a.type === b.type ? (a.value < b.value ? -1 : 1) : a.type < b.type ? -1 : 1));
}

/** The value of the first (most specific) RDN's first attribute: `Admins` for `cn=Admins,ou=groups`. */
export function firstRdnValue(dn: string): string {
  const first = parseDn(dn)[0]?.[0];
  if (first === undefined) throw invalid(dn, 'root DN has no RDN');
  return first.value;
}
