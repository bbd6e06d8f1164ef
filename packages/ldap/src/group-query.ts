/**
 * Boolean queries over group membership (django-auth-ldap's `LDAPGroupQuery`): a group DN, or
 * `and` / `or` / `not` of queries, evaluated against the user's resolved groups.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import { tryNormalizeDn } from './dn.js';

/**
 * A membership query: a group DN (the user is a member, directly or through nesting when nested
 * resolution is on), or a combination.
 *
 * @example
 * ```ts
 * const query: GroupQuery = { and: ['cn=staff,ou=groups,dc=example,dc=org', { not: 'cn=contractors,ou=groups,dc=example,dc=org' }] };
 * ```
 */
export type GroupQuery =
  | string
  | { readonly and: readonly GroupQuery[] }
  | { readonly or: readonly GroupQuery[] }
  | { readonly not: GroupQuery };

/** A query with every DN normalised, ready to evaluate. */
export type CompiledGroupQuery =
  | { readonly kind: 'dn'; readonly dn: string }
  | { readonly kind: 'and' | 'or'; readonly terms: readonly CompiledGroupQuery[] }
  | { readonly kind: 'not'; readonly term: CompiledGroupQuery };

/**
 * Validates a query and normalises its DNs.
 *
 * @throws {AuthBridgeError} CONFIG_INVALID for a malformed query or DN.
 */
export function compileGroupQuery(query: GroupQuery, name: string): CompiledGroupQuery {
  if (typeof query === 'string') {
    const dn = tryNormalizeDn(query);
    if (dn === undefined || dn === '') {
      throw new AuthBridgeError('CONFIG_INVALID', `${name}: not a valid group DN`);
    }
    return Object.freeze({ kind: 'dn', dn });
  }
  if (typeof query !== 'object' || (query as unknown) === null) {
    throw new AuthBridgeError('CONFIG_INVALID', `${name}: a group query is a DN or and/or/not`);
  }
  const keys = Object.keys(query);
  if (keys.length !== 1) {
    throw new AuthBridgeError('CONFIG_INVALID', `${name}: use exactly one of and/or/not`);
  }
  if ('not' in query) {
    return Object.freeze({ kind: 'not', term: compileGroupQuery(query.not, `${name}.not`) });
  }
  const kind = 'and' in query ? 'and' : 'or';
  const list: unknown = 'and' in query ? query.and : (query as { or: unknown }).or;
  if (!Array.isArray(list) || list.length === 0) {
    throw new AuthBridgeError('CONFIG_INVALID', `${name}.${kind} must be a non-empty list`);
  }
  return Object.freeze({
    kind,
    terms: Object.freeze(
      (list as GroupQuery[]).map((q, i) => compileGroupQuery(q, `${name}.${kind}[${i}]`)),
    ),
  });
}

/** Evaluates a compiled query against a set of normalised group DNs. */
export function evaluateGroupQuery(
  query: CompiledGroupQuery,
  groupDns: ReadonlySet<string>,
): boolean {
  switch (query.kind) {
    case 'dn':
      return groupDns.has(query.dn);
    case 'and':
      return query.terms.every((t) => evaluateGroupQuery(t, groupDns));
    case 'or':
      return query.terms.some((t) => evaluateGroupQuery(t, groupDns));
    case 'not':
      return !evaluateGroupQuery(query.term, groupDns);
  }
}
