/**
 * `@authbridge/core/sqlite`: the SQLite stores, on the built-in `node:sqlite` (no native addon).
 * A separate entry point so that importing `@authbridge/core` never loads `node:sqlite`.
 *
 * @packageDocumentation
 */
export { openSqliteDatabase, SCHEMA_VERSION, transaction } from './sqlite-database.js';
export { SqliteKeyValueStore, type SqliteKeyValueStoreOptions } from './sqlite-key-value-store.js';
export { SqliteUserStore, type SqliteUserStoreOptions } from './sqlite-user-store.js';
export { mapSqliteError } from './map-sqlite-error.js';
export type { SqliteReadCacheOptions } from './read-cache.js';
