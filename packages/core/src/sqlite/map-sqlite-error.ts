/**
 * The one place where SQLite's errors become authbridge codes.
 *
 * @packageDocumentation
 */
import { AuthBridgeError } from '../errors.js';

// Extended result codes (sqlite3.h): the constraint failures a store turns into a conflict.
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

interface SqliteErrorShape {
  readonly code?: unknown;
  readonly errcode?: unknown;
  readonly errstr?: unknown;
}

/**
 * Maps an error thrown by `node:sqlite` to an {@link AuthBridgeError}: unique violations become
 * IDENTITY_CONFLICT, anything else STORE_UNAVAILABLE (we fail closed). Our own errors pass through.
 */
export function mapSqliteError(error: unknown, operation: string): AuthBridgeError {
  if (error instanceof AuthBridgeError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SqliteErrorShape;
  if (
    shape.errcode === SQLITE_CONSTRAINT_UNIQUE ||
    shape.errcode === SQLITE_CONSTRAINT_PRIMARYKEY
  ) {
    return new AuthBridgeError('IDENTITY_CONFLICT', undefined, {
      detail: `${operation}: unique constraint`,
      cause: error,
    });
  }
  const reason =
    typeof shape.errstr === 'string'
      ? shape.errstr
      : typeof shape.code === 'string'
        ? shape.code
        : 'error';
  return new AuthBridgeError('STORE_UNAVAILABLE', undefined, {
    detail: `sqlite ${operation}: ${reason}`,
    cause: error,
  });
}

/**
 * Runs one store operation: CLOSED after `close()`, and any SQLite error translated by
 * {@link mapSqliteError}. Shared by every SQLite store.
 */
export function runSqlite<T>(closed: boolean, operation: string, work: () => T): T {
  if (closed) throw new AuthBridgeError('CLOSED', 'Store is closed');
  try {
    return work();
  } catch (error) {
    throw mapSqliteError(error, operation);
  }
}
