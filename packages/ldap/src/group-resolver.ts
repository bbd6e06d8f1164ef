/**
 * Finds a user's groups with the configured strategies, and their parents when nesting is on.
 *
 * Fail closed: any error while looking groups up propagates and fails the login. A partial group
 * list is never returned, because a missing group can be a missing deny-group.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '@authbridge/core';
import type { Filter } from 'ldapts';
import { tryNormalizeDn } from './dn.js';
import { anyOf, inChain, posixGroups } from './filters.js';
import type { ResolvedGroups } from './ldap-backend-options.js';

/** Runs one search and returns the DNs found (the caller supplies connection and deadline). */
export type GroupSearch = (base: string, filter: Filter) => Promise<readonly string[]>;

/** What the resolver needs to know about the user. */
export interface GroupSubject {
  readonly dn: string;
  /** The login name as stored in the entry (for posix `memberUid`). */
  readonly uid: string;
  readonly gidNumber: string | undefined;
  readonly memberOf: readonly string[];
}

// Values per OR filter when walking up nested groups: keeps each filter a sane size.
const NEST_BATCH = 50;

function add(groups: Map<string, string>, dn: string): boolean {
  const key = tryNormalizeDn(dn);
  if (key === undefined) {
    // A DN we cannot parse is a directory problem; dropping it could drop a deny-group.
    throw new AuthBridgeError('BACKEND_UNAVAILABLE', undefined, {
      detail: 'malformed group DN from the directory',
    });
  }
  if (groups.has(key)) return false;
  groups.set(key, dn);
  return true;
}

/**
 * Resolves the user's groups: normalised DN → DN as the directory spells it.
 *
 * @throws whatever `search` throws; never returns a partial result.
 */
export async function resolveGroups(
  config: ResolvedGroups,
  subject: GroupSubject,
  search: GroupSearch,
): Promise<Map<string, string>> {
  const groups = new Map<string, string>();
  const searchAll = async (filter: Filter): Promise<string[]> => {
    const results = await Promise.all(config.bases.map((base) => search(base, filter)));
    return results.flat();
  };
  const s = config.strategies;
  if (s.has('memberOf')) for (const dn of subject.memberOf) add(groups, dn);
  const memberAttrs = (['member', 'uniqueMember'] as const).filter((a) => s.has(a));
  const direct: Promise<string[]>[] = [];
  if (memberAttrs.length > 0)
    direct.push(searchAll(anyOf(memberAttrs, [subject.dn], config.filter)));
  // posixGroup is usually not covered by the groupOfNames-style filter: only the object class.
  if (s.has('posix')) direct.push(searchAll(posixGroups(subject.uid, subject.gidNumber)));
  if (s.has('inChain')) direct.push(searchAll(inChain('member', subject.dn, config.filter)));
  for (const dns of await Promise.all(direct)) for (const dn of dns) add(groups, dn);

  if (config.nested) {
    const nestAttrs = memberAttrs.length > 0 ? memberAttrs : (['member'] as const);
    let frontier = [...groups.values()];
    // Iterative, bottom-up: each level asks for groups containing any group of the last level.
    // `add` refuses DNs already seen, so cycles end; `maxDepth` bounds pathological trees.
    for (let depth = 0; depth < config.maxDepth && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (let i = 0; i < frontier.length; i += NEST_BATCH) {
        const batch = frontier.slice(i, i + NEST_BATCH);
        for (const dn of await searchAll(anyOf(nestAttrs, batch, config.filter))) {
          if (add(groups, dn)) next.push(dn);
        }
      }
      frontier = next;
    }
  }
  return groups;
}
