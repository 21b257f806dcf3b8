// A digest of the replicated metadata, so that replicas can be compared from outside: two nodes
// at the same applied index must give the same digest. Rows are read in pages (keyset order), so
// memory does not grow with the store; the route's version reads them on a connection of its own
// inside one read transaction, yielding to the event loop between pages: WAL keeps that
// transaction's view fixed while the node applies entries, so the digest describes exactly one
// applied index however long the scan takes.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';

export interface MetadataDigest {
  readonly appliedIndex: number;
  readonly digest: string;
  readonly files: number;
  readonly versions: number;
}

/** Rows read per page: small, as one version row of a huge file lists thousands of chunks. */
export const digestPageRows = 64;
/** Milliseconds of pages read in one event-loop turn before the scan yields. */
export const digestTurnBudgetMs = 4;

interface Counts {
  files: number;
  versions: number;
}

// Each section: the rows in one total order, read from just after the last row of the previous
// page. The hashed text of a row is its JSON array of columns, prefixed by the section's letter.
function* digestPages(sqlite: Database.Database, hash: Hash, counts: Counts, pageRows: number): Generator<void, void, undefined> {
  const filesPage = sqlite.prepare('SELECT name, current_version, last_version FROM files WHERE name > ? ORDER BY name LIMIT ?').raw();
  let afterName = '';
  for (;;) {
    const rows = filesPage.all(afterName, pageRows) as [string, number | null, number][];
    for (const row of rows) hash.update(`f\0${JSON.stringify(row)}\n`);
    counts.files += rows.length;
    if (rows.length < pageRows) break;
    afterName = rows[rows.length - 1][0];
    yield;
  }
  const versionsPage = sqlite
    .prepare('SELECT name, version, size, content_type, etag, chunks, chunk_sizes, hlc, s3_etag, headers, part_sizes, delete_marker FROM file_versions WHERE (name, version) > (?, ?) ORDER BY name, version LIMIT ?')
    .raw();
  let after: [string, number] = ['', 0];
  for (;;) {
    const rows = versionsPage.all(after[0], after[1], pageRows) as [string, number, ...unknown[]][];
    // delete_marker only when set: a version's row hashes as it did before markers existed.
    for (const row of rows) hash.update(`v\0${JSON.stringify(row[row.length - 1] === 1 ? row : row.slice(0, -1))}\n`);
    counts.versions += rows.length;
    if (rows.length < pageRows) break;
    const last = rows[rows.length - 1];
    after = [last[0], last[1]];
    yield;
  }
  // Referenced chunks only: rows at refcount 0 wait for each node's own garbage collector.
  const chunksPage = sqlite.prepare('SELECT hash, refcount FROM chunk_refs WHERE refcount > 0 AND hash > ? ORDER BY hash LIMIT ?').raw();
  let afterHash = '';
  for (;;) {
    const rows = chunksPage.all(afterHash, pageRows) as [string, number][];
    for (const row of rows) hash.update(`c\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    afterHash = rows[rows.length - 1][0];
    yield;
  }
  // Inline content by hash: its reference count and length (the hash names the bytes).
  const inlinePage = sqlite.prepare('SELECT hash, refcount, length(content) FROM inline_contents WHERE hash > ? ORDER BY hash LIMIT ?').raw();
  let afterInline = '';
  for (;;) {
    const rows = inlinePage.all(afterInline, pageRows) as [string, number, number][];
    for (const row of rows) hash.update(`i\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    afterInline = rows[rows.length - 1][0];
    yield;
  }
  // S3 buckets: few, but replicated like the rest.
  const bucketsPage = sqlite.prepare('SELECT name, created_ms, versioning FROM buckets WHERE name > ? ORDER BY name LIMIT ?').raw();
  let afterBucket = '';
  for (;;) {
    const rows = bucketsPage.all(afterBucket, pageRows) as [string, number, string][];
    // The versioning state only when not the default: a bucket hashes as it did before it existed.
    for (const row of rows) hash.update(`b\0${JSON.stringify(row[2] === 'Enabled' ? row.slice(0, 2) : row)}\n`);
    if (rows.length < pageRows) break;
    afterBucket = rows[rows.length - 1][0];
    yield;
  }

  // S3 multipart uploads in progress and their parts (the parts' chunks are in chunk_refs above).
  const uploadsPage = sqlite.prepare('SELECT upload_id, name, bucket, content_type, created_ms, headers FROM multipart_uploads WHERE upload_id > ? ORDER BY upload_id LIMIT ?').raw();
  let afterUpload = '';
  for (;;) {
    const rows = uploadsPage.all(afterUpload, pageRows) as [string, ...unknown[]][];
    for (const row of rows) hash.update(`u\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    afterUpload = rows[rows.length - 1][0];
    yield;
  }
  const partsPage = sqlite
    .prepare('SELECT upload_id, part_number, size, md5, sha256, chunks, chunk_sizes, modified_ms FROM multipart_parts WHERE (upload_id, part_number) > (?, ?) ORDER BY upload_id, part_number LIMIT ?')
    .raw();
  let afterPart: [string, number] = ['', 0];
  for (;;) {
    const rows = partsPage.all(afterPart[0], afterPart[1], pageRows) as [string, number, ...unknown[]][];
    for (const row of rows) hash.update(`p\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    const last = rows[rows.length - 1];
    afterPart = [last[0], last[1]];
    yield;
  }
  // Access keys: few; the secret is hashed with the rest (replicas must hold the same secret).
  const keysPage = sqlite.prepare('SELECT access_key_id, secret_access_key, created_ms FROM access_keys WHERE access_key_id > ? ORDER BY access_key_id LIMIT ?').raw();
  let afterKey = '';
  for (;;) {
    const rows = keysPage.all(afterKey, pageRows) as [string, ...unknown[]][];
    for (const row of rows) hash.update(`k\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    afterKey = rows[rows.length - 1][0];
    yield;
  }
  // Cluster settings (replication, members marked down): placement is computed from them, so
  // two replicas that disagree here store chunks in different places. A store without rows
  // (nothing ever set) hashes as it did before the section existed.
  const settingsPage = sqlite.prepare('SELECT name, value FROM cluster_settings WHERE name > ? ORDER BY name LIMIT ?').raw();
  let afterSetting = '';
  for (;;) {
    const rows = settingsPage.all(afterSetting, pageRows) as [string, string][];
    for (const row of rows) hash.update(`s\0${JSON.stringify(row)}\n`);
    if (rows.length < pageRows) break;
    afterSetting = rows[rows.length - 1][0];
    yield;
  }
}

function appliedIndex(sqlite: Database.Database): number {
  return (sqlite.prepare('SELECT applied_index FROM applied_state').pluck().get() as number | undefined) ?? 0;
}

/** In one synchronous read on `sqlite` (tests, in-memory stores). */
export function metadataDigest(sqlite: Database.Database, pageRows = digestPageRows): MetadataDigest {
  const hash = createHash('sha256');
  const counts: Counts = { files: 0, versions: 0 };
  const applied = sqlite.transaction(() => {
    const index = appliedIndex(sqlite);
    for (const _ of digestPages(sqlite, hash, counts, pageRows));
    return index;
  })();
  return { appliedIndex: applied, digest: hash.digest('hex'), ...counts };
}

/**
 * The same digest, read from the database file `file` (in WAL mode) on a read-only connection
 * of its own, in one read transaction, yielding to the event loop whenever a turn's pages took
 * `turnBudgetMs` (0: after every page).
 */
export async function metadataDigestYielding(file: string, pageRows = digestPageRows, turnBudgetMs = digestTurnBudgetMs): Promise<MetadataDigest> {
  const reader = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const hash = createHash('sha256');
    const counts: Counts = { files: 0, versions: 0 };
    reader.exec('BEGIN');
    // The first read fixes the transaction's view of the WAL: every page below sees this index.
    const applied = appliedIndex(reader);
    let turnStart = performance.now();
    for (const _ of digestPages(reader, hash, counts, pageRows)) {
      if (performance.now() - turnStart < turnBudgetMs) continue;
      await nextTurn();
      turnStart = performance.now();
    }
    reader.exec('COMMIT');
    return { appliedIndex: applied, digest: hash.digest('hex'), ...counts };
  } finally {
    reader.close();
  }
}
