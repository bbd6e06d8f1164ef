/**
 * The logger contract every protocol backend writes to: a stable event name and flat, structured
 * fields. One definition, so a host adapts pino (or anything) once for every backend.
 *
 * @packageDocumentation
 */

/** Structured fields of a log event. Never a password, token or secret. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Where a backend reports what it saw (`ldap.login_failed`, `rest.fail_open`...).
 *
 * @example
 * ```ts
 * const logger: EventLogger = {
 *   debug: (event, fields) => pino.debug(fields, event),
 *   info: (event, fields) => pino.info(fields, event),
 *   warn: (event, fields) => pino.warn(fields, event),
 *   error: (event, fields) => pino.error(fields, event),
 * };
 * ```
 */
export interface EventLogger {
  debug(event: string, fields: LogFields): void;
  info(event: string, fields: LogFields): void;
  warn(event: string, fields: LogFields): void;
  error(event: string, fields: LogFields): void;
}

/** Warnings and errors as one JSON line each on the console; debug and info dropped. */
export const consoleEventLogger: EventLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: (event: string, fields: LogFields) => {
    console.warn(JSON.stringify({ level: 'warn', event, ...fields }));
  },
  error: (event: string, fields: LogFields) => {
    console.error(JSON.stringify({ level: 'error', event, ...fields }));
  },
});

/** Drops everything (tests, or a host that logs elsewhere). */
export const silentEventLogger: EventLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});
