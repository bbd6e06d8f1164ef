// Shared fixture code for the LDAP integration tests.
import { startSlapd, type SlapdServer } from '@authbridge/testkit';
import type { LdapBackendOptions, LdapLogFields, LdapLogger } from '@authbridge/ldap';

export const BASE = 'dc=example,dc=org';
export const PEOPLE = `ou=people,${BASE}`;
export const GROUPS = `ou=groups,${BASE}`;

/** A logger that records every event, for asserting on failure reasons. */
export class RecordingLogger implements LdapLogger {
  readonly events: { level: string; event: string; fields: LdapLogFields }[] = [];
  debug = (event: string, fields: LdapLogFields): void => {
    this.#push('debug', event, fields);
  };
  info = (event: string, fields: LdapLogFields): void => {
    this.#push('info', event, fields);
  };
  warn = (event: string, fields: LdapLogFields): void => {
    this.#push('warn', event, fields);
  };
  error = (event: string, fields: LdapLogFields): void => {
    this.#push('error', event, fields);
  };
  #push(level: string, event: string, fields: LdapLogFields): void {
    this.events.push({ level, event, fields });
  }
  /** The reason of the last `ldap.login_failed` event. */
  lastReason(): unknown {
    return this.events.filter((e) => e.event === 'ldap.login_failed').at(-1)?.fields['reason'];
  }
}

/** Search-then-bind over StartTLS with the service account: the standard configuration. */
export function searchOptions(
  server: SlapdServer,
  logger: LdapLogger,
  extra: Partial<LdapBackendOptions> = {},
): LdapBackendOptions {
  return {
    url: server.url,
    tls: { ca: server.caCertPem },
    bindDn: server.serviceDN,
    bindPassword: server.servicePassword,
    userSearch: { base: PEOPLE },
    logger,
    ...extra,
  };
}

/** Counts BIND operations in slapd's log (stats level logs every operation). */
export async function bindCount(server: SlapdServer): Promise<number> {
  return ((await server.log()).match(/ BIND dn=/g) ?? []).length;
}

/** Counts accepted connections in slapd's log. */
export async function acceptCount(server: SlapdServer): Promise<number> {
  return ((await server.log()).match(/ ACCEPT from/g) ?? []).length;
}

export { startSlapd };
