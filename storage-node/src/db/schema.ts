// The one drizzle schema of a node's meta.db. drizzle-kit generates the migrations in
// storage-node/drizzle/ from this file; add the state machine's tables here, grouped by owner.
import { sql } from 'drizzle-orm';
import { blob, check, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { EntryType, Membership } from '../raft/types.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';

// ---- Raft durable state (storage-node/src/raft-storage) ----

const entryTypes = ['normal', 'noop', 'config'] as const satisfies readonly EntryType[];

/** Term, vote and commit (paper figure 2). One row, id 1; no row means a fresh node. */
export const raftHardState = sqliteTable(
  'raft_hard_state',
  {
    id: integer('id').primaryKey(),
    term: integer('term').notNull(),
    vote: text('vote'),
    commit: integer('commit').notNull(),
  },
  (t) => [check('raft_hard_state_single_row', sql`${t.id} = 1`)],
);

/** The log after the latest snapshot. `index` is the rowid, so range deletes are cheap. */
export const raftLog = sqliteTable(
  'raft_log',
  {
    index: integer('index').primaryKey(),
    term: integer('term').notNull(),
    type: text('type', { enum: entryTypes }).notNull(),
    data: text('data').notNull(),
  },
  (t) => [check('raft_log_type', sql`${t.type} IN ('normal', 'noop', 'config')`)],
);

/** Which log prefix the latest snapshot replaces. One row, id 1; no row means no snapshot. */
export const raftSnapshot = sqliteTable(
  'raft_snapshot',
  {
    id: integer('id').primaryKey(),
    index: integer('index').notNull(),
    term: integer('term').notNull(),
    membership: text('membership', { mode: 'json' }).$type<Membership>().notNull(),
  },
  (t) => [check('raft_snapshot_single_row', sql`${t.id} = 1`)],
);

// ---- File metadata state machine (storage-node/src/metadata) ----
// Names compare with SQLite's BINARY collation, i.e. as UTF-8 bytes: listing order is byte order.

/**
 * One row per name ever written. `current_version` is null while the file is deleted (no kept
 * version, or the newest kept one is a delete marker); the row stays so that `last_version` keeps
 * counting and a version number never names two contents.
 */
export const files = sqliteTable(
  'files',
  {
    name: text('name').primaryKey(),
    currentVersion: integer('current_version'),
    lastVersion: integer('last_version').notNull(),
  },
  (t) => [
    // Listing walks live names only, in order, without stepping over deleted ones.
    index('files_live_by_name').on(t.name, t.currentVersion).where(sql`current_version IS NOT NULL`),
    // The current version is the newest one kept: the last one written, or an older one once
    // newer ones were deleted one by one (S3's DeleteObject with a versionId). Never a delete
    // marker: when the newest kept version is one, current_version is null.
    check('files_versions', sql`${t.lastVersion} >= 1 AND (${t.currentVersion} IS NULL OR (${t.currentVersion} >= 1 AND ${t.currentVersion} <= ${t.lastVersion}))`),
  ],
);

/**
 * The kept versions of each file (the newest `keepVersions`, delete markers included); a plain
 * delete deletes them all, a delete that keeps the history adds a delete marker.
 */
export const fileVersions = sqliteTable(
  'file_versions',
  {
    name: text('name').notNull(),
    version: integer('version').notNull(),
    size: integer('size').notNull(),
    contentType: text('content_type').notNull(),
    /** Hex SHA-256 of the whole content. */
    etag: text('etag').notNull(),
    /**
     * S3's ETag of this version, unquoted: the hex MD5 of the content (a put that computed it), or
     * `<hex MD5 of the parts' binary MD5s>-<parts>` (a completed multipart upload). Null for rows
     * written before it existed and for native puts that did not ask for it: S3 then answers the
     * SHA-256 `etag`.
     */
    s3Etag: text('s3_etag'),
    /** JSON array of chunk hashes, in content order. */
    chunks: text('chunks', { mode: 'json' }).$type<string[]>().notNull(),
    /** JSON array of chunk sizes (same order), or null when the entry did not carry them. */
    chunkSizes: text('chunk_sizes', { mode: 'json' }).$type<number[]>(),
    /**
     * JSON object of the headers kept with the version (shared/object-headers.ts: Cache-Control,
     * Content-Disposition, Content-Encoding, Content-Language, Expires, user metadata); null when
     * it has none.
     */
    headers: text('headers', { mode: 'json' }).$type<ObjectHeaders>(),
    /**
     * JSON array of the sizes of the parts of a completed multipart upload, in order (they fall on
     * chunk boundaries: S3's GetObject with partNumber); null for a version written in one piece.
     */
    partSizes: text('part_sizes', { mode: 'json' }).$type<number[]>(),
    /** The HLC stamp of the entry that wrote it (shared/hlc.ts encoding). */
    hlc: text('hlc').notNull(),
    /** The HLC's wall time, ms since the epoch: Last-Modified. */
    modifiedMs: integer('modified_ms').notNull(),
    /**
     * A delete marker (S3's): the name was deleted at this version, its older versions kept
     * behind it. Size 0, no chunks, empty etag and content type; never a current version.
     */
    deleteMarker: integer('delete_marker', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.name, t.version] }),
    check('file_versions_version', sql`${t.version} >= 1`),
    check('file_versions_size', sql`${t.size} >= 0`),
  ],
);

