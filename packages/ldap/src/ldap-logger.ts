/**
 * Where the LDAP backend reports what it saw: failure reasons, failovers, pool rebuilds. Fields
 * never hold a password; a username appears only in `ldap.login_failed` and friends, which the
 * operator needs to investigate lockouts. The contract is core's {@link EventLogger}; these names
 * are kept for readers of this package.
 *
 * @packageDocumentation
 */
import {
  consoleEventLogger,
  type EventLogger,
  type LogFields,
  silentEventLogger,
} from '@authbridge/core';

/** Structured fields of a log event (core's `LogFields`). */
export type LdapLogFields = LogFields;

/** The LDAP backend's logger (core's `EventLogger`). */
export type LdapLogger = EventLogger;

/** Warnings and errors as JSON lines on the console; debug and info dropped. The default. */
export const consoleLdapLogger: LdapLogger = consoleEventLogger;

/** Drops everything. */
export const silentLdapLogger: LdapLogger = silentEventLogger;
