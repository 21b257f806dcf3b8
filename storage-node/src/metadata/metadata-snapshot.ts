// Snapshots of the metadata state machine: a small SQLite file holding ONLY the metadata tables.
// The Raft tables stay out: the file is shipped to followers, whose log must survive the restore.
// Rows are copied by SQLite itself (ATTACH + INSERT … SELECT), never through JavaScript memory.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { getTableConfig } from 'drizzle-orm/sqlite-core';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { assert } from '../../../shared/assert.ts';
import { accessKeys, appliedState, buckets, chunkRefs, clientRequests, clusterSettings, fileVersions, files, inlineContents, multipartParts, multipartUploads } from '../db/schema.ts';
import type { SnapshotMeta } from '../raft/types.ts';
import { appliedStateId } from './metadata-statements.ts';
import { fsyncPathSync } from '../durability/fsync.ts';

/**
 * In the file's `PRAGMA user_version`: bump when the tables change shape. 2 added
 * inline_contents and client_requests.fingerprint; 3 added buckets; 4 added
 * file_versions.s3_etag; 5 added multipart_uploads and multipart_parts; 6 added
 * file_versions.headers and part_sizes and multipart_uploads.headers. Files of older formats
 * still restore: what they lack is restored empty (no inline content, fingerprints, buckets, S3
 * ETags, multipart uploads, stored headers or part sizes existed then); 7 added cluster_settings
 * (none: every setting at its default); 8 added access_keys (none: only the root key); 9 added
 * file_versions.delete_marker (no markers: every row a version) and buckets.versioning (Enabled).
 */
export const metadataSnapshotFormat = 9;
const readableSnapshotFormats: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
type TableAdditions = Readonly<Record<string, '*' | readonly string[]>>;
/** What each format added, by table: '*' for the whole table, else the columns. */
const addedInFormat: Readonly<Record<number, TableAdditions>> = {
  2: { inline_contents: '*', client_requests: ['"fingerprint"'] },
  3: { buckets: '*' },
  4: { file_versions: ['"s3_etag"'] },
  5: { multipart_uploads: '*', multipart_parts: '*' },
  6: { file_versions: ['"headers"', '"part_sizes"'], multipart_uploads: ['"headers"'] },
  7: { cluster_settings: '*' },
  8: { access_keys: '*' },
  9: { file_versions: ['"delete_marker"'], buckets: ['"versioning"'] },
};

/** What a file of `format` lacks of `table`: '*' for the whole table, else the columns. */
function absentInFormat(format: number, table: string): '*' | readonly string[] {
  const columns: string[] = [];
  for (const [added, tables] of Object.entries(addedInFormat)) {
    if (Number(added) <= format) continue;
    const absent = tables[table];
    if (absent === '*') return '*';
    if (absent !== undefined) columns.push(...absent);
  }
  return columns;
}

const metadataTables: readonly SQLiteTable[] = [files, fileVersions, chunkRefs, appliedState, clientRequests, inlineContents, buckets, multipartUploads, multipartParts, clusterSettings, accessKeys];
const attachedAs = 'snapshot';

interface TableCopy {
  readonly name: string;
  readonly columns: string;
}

const tableCopies: readonly TableCopy[] = metadataTables.map((table) => {
  const config = getTableConfig(table);
  return { name: config.name, columns: config.columns.map((column) => `"${column.name}"`).join(', ') };
});

function quoted(name: string): string {
  assert(/^[a-z_]+$/.test(name), `unexpected table name ${name}`);
  return `"${name}"`;
}

/** meta.db's own CREATE statements for the metadata tables, tables first. */
function schemaStatements(sqlite: Database.Database): { tables: string[]; indexes: string[] } {
  const rows = sqlite
    .prepare(`SELECT type, sql FROM main.sqlite_master WHERE tbl_name IN (${tableCopies.map(() => '?').join(', ')}) AND sql IS NOT NULL`)
    .all(...tableCopies.map((table) => table.name)) as { type: string; sql: string }[];
  const tables = rows.filter((row) => row.type === 'table').map((row) => row.sql);
  const indexes = rows.filter((row) => row.type === 'index').map((row) => row.sql);
  assert(tables.length === tableCopies.length, 'meta.db lacks a metadata table: were the migrations applied?');
  return { tables, indexes };
}

function withAttached<T>(sqlite: Database.Database, path: string, body: () => T): T {
  sqlite.prepare(`ATTACH DATABASE ? AS ${attachedAs}`).run(path);
  try {
    return body();
  } finally {
    sqlite.prepare(`DETACH DATABASE ${attachedAs}`).run();
  }
}

/**
 * Writes the metadata tables as they are now into a new file at `path`, durably. Synchronous on
 * the node's one connection, so nothing can apply in between: the copy is consistent.
 */
export function writeMetadataSnapshot(sqlite: Database.Database, path: string): void {
  copyMetadataInto(sqlite, path);
}

/**
 * Copies the metadata tables into a new file at `path` and fsyncs it; returns the applied index
 * the copy is as of. The rows are read in one transaction, so on a second connection to meta.db
 * (a WAL reader, as the background snapshot uses) the copy is one consistent state even while
 * the node's own connection goes on applying.
 */