/**
 * How many references kept versions and the parts of multipart uploads in progress make to each
 * chunk (a chunk twice in one version counts twice). A row at 0 records since when (the HLC wall time of the entry that dropped it), so the
 * collector can wait out a grace period; the collector deletes the row with the blob.
 */
export const chunkRefs = sqliteTable(
  'chunk_refs',
  {
    hash: text('hash').primaryKey(),
    refcount: integer('refcount').notNull(),
    /** Bytes; null until an entry that carries chunk sizes mentions the chunk. */
    size: integer('size'),
    zeroSinceMs: integer('zero_since_ms'),
  },
  (t) => [
    index('chunk_refs_unreferenced').on(t.zeroSinceMs).where(sql`refcount = 0`),
    check('chunk_refs_refcount', sql`${t.refcount} >= 0`),
    check('chunk_refs_zero_since', sql`(${t.refcount} = 0) = (${t.zeroSinceMs} IS NOT NULL)`),
  ],
);

/**
 * Small content kept in meta.db instead of a blob file (up to --inline-max bytes): it arrived
 * inside the put entry that created its first version. Content-addressed like a chunk (keyed by
 * the SHA-256 of its bytes, which is also the version's etag) and counted per kept version that
 * refers to it; the row is deleted at apply time when the count reaches 0, alike on every node.
 */
export const inlineContents = sqliteTable(
  'inline_contents',
  {
    hash: text('hash').primaryKey(),
    content: blob('content', { mode: 'buffer' }).notNull(),
    refcount: integer('refcount').notNull(),
  },
  (t) => [check('inline_contents_refcount', sql`${t.refcount} >= 1`)],
);

export const bucketVersioningStates = ['Enabled', 'Suspended'] as const;
export type BucketVersioning = (typeof bucketVersioningStates)[number];

/**
 * S3 buckets (the S3 API of the gateway): a bucket is the first segment of file names, and it
 * exists once created. Deleting one is refused while a live file has the prefix `<bucket>/`.
 */
export const buckets = sqliteTable('buckets', {
  name: text('name').primaryKey(),
  /** The HLC wall time of the entry that created it, ms since the epoch. */
  createdMs: integer('created_ms').notNull(),
  /**
   * S3's versioning state (PutBucketVersioning): 'Enabled', a DeleteObject leaves a delete
   * marker; 'Suspended', it ends the key's history as the native delete does.
   */
  versioning: text('versioning', { enum: bucketVersioningStates }).notNull().default('Enabled'),
});

/**
 * S3 multipart uploads in progress (gateway/src/s3/multipart.ts): created by one entry, ended by
 * a complete (the parts become a version of `name`), an abort, or the expiry of old uploads.
 */
