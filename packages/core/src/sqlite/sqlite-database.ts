/**
 * Opening an SQLite file with the pragmas and schema every authbridge store relies on.
 *
 * `node:sqlite` is synchronous: a transaction that runs without awaiting cannot interleave with
 * another call in this process, and `BEGIN IMMEDIATE` plus `busy_timeout` serialise writers
 * across processes sharing the file.
 *
 * @packageDocumentation
 */
import type * as NodeSqlite from 'node:sqlite';
import type { DatabaseSync } from 'node:sqlite';
import { AuthBridgeError } from '../errors.js';
import { mapSqliteError } from './map-sqlite-error.js';

type SqliteModule = typeof NodeSqlite;

/**
 * @internal `node:sqlite`, or a STORE_UNAVAILABLE that says what to do. Looked up at run time, not
 * imported: Node 22.12 (within our engines) has the module only under `--experimental-sqlite`, and
 * a static import would make every package that loads the SQLite stores fail to load at all —
 * also a host configured with memory stores.
 */
export function loadSqlite(
  getBuiltin: (id: string) => unknown = (id) => process.getBuiltinModule(id),
): SqliteModule {
  const sqlite = getBuiltin('node:sqlite') as SqliteModule | undefined;
  if (sqlite === undefined) {
    throw new AuthBridgeError('STORE_UNAVAILABLE', undefined, {
      detail: `node:sqlite is not available in Node ${process.version}: use Node 22.13 or later, or start Node 22.12 with --experimental-sqlite`,
    });
  }
  return sqlite;
}

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Never edit a
 * released entry: append a new one.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     username TEXT NOT NULL UNIQUE,
     email TEXT,
     display_name TEXT,
     is_active INTEGER NOT NULL,
     is_staff INTEGER NOT NULL,
     is_superuser INTEGER NOT NULL,
     groups_json TEXT NOT NULL,
     permissions_json TEXT NOT NULL,
     attributes_json TEXT NOT NULL,
     password_hash TEXT,
     session_version TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE identities (
     backend_id TEXT NOT NULL,
     issuer TEXT NOT NULL,
     subject TEXT NOT NULL,
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (backend_id, issuer, subject)
   ) STRICT;
   CREATE INDEX identities_user ON identities(user_id);
   CREATE TABLE kv (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     expires_at INTEGER
   ) STRICT;
   CREATE INDEX kv_expires ON kv(expires_at) WHERE expires_at IS NOT NULL;`,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) an SQLite database and brings its schema up to date.
 *
 * @param path - a file path, or `:memory:`.
 * @throws {AuthBridgeError} STORE_UNAVAILABLE when the file cannot be opened or migrated, or was
 * written by a newer authbridge.
 */
export function openSqliteDatabase(path: string): DatabaseSync {
  const { DatabaseSync: Database } = loadSqlite();
  let db: DatabaseSync | undefined;
  try {
    db = new Database(path);
    db.exec('PRAGMA busy_timeout = 5000');
    db.exec('PRAGMA journal_mode = WAL');
    // FULL: a committed login survives a power cut, not only a process crash.
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    throw mapSqliteError(error, 'open');
  }
}

/** Runs `work` inside `BEGIN IMMEDIATE … COMMIT`; any throw rolls everything back. */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

function migrate(db: DatabaseSync): void {
  transaction(db, () => {
    // Read inside the write transaction: two processes opening a new file migrate it once.
    const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
    const current = row?.user_version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this authbridge (${MIGRATIONS.length})`,
      );
    }
    for (const sql of MIGRATIONS.slice(current)) db.exec(sql);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
  });
}
