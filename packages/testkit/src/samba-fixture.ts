import type { Attribute } from 'ldapts';
import type * as Ldapts from 'ldapts';
import type { AdSubCode, SambaGroup, SambaGroups, SambaUser, SambaUsers } from './samba-types.js';

/** The Kerberos realm of the test domain. */
export const SAMBA_REALM = 'AUTHBRIDGE.TEST';
/** The DNS domain: UPN suffix and the DC's domain. */
export const SAMBA_DNS_DOMAIN = 'authbridge.test';
/** The NetBIOS (down-level) domain name. */
export const SAMBA_NETBIOS_DOMAIN = 'AUTHBRIDGE';
/** The domain's naming context. */
export const SAMBA_BASE_DN = 'DC=authbridge,DC=test';
/** The DC's NetBIOS host name. */
export const SAMBA_HOST_NAME = 'DC1';
/** The DC's DNS name: the CN of the certificate Samba generates. */
export const SAMBA_SERVER_NAME = `${SAMBA_HOST_NAME.toLowerCase()}.${SAMBA_DNS_DOMAIN}`;
/** The built-in Administrator. */
export const SAMBA_ADMIN_DN = `CN=Administrator,CN=Users,${SAMBA_BASE_DN}`;
/** The Administrator's UPN, which binds without knowing the DN. */
export const SAMBA_ADMIN_UPN = `Administrator@${SAMBA_DNS_DOMAIN}`;

const PEOPLE = `OU=People,${SAMBA_BASE_DN}`;
const GROUPS = `OU=Groups,${SAMBA_BASE_DN}`;
/** The one-strike lockout policy that applies to the `locked` user only. */
const LOCKOUT_PSO = `CN=authbridge-lockout,CN=Password Settings Container,CN=System,${SAMBA_BASE_DN}`;

/** Escapes an RDN value (RFC 4514 specials; the fixture has no leading `#` or spaces). */
function rdnValue(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (char) => `\\${char}`);
}

function user(
  cn: string,
  sam: string,
  password: string,
  expectedSubCode: AdSubCode | undefined,
  purpose: string,
): SambaUser {
  return {
    sam,
    upn: `${sam}@${SAMBA_DNS_DOMAIN}`,
    dn: `CN=${rdnValue(cn)},${PEOPLE}`,
    password,
    expectedSubCode,
    purpose,
  };
}

/**
 * The seeded users. Passwords satisfy AD complexity (three character classes, at least seven
 * characters, not containing the account name), which the domain enforces.
 */
export const SAMBA_USERS: SambaUsers = {
  alice: user(
    'Alice Liddell',
    'alice',
    'Alfa-Passw0rd-1!',
    undefined,
    'normal user, in inner ⊂ outer',
  ),
  bob: user(
    'Builder, Bob',
    'bob',
    'Bravo-Passw0rd-2!',
    undefined,
    'normal user, no groups, comma in CN',
  ),
  service: user(
    'authbridge service',
    'svc-authbridge',
    'Charlie-Passw0rd-3!',
    undefined,
    'search account',
  ),
  disabled: user('Disabled User', 'disabled', 'Delta-Passw0rd-4!', '533', 'account disabled'),
  expired: user('Expired Account', 'expired', 'Echo-Passw0rd-5!', '701', 'account expired'),
  locked: user('Locked Out', 'locked', 'Foxtrot-Passw0rd-6!', '775', 'account locked out'),
  mustChange: user('Must Change', 'must-change', 'Golf-Passw0rd-7!', '773', 'must change password'),
  passwordExpired: user(
    'Password Expired',
    'pwd-expired',
    'Hotel-Passw0rd-8!',
    '532',
    'password expired',
  ),
  logonHours: user('Logon Hours', 'logon-hours', 'India-Passw0rd-9!', '530', 'outside logon hours'),
  workstation: user(
    'Workstation Bound',
    'workstation',
    'Juliett-Passw0rd-10!',
    '531',
    'wrong workstation',
  ),
};

function group(name: string): SambaGroup {
  return { sam: name, dn: `CN=${rdnValue(name)},${GROUPS}` };
}

/** The seeded groups. */
export const SAMBA_GROUPS: SambaGroups = {
  outer: group('authbridge-outer'),
  inner: group('authbridge-inner'),
};

