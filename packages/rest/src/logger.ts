/**
 * The logger the REST backend writes to. Events carry a stable name and structured fields; no field
 * ever holds a token, a password or a client secret (a token appears as a hash prefix at most).
 *
 * @packageDocumentation
 */

/** Structured fields of a log event. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Where log events go. Each method receives an event name (`rest.fail_open`, `rest.circuit_open`,
 * ...) and fields. Adapt pino, winston or console in a few lines.
 *
 * @example
 * ```ts
 * const logger: RestLogger = {
 *   debug: (event, fields) => pino.debug(fields, event),
 *   info: (event, fields) => pino.info(fields, event),
 *   warn: (event, fields) => pino.warn(fields, event),
 *   error: (event, fields) => pino.error(fields, event),
 * };
 * ```
 */
export interface RestLogger {
  debug(event: string, fields: LogFields): void;
  info(event: string, fields: LogFields): void;
  warn(event: string, fields: LogFields): void;
  error(event: string, fields: LogFields): void;
}

/**
 * The default logger: warnings and errors go to the console as one JSON line each, debug and info
 * are dropped. Warnings are on by default because the events behind them (fail-open used, circuit
 * opened) are ones an operator must see.
 */
export const consoleLogger: RestLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: (event: string, fields: LogFields) => {
    console.warn(JSON.stringify({ level: 'warn', event, ...fields }));
  },
  error: (event: string, fields: LogFields) => {
    console.error(JSON.stringify({ level: 'error', event, ...fields }));
  },
});

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: RestLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});
