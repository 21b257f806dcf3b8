// Commits on meta.db that are written to the WAL but not fsync'd, for the writers that make them
// durable another way: the Raft log store syncs the WAL itself (off the event loop), and applied
// state is made durable by the next synced log write (WAL frames reach the disk in order).
import type Database from 'better-sqlite3';

/**
 * Runs `commit` (which commits one transaction) with `synchronous = NORMAL`, then puts the
 * connection's `synchronous = FULL` back, also when `commit` throws. (SQLite applies this pragma
 * when the statement is compiled, so a prepared copy run again does nothing: it is compiled each
 * time. exec() does that in C, a fifth of what pragma() costs with its statement object; it
 * runs twice for every log write and every apply.)
 */
export function commitUnsynced<T>(sqlite: Database.Database, commit: () => T): T {
  sqlite.exec('PRAGMA synchronous = NORMAL');
  try {
    return commit();
  } finally {
    sqlite.exec('PRAGMA synchronous = FULL');
  }
}