export const multipartUploads = sqliteTable(
  'multipart_uploads',
  {
    uploadId: text('upload_id').primaryKey(),
    /** The file the upload becomes: `<bucket>/<key>`. */
    name: text('name').notNull(),
    /** The S3 bucket it must be in (when created, and when completed). */
    bucket: text('bucket').notNull(),
    contentType: text('content_type').notNull(),
    /** The headers the completed version keeps (as file_versions.headers); null when none. */
    headers: text('headers', { mode: 'json' }).$type<ObjectHeaders>(),
    /** The HLC wall time of the entry that created it, ms since the epoch: for the expiry. */
    createdMs: integer('created_ms').notNull(),
  },
  (t) => [
    // ListMultipartUploads: by name, then upload id.
    index('multipart_uploads_by_name').on(t.name, t.uploadId),
    // The expiry: oldest first.
    index('multipart_uploads_by_created').on(t.createdMs, t.uploadId),
  ],
);

/**
 * The parts of the uploads in progress, one per (upload, part number): a newer part with the same
 * number replaces the row. Each holds a reference (chunk_refs) on each of its chunks, so the
 * collector leaves them until the upload is completed (the version takes its own references),
 * aborted or expired.
 */
export const multipartParts = sqliteTable(
  'multipart_parts',
  {
    uploadId: text('upload_id').notNull(),
    partNumber: integer('part_number').notNull(),
    size: integer('size').notNull(),
    /** Hex MD5 of the part's bytes: its S3 ETag. */
    md5: text('md5').notNull(),
    /** Hex SHA-256 of the part's bytes. */
    sha256: text('sha256').notNull(),
    /** JSON array of chunk hashes, in content order. */
    chunks: text('chunks', { mode: 'json' }).$type<string[]>().notNull(),
    /** JSON array of chunk sizes, same order. */
    chunkSizes: text('chunk_sizes', { mode: 'json' }).$type<number[]>().notNull(),
    /** The HLC wall time of the entry that stored it. */
    modifiedMs: integer('modified_ms').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.uploadId, t.partNumber] }),
    check('multipart_parts_number', sql`${t.partNumber} >= 1 AND ${t.partNumber} <= 10000`),
    check('multipart_parts_size', sql`${t.size} >= 0`),
  ],
);

/**
 * The state machine's bookkeeping, one row (id 1), written in the same transaction as every
 * change: the applied index (exactly-once apply), live totals for /status, the latest HLC stamp.
 */
export const appliedState = sqliteTable(
  'applied_state',
  {
    id: integer('id').primaryKey(),
    appliedIndex: integer('applied_index').notNull(),
    liveFiles: integer('live_files').notNull(),
    liveBytes: integer('live_bytes').notNull(),
    lastHlc: text('last_hlc'),
  },
  (t) => [
    check('applied_state_single_row', sql`${t.id} = 1`),
    check('applied_state_totals', sql`${t.liveFiles} >= 0 AND ${t.liveBytes} >= 0`),
  ],
);

/** Results of recent entries that carried a requestId, so a retried request is applied once. */
export const clientRequests = sqliteTable(
  'client_requests',
  {
    requestId: text('request_id').primaryKey(),
    /** The entry's result, JSON. */
    result: text('result').notNull(),
    appliedIndex: integer('applied_index').notNull(),
    /** Wall time (ms) of the latest HLC stamp applied when this request was: for the time window. */
    appliedWallMs: integer('applied_wall_ms').notNull().default(0),
    /**
     * What the request was (op, name, content hash, preconditions), hashed: the same key with a
     * different request is refused. Null for rows written before fingerprints existed.
     */
    fingerprint: text('fingerprint'),
  },
  (t) => [index('client_requests_by_applied_index').on(t.appliedIndex)],
);

/**
 * Cluster-wide settings changed at runtime through Raft (`dfs cluster set …`): name → JSON value.
 * A setting without a row has its default (placement/settings.ts).
 */
export const clusterSettings = sqliteTable('cluster_settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
});

/**
 * Access keys created at runtime (`POST /admin/keys`), besides the root key of the environment:
 * every gateway and node accepts requests signed with a live one. The secret is kept as is, for a
 * SigV4 signature is an HMAC keyed by it; it is answered once, when created, and afterwards only
 * to the admin-token-holding gateways (`GET /admin/keys?secrets=1`). Revoking deletes the row.
 */
export const accessKeys = sqliteTable('access_keys', {
  accessKeyId: text('access_key_id').primaryKey(),
  secretAccessKey: text('secret_access_key').notNull(),
  /** The HLC wall time of the entry that created it, ms since the epoch. */
  createdMs: integer('created_ms').notNull(),
});
