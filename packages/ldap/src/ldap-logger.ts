/**
 * Where the LDAP backend reports what it saw: failure reasons, failovers, pool rebuilds. Fields
 * never hold a password; a username appears only in `ldap.login_failed` and friends, which the
 * operator needs to investigate lockouts.
 *
 * @packageDocumentation
 */

/** Structured fields of a log event. */
export type LdapLogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * A logger: each method receives a stable event name (`ldap.login_failed`, `ldap.failover`...) and
 * fields. Adapt pino, winston or console in a few lines.
 *
 * @example
 * ```ts
 * const logger: LdapLogger = {
 *   debug: (event, fields) => pino.debug(fields, event),
 *   info: (event, fields) => pino.info(fields, event),
 *   warn: (event, fields) => pino.warn(fields, event),
 *   error: (event, fields) => pino.error(fields, event),
 * };
 * ```
 */
export interface LdapLogger {
  debug(event: string, fields: LdapLogFields): void;
  info(event: string, fields: LdapLogFields): void;
  warn(event: string, fields: LdapLogFields): void;
  error(event: string, fields: LdapLogFields): void;
}

/** Warnings and errors as JSON lines on the console; debug and info dropped. The default. */
export const consoleLdapLogger: LdapLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: (event: string, fields: LdapLogFields) => {
    console.warn(JSON.stringify({ level: 'warn', event, ...fields }));
  },
  error: (event: string, fields: LdapLogFields) => {
    console.error(JSON.stringify({ level: 'error', event, ...fields }));
  },
});

/** Drops everything (tests, benchmarks). */
export const silentLdapLogger: LdapLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});
