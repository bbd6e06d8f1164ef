/**
 * Every LDAP filter this package sends is built here, from ldapts's filter classes.
 *
 * Values go into `EqualityFilter` objects and are BER-encoded as raw octets, so no character of a
 * username or DN can ever act as filter syntax: there is no string escaping to forget or to do
 * twice. Only configuration (trusted, written by the operator) is parsed from filter strings, once,
 * when the options are resolved.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import {
  AndFilter,
  EqualityFilter,
  ExtensibleFilter,
  type Filter,
  FilterParser,
  OrFilter,
} from 'ldapts';

/**
 * Parses an operator-written filter (`(objectClass=inetOrgPerson)`), for use as an extra
 * condition. Never call it with user input.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID when the filter does not parse.
 */
export function parseConfigFilter(filter: string, name: string): Filter {
  if (typeof filter !== 'string' || !filter.startsWith('(') || !filter.endsWith(')')) {
    throw new AuthBridgeError('CONFIG_INVALID', `${name} must be a parenthesised LDAP filter`);
  }
  // ldapts's parser tolerates a missing closing parenthesis; we do not. Escaped parentheses are
  // written `\28`/`\29` in filters, so every literal one is structure.
  let depth = 0;
  for (const c of filter) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0)
    throw new AuthBridgeError('CONFIG_INVALID', `${name} has unbalanced parentheses`);
  try {
    return FilterParser.parseString(filter);
  } catch (cause) {
    throw new AuthBridgeError('CONFIG_INVALID', `${name} is not a valid LDAP filter`, { cause });
  }
}

/** `(attribute=value)` with `value` taken literally. */
export function equals(attribute: string, value: string): Filter {
  return new EqualityFilter({ attribute, value });
}

/** `(&(attribute=value)<extra>)`: how a user entry is found by its login name. */
export function userFilter(attribute: string, username: string, extra?: Filter): Filter {
  const match = equals(attribute, username);
  return extra === undefined ? match : new AndFilter({ filters: [match, extra] });
}

/**
 * `(&(|(a1=v1)(a1=v2)(a2=v1)...)<extra>)`: entries whose attribute(s) equal any of the values,
 * e.g. groups whose `member` is the user DN or one of its groups' DNs.
 */
export function anyOf(
  attributes: readonly string[],
  values: readonly string[],
  extra?: Filter,
): Filter {
  const terms = attributes.flatMap((attribute) => values.map((value) => equals(attribute, value)));
  const [only] = terms;
  const match = terms.length === 1 && only !== undefined ? only : new OrFilter({ filters: terms });
  return extra === undefined ? match : new AndFilter({ filters: [match, extra] });
}

/** Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: transitive membership in one query. */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';

/** `(&(attribute:1.2.840.113556.1.4.1941:=dn)<extra>)`: every group `dn` is in, transitively (AD). */
export function inChain(attribute: string, dn: string, extra?: Filter): Filter {
  const match = new ExtensibleFilter({ matchType: attribute, rule: IN_CHAIN_RULE, value: dn });
  return extra === undefined ? match : new AndFilter({ filters: [match, extra] });
}

/**
 * `(&(|(memberUid=uid)(gidNumber=gid))<extra>)`: posixGroups listing the user by login name, or
 * the user's primary group.
 */
export function posixGroups(uid: string, gidNumber: string | undefined, extra?: Filter): Filter {
  const terms = [equals('memberUid', uid)];
  if (gidNumber !== undefined) terms.push(equals('gidNumber', gidNumber));
  const match = new AndFilter({
    filters: [equals('objectClass', 'posixGroup'), new OrFilter({ filters: terms })],
  });
  return extra === undefined ? match : new AndFilter({ filters: [match, extra] });
}