/** How old the `passwordExpired` user's password is made: well past the default 42 days. */
export const PASSWORD_EXPIRED_AGE_DAYS = 100;

/** Windows FILETIME (100 ns ticks since 1601-01-01 UTC) of a JavaScript timestamp. */
export function fileTime(ms: number): string {
  return String(BigInt(Math.trunc(ms)) * 10_000n + 116_444_736_000_000_000n);
}

/** A negative AD time interval (100 ns ticks) of `days` days, as stored in policy attributes. */
function interval(days: number): string {
  return String(-BigInt(days) * 864_000_000_000n);
}

/**
 * ldapts, loaded on first use: importing the testkit stays cheap for suites that never start a
 * DC. Only this harness's own code touches the instances, so a second copy of ldapts (the
 * tests' CommonJS one under tsx) is harmless.
 */
export function loadLdapts(): Promise<typeof Ldapts> {
  return import('ldapts');
}

type AttributeFactory = (type: string, ...values: string[] | Buffer[]) => Attribute;

/** unicodePwd's value: the password in double quotes, UTF-16LE. */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

/** Attributes set on top of a normal account, per user; all are settable when adding. */
function extraAttributes(
  attribute: AttributeFactory,
): Partial<Record<keyof SambaUsers, Attribute[]>> {
  return {
    // ACCOUNTDISABLE | NORMAL_ACCOUNT.
    disabled: [attribute('userAccountControl', '514')],
    expired: [attribute('accountExpires', fileTime(Date.UTC(2020, 0, 1)))],
    // 168 bits, one per hour of the week: all zero means never.
    logonHours: [attribute('logonHours', Buffer.alloc(21))],
    workstation: [attribute('userWorkstations', 'NOWHERE')],
  };
}

/**
 * Seeds the directory over LDAP(S) as the Administrator (unicodePwd needs an encrypted
 * connection). Everything an LDAP client may do is done here; the one thing it may not, backdating
 * pwdLastSet for the `passwordExpired` user, is done offline afterwards (see samba-dc.ts).
 *
 * @param ldapsUrl - an LDAPS URL of the running DC, for the Administrator's changes
 * @param ldapUrl - its plain LDAP URL, for the failed bind that locks the `locked` user out
 */
