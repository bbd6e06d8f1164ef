/**
 * The Active Directory sub-codes a failed simple bind reports as `data <code>` in its
 * diagnostic message, e.g. `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext
 * error, data 775, v1db1` (LDAP result 49, invalidCredentials):
 *
 * - `52e` wrong password, or no such user
 * - `530` not permitted to log on at this time (logonHours)
 * - `531` not permitted to log on at this workstation (userWorkstations)
 * - `532` password expired
 * - `533` account disabled
 * - `701` account expired (accountExpires)
 * - `773` user must change password (pwdLastSet = 0)
 * - `775` account locked out
 */
export type AdSubCode = '52e' | '530' | '531' | '532' | '533' | '701' | '773' | '775';

/** A user seeded into every Samba DC; see the testkit README for the table. */
export interface SambaUser {
  /** `sAMAccountName`; `AUTHBRIDGE\<sam>` is the down-level logon name. */
  readonly sam: string;
  /** `userPrincipalName`, `<sam>@authbridge.test`. */
  readonly upn: string;
  /** The entry's DN (under `OU=People,DC=authbridge,DC=test`). */
  readonly dn: string;
  /** The account's real password: the one to send to provoke {@link SambaUser.expectedSubCode}. */
  readonly password: string;
  /**
   * What a simple bind with {@link SambaUser.password} yields: `undefined` for success, else
   * the AD sub-code in the InvalidCredentials message. Any wrong password yields `52e`, except
   * for the locked-out account, which answers `775` whatever the password.
   */
  readonly expectedSubCode: AdSubCode | undefined;
  /** What the account is for, in a few words. */
  readonly purpose: string;
}

/** The seeded users, by role. */
export interface SambaUsers {
  /** A normal user, member of `inner`, so also (nested) of `outer`. */
  readonly alice: SambaUser;
  /** A normal user in no seeded group, whose CN contains a comma: `CN=Builder\, Bob,...`. */
  readonly bob: SambaUser;
  /** A normal user meant as the search ("bind DN") account of search-then-bind. */
  readonly service: SambaUser;
  /** userAccountControl ACCOUNTDISABLE: `533`. */
  readonly disabled: SambaUser;
  /** accountExpires in 2020: `701`. */
  readonly expired: SambaUser;
  /** Locked out by a failed bind under a one-strike lockout policy (a PSO): `775`. */
  readonly locked: SambaUser;
  /** pwdLastSet = 0: `773`. */
  readonly mustChange: SambaUser;
  /** Password set 100 days ago, domain maximum age 42 days: `532`. */
  readonly passwordExpired: SambaUser;
  /** logonHours all zero (never allowed to log on): `530`. */
  readonly logonHours: SambaUser;
  /** userWorkstations = NOWHERE: `531`. */
  readonly workstation: SambaUser;
}

/** A seeded global security group. */
export interface SambaGroup {
  /** `sAMAccountName` (equal to its CN). */
  readonly sam: string;
  /** The group's DN (under `OU=Groups,DC=authbridge,DC=test`). */
  readonly dn: string;
}

/** The seeded groups: `outer` ⊃ `inner` ⊃ alice, for LDAP_MATCHING_RULE_IN_CHAIN. */
export interface SambaGroups {
  /** `authbridge-outer`; its only member is the group `inner`. */
  readonly outer: SambaGroup;
  /** `authbridge-inner`; its only member is alice. */
  readonly inner: SambaGroup;
}

/** Options for `startSambaDc`. */
export interface SambaDcOptions {
  /** Samba's debug level (`samba -d`), 0 (errors only) to 10. Default 1. */
  readonly logLevel?: number;
}

/**
 * A running Samba Active Directory domain controller for tests. Dispose it with `await using`
 * or {@link SambaDcServer.stop}; the processes, the network namespace and the temp directory
 * are gone afterwards, and also if the test process exits or is interrupted.
 */
export interface SambaDcServer extends AsyncDisposable {
  /** `ldap://127.0.0.1:<port>`; plain simple binds are allowed, StartTLS is available. */
  readonly url: string;
  /** `ldaps://127.0.0.1:<ldapsPort>`. */
  readonly ldapsUrl: string;
  /** Always the IPv4 loopback address: the relay listens nowhere else. */
  readonly host: '127.0.0.1';
  /** Port of {@link SambaDcServer.url}, relayed to port 389 inside the namespace. */
  readonly port: number;
  /** Port of {@link SambaDcServer.ldapsUrl}, relayed to port 636 inside the namespace. */
  readonly ldapsPort: number;
  /** `DC=authbridge,DC=test`. */
  readonly baseDN: string;
  /** The Kerberos realm, `AUTHBRIDGE.TEST`. */
  readonly realm: string;
  /** The DNS domain (the UPN suffix), `authbridge.test`. */
  readonly dnsDomain: string;
  /** The NetBIOS domain (the `DOMAIN\user` prefix), `AUTHBRIDGE`. */
  readonly netbiosDomain: string;
  /**
   * The DC's host name, `dc1.authbridge.test`: the certificate's CN (it has no SAN), so pass it
   * as `tlsOptions.servername`, since the URL's host is 127.0.0.1.
   */
  readonly serverName: string;
  /** `CN=Administrator,CN=Users,DC=authbridge,DC=test`. */
  readonly adminDN: string;
  /** `Administrator@authbridge.test`. */
  readonly adminUPN: string;
  /** The Administrator's password, random per test process. */
  readonly adminPassword: string;
  /** PEM of the CA Samba generated (self-signed, RSA 4096); pass it as `tlsOptions.ca`. */
  readonly caCertPem: string;
  /** Path of a file holding {@link SambaDcServer.caCertPem}. */
  readonly caCertPath: string;
  /** The seeded users; each copy of the DC starts from the same state. */
  readonly users: SambaUsers;
  /** The seeded groups. */
  readonly groups: SambaGroups;
  /** The server's private temp directory (`authbridge-samba-*`), removed by {@link SambaDcServer.stop}. */
  readonly dir: string;
  /** The samba process id while it runs; `undefined` while not running. */
  readonly pid: number | undefined;
  /** The network namespace samba runs in (`ip netns` name). */
  readonly namespace: string;
  /** Samba's address inside the namespace (169.254.x.y, reachable from this host only). */
  readonly address: string;
  /** Samba's log (stdout and stderr) so far. */
  log(): Promise<string>;
  /**
   * Stops samba (SIGTERM, SIGKILL after 5 s), deletes the namespace, its veth pair, the relays
   * and the directory. Idempotent.
   */
  stop(): Promise<void>;
  /** Stops samba if running and starts it again with the same data and ports; resolves once it accepts binds. */
  restart(): Promise<void>;
  /** Freezes every process of the DC (SIGSTOP): connections open but nothing is answered. */
  pause(): void;
  /** Unfreezes the DC after {@link SambaDcServer.pause}. */
  resume(): void;
  /** SIGKILLs samba, like a crash, keeping its data; {@link SambaDcServer.restart} brings it back. */
  kill(): Promise<void>;
  /**
   * Adds `values` to `attribute` of the domain entry `dn` (spelled as it was added), written
   * straight into the domain partition past every check Samba makes (schema, uniqueness): data
   * an LDAP client cannot write but a directory can hold (an import, a migration, a replication
   * conflict), such as a second entry with a user's userPrincipalName. Samba is stopped for the
   * write and started again; resolves once it accepts binds.
   */
  forceAttribute(dn: string, attribute: string, values: readonly string[]): Promise<void>;
}