export function copyMetadataInto(sqlite: Database.Database, path: string): number {
  assert(!existsSync(path), `snapshot target ${path} already exists`);
  const { tables, indexes } = schemaStatements(sqlite);
  const target = new Database(path);
  try {
    // A rollback journal, not WAL: the file must be complete on its own when it is shipped.
    target.pragma('journal_mode = DELETE');
    target.pragma(`user_version = ${metadataSnapshotFormat}`);
    for (const statement of tables) target.exec(statement);
  } finally {
    target.close();
  }
  const appliedIndex = withAttached(sqlite, path, () =>
    sqlite.transaction(() => {
      for (const { name, columns } of tableCopies) {
        sqlite.prepare(`INSERT INTO ${attachedAs}.${quoted(name)} (${columns}) SELECT ${columns} FROM main.${quoted(name)}`).run();
      }
      const row = sqlite.prepare(`SELECT applied_index FROM ${attachedAs}.applied_state WHERE id = ?`).get(appliedStateId) as
        | { applied_index: number }
        | undefined;
      assert(row !== undefined, 'meta.db has no applied_state row to snapshot');
      return row.applied_index;
    }).deferred(),
  );
  // Indexes after the rows: one sort each instead of row-by-row maintenance.
  const finish = new Database(path);
  try {
    for (const statement of indexes) finish.exec(statement);
  } finally {
    finish.close();
  }
  fsyncPathSync(path);
  return appliedIndex;
}

/** A snapshot file this node cannot restore: corrupt, of another format, or not what its meta says. */
export class InvalidSnapshotError extends Error {
  override readonly name = 'InvalidSnapshotError';
}

/**
 * Checks everything a restore needs from a snapshot file, without changing anything: that it is
 * an intact SQLite file (quick_check), of the format this node reads, holding every metadata
 * table with every column, as of `meta.index`. Run on bytes received from a leader before the
 * core may adopt them: a bad file is refused then, never discovered after it replaced the log.
 */
export function validateMetadataSnapshot(path: string, meta: Pick<SnapshotMeta, 'index'>, options: { readonly integrity?: boolean } = {}): void {
  let source: Database.Database;
  try {
    source = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new InvalidSnapshotError(`snapshot file cannot be opened: ${(err as Error).message}`);
  }
  try {
    const format = source.pragma('user_version', { simple: true });
    if (!readableSnapshotFormats.includes(format as number)) {
      throw new InvalidSnapshotError(`snapshot format ${String(format)}, this node reads formats ${readableSnapshotFormats.join(', ')}`);
    }
    const check = options.integrity === false ? 'ok' : source.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new InvalidSnapshotError(`snapshot file is damaged: ${String(check)}`);
    for (const { name, columns } of tableCopies) {
      const present = new Set((source.pragma(`table_info(${quoted(name)})`) as { name: string }[]).map((column) => `"${column.name}"`));
      const absent = absentInFormat(format as number, name);
      if (absent === '*') continue;
      const missing = columns.split(', ').filter((column) => !present.has(column) && !absent.includes(column));
      if (missing.length > 0) throw new InvalidSnapshotError(`snapshot table ${name} lacks ${missing.join(', ')}`);
    }
    const row = source.prepare('SELECT applied_index FROM applied_state WHERE id = ?').get(appliedStateId) as
      | { applied_index: unknown }
      | undefined;
    if (row === undefined) throw new InvalidSnapshotError('the snapshot has no applied state');
    if (row.applied_index !== meta.index) {
      throw new InvalidSnapshotError(`the snapshot is as of index ${String(row.applied_index)}, its message says ${meta.index}`);
    }
  } catch (err) {
    if (err instanceof InvalidSnapshotError) throw err;
    // SQLite's own refusals: not a database, malformed image, …
    throw new InvalidSnapshotError(`snapshot file is not a readable database: ${(err as Error).message}`);
  } finally {
    source.close();
  }
}

/** validateMetadataSnapshot's verdict as a reason, or null when the file can be restored. */
export function metadataSnapshotProblem(path: string, meta: Pick<SnapshotMeta, 'index'>): string | null {
  try {
    validateMetadataSnapshot(path, meta);
    return null;
  } catch (err) {
    if (err instanceof InvalidSnapshotError) return err.message;
    throw err;
  }
}

/**
 * Checks a snapshot file before anything is deleted. Its pages were checked (quick_check) when it
 * arrived or were written here, so this reads only what a restore depends on: format, tables,
 * applied index; not the whole file a second time.
 */
function checkSnapshotFile(path: string, meta: SnapshotMeta): void {
  assert(existsSync(path), `snapshot file ${path} is missing`);
  try {
    validateMetadataSnapshot(path, meta, { integrity: false });
  } catch (err) {
    if (!(err instanceof InvalidSnapshotError)) throw err;
    assert(false, `${path}: ${err.message}`);
  }
}

/** The columns the attached snapshot has of `table` (none when an older format lacks the table). */
function snapshotColumns(sqlite: Database.Database, table: string): Set<string> {
  const rows = sqlite.prepare(`SELECT name FROM pragma_table_info(?, '${attachedAs}')`).pluck().all(table) as string[];
  return new Set(rows);
}

/** Replaces every metadata row with the snapshot's, in one transaction; Raft tables untouched. */
export function restoreMetadataSnapshot(sqlite: Database.Database, path: string, meta: SnapshotMeta): void {
  checkSnapshotFile(path, meta);
  withAttached(sqlite, path, () => {
    sqlite.transaction(() => {
      for (const { name, columns } of tableCopies) {
        sqlite.prepare(`DELETE FROM main.${quoted(name)}`).run();
        // Columns an older format lacks take their defaults (null; false for delete_marker, 'Enabled' for versioning).
        const present = snapshotColumns(sqlite, name);
        const shared = columns.split(', ').filter((column) => present.has(column.slice(1, -1))).join(', ');
        if (shared === '') continue;
        sqlite.prepare(`INSERT INTO main.${quoted(name)} (${shared}) SELECT ${shared} FROM ${attachedAs}.${quoted(name)}`).run();
      }
    }).immediate();
  });
}