export async function seedSambaDirectory(
  ldapsUrl: string,
  ldapUrl: string,
  tls: { readonly ca: string; readonly adminPassword: string },
): Promise<void> {
  const { Attribute, Change, Client } = await loadLdapts();
  const attribute: AttributeFactory = (type, ...values) => new Attribute({ type, values });
  const extras = extraAttributes(attribute);
  const admin = new Client({
    url: ldapsUrl,
    timeout: 10_000,
    tlsOptions: { ca: [tls.ca], servername: SAMBA_SERVER_NAME },
  });
  try {
    await admin.bind(SAMBA_ADMIN_UPN, tls.adminPassword);
    for (const [dn, ou] of [
      [PEOPLE, 'People'],
      [GROUPS, 'Groups'],
    ] as const) {
      await admin.add(dn, [
        attribute('objectClass', 'top', 'organizationalUnit'),
        attribute('ou', ou),
      ]);
    }
    for (const [key, seeded] of Object.entries(SAMBA_USERS) as [keyof SambaUsers, SambaUser][]) {
      const extra = extras[key] ?? [];
      const attributes = [
        attribute('objectClass', 'top', 'person', 'organizationalPerson', 'user'),
        attribute('sAMAccountName', seeded.sam),
        attribute('userPrincipalName', seeded.upn),
        attribute('unicodePwd', unicodePwd(seeded.password)),
        attribute('userAccountControl', '512'),
      ].filter((a) => !extra.some((e) => e.type === a.type));
      await admin.add(seeded.dn, [...attributes, ...extra]);
    }
    // What "User must change password at next logon" does: pwdLastSet = 0, after the add that
    // set the password (which stamps pwdLastSet with the current time).
    await admin.modify(
      SAMBA_USERS.mustChange.dn,
      new Change({ operation: 'replace', modification: attribute('pwdLastSet', '0') }),
    );
    await admin.add(SAMBA_GROUPS.inner.dn, [
      attribute('objectClass', 'top', 'group'),
      attribute('sAMAccountName', SAMBA_GROUPS.inner.sam),
      attribute('member', SAMBA_USERS.alice.dn),
    ]);
    await admin.add(SAMBA_GROUPS.outer.dn, [
      attribute('objectClass', 'top', 'group'),
      attribute('sAMAccountName', SAMBA_GROUPS.outer.sam),
      attribute('member', SAMBA_GROUPS.inner.dn),
    ]);
    // A fine-grained password policy rather than the domain's lockout threshold: with the
    // latter, tests that send wrong passwords for alice would lock her out too.
    await admin.add(LOCKOUT_PSO, [
      attribute('objectClass', 'msDS-PasswordSettings'),
      attribute('msDS-PasswordSettingsPrecedence', '10'),
      attribute('msDS-PasswordReversibleEncryptionEnabled', 'FALSE'),
      attribute('msDS-PasswordHistoryLength', '0'),
      attribute('msDS-PasswordComplexityEnabled', 'TRUE'),
      attribute('msDS-MinimumPasswordLength', '7'),
      attribute('msDS-MinimumPasswordAge', '0'),
      attribute('msDS-MaximumPasswordAge', interval(42)),
      attribute('msDS-LockoutThreshold', '1'),
      attribute('msDS-LockoutObservationWindow', interval(30)),
      attribute('msDS-LockoutDuration', interval(30)),
      attribute('msDS-PSOAppliesTo', SAMBA_USERS.locked.dn),
    ]);
  } finally {
    await admin.unbind();
  }
  // One wrong password under the one-strike policy: lockoutTime is set, for 30 days.
  const client = new Client({ url: ldapUrl, timeout: 10_000 });
  let accepted = false;
  try {
    await client.bind(SAMBA_USERS.locked.upn, `not-${SAMBA_USERS.locked.password}`);
    accepted = true;
  } catch {
    // Expected: 52e, and the account is now locked out.
  } finally {
    await client.unbind();
  }
  if (accepted) throw new Error('seeding: a wrong password for the locked user was accepted');
}

/**
 * The Python (Samba's own bindings, run by the interpreter samba-tool uses) that backdates
 * pwdLastSet. AD lets no LDAP client write a pwdLastSet other than 0 or -1, and Samba ignores
 * maximum password ages under one day, so an expired password cannot be made over LDAP in
 * less than a day. Offline, with the internal control Samba's own upgrade code uses to import
 * passwords with their original date (DSDB_CONTROL_PASSWORD_BYPASS_LAST_SET_OID), it can.
 * Arguments: smb.conf, sam.ldb, DN, FILETIME; the password comes in AUTHBRIDGE_PASSWORD.
 */
export const BACKDATE_PASSWORD_PY = `
import os, sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
conf, url, dn, when = sys.argv[1:5]
lp = LoadParm()
lp.load(conf)
db = SamDB(url=url, session_info=system_session(), lp=lp)
msg = ldb.Message(ldb.Dn(db, dn))
msg['pwdLastSet'] = ldb.MessageElement(when, ldb.FLAG_MOD_REPLACE, 'pwdLastSet')
password = '"%s"' % os.environ['AUTHBRIDGE_PASSWORD']
msg['unicodePwd'] = ldb.MessageElement(password.encode('utf-16-le'), ldb.FLAG_MOD_REPLACE, 'unicodePwd')
db.modify(msg, controls=['local_oid:1.3.6.1.4.1.7165.4.3.20:0'])
`;

/**
 * The Python (Samba's ldb bindings) that adds attribute values to an entry of a partition file
 * opened without Samba's modules, so that no schema or uniqueness check runs. For a stopped DC.
 * Arguments: the partition's .ldb file, DN, attribute, values.
 */
export const FORCE_ATTRIBUTE_PY = `
import sys
import ldb
url, dn, attribute = sys.argv[1:4]
db = ldb.Ldb(url=url, options=['modules:'])
msg = ldb.Message(ldb.Dn(db, dn))
msg[attribute] = ldb.MessageElement(sys.argv[4:], ldb.FLAG_MOD_ADD, attribute)
db.modify(msg)
`;
