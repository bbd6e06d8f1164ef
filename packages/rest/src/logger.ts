/**
 * The logger the REST backend writes to. Events carry a stable name and structured fields; no field
 * ever holds a token, a password or a client secret (a token appears as a hash prefix at most).
 * The contract is core's {@link EventLogger}; these names are kept for readers of this package.
 *
 * @packageDocumentation
 */
import {
  consoleEventLogger,
  type EventLogger,
  type LogFields as CoreLogFields,
  silentEventLogger,
} from '@authbridge/core';

/** Structured fields of a log event (core's `LogFields`). */
export type LogFields = CoreLogFields;

/** The REST backend's logger (core's `EventLogger`). */
export type RestLogger = EventLogger;

/** Warnings and errors as one JSON line each on the console; debug and info dropped. The default. */
export const consoleLogger: RestLogger = consoleEventLogger;

/** Drops everything. */
export const silentLogger: RestLogger = silentEventLogger;
