/**
 * Directory presets: the attribute names, account-state filters and group strategy each common
 * directory needs, so a configuration only states what is specific to the site.
 *
 * @packageDocumentation
 */
import type { GroupStrategy } from './ldap-backend-options.js';

/** The names of the built-in presets. */
export type LdapPresetName = 'openldap' | 'activedirectory' | 'freeipa' | '389ds';

/** What a preset fills in; explicit options always win. */
export interface LdapPreset {
  /** Attribute matched against the login name. */
  readonly usernameAttribute: string;
  /** Attribute holding the stable, rename-proof id. */
  readonly idAttribute: string;
  /** Whether the id attribute is binary (AD objectGUID) and must be formatted as a GUID. */
  readonly idFormat: 'string' | 'guid';
  readonly emailAttribute: string;
  readonly displayNameAttribute: string;
  /** Extra condition on user entries: object class and account state (disabled, locked). */
  readonly userFilter: string;
  readonly groupStrategies: readonly GroupStrategy[];
  /** Extra condition on group entries. */
  readonly groupFilter: string;
}

/** The built-in presets. */
export const LDAP_PRESETS: Readonly<Record<LdapPresetName, LdapPreset>> = Object.freeze({
  openldap: Object.freeze({
    usernameAttribute: 'uid',
    idAttribute: 'entryUUID',
    idFormat: 'string',
    emailAttribute: 'mail',
    displayNameAttribute: 'cn',
    userFilter: '(objectClass=inetOrgPerson)',
    groupStrategies: Object.freeze(['member', 'uniqueMember'] as const),
    groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))',
  }),
  activedirectory: Object.freeze({
    usernameAttribute: 'sAMAccountName',
    idAttribute: 'objectGUID',
    idFormat: 'guid',
    emailAttribute: 'mail',
    displayNameAttribute: 'displayName',
    // Person objects that are not disabled (userAccountControl bit 2, ACCOUNTDISABLE).
    userFilter:
      '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
    groupStrategies: Object.freeze(['inChain'] as const),
    groupFilter: '(objectClass=group)',
  }),
  freeipa: Object.freeze({
    usernameAttribute: 'uid',
    idAttribute: 'ipaUniqueID',
    idFormat: 'string',
    emailAttribute: 'mail',
    displayNameAttribute: 'displayName',
    userFilter: '(&(objectClass=person)(!(nsAccountLock=TRUE)))',
    groupStrategies: Object.freeze(['memberOf'] as const),
    groupFilter: '(objectClass=groupOfNames)',
  }),
  '389ds': Object.freeze({
    usernameAttribute: 'uid',
    idAttribute: 'nsUniqueId',
    idFormat: 'string',
    emailAttribute: 'mail',
    displayNameAttribute: 'cn',
    userFilter: '(&(objectClass=person)(!(nsAccountLock=true)))',
    groupStrategies: Object.freeze(['memberOf'] as const),
    groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))',
  }),
});
