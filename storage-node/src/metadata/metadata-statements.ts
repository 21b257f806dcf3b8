// Every query of the metadata state machine, prepared once. Rows come back through drizzle's
// column mapping; JSON columns are written as explicit JSON text (`jsonText`) because drizzle
// would encode a null placeholder as the string 'null' rather than SQL NULL.
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, lte, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { MetaDb } from '../db/open-database.ts';
import { appliedState, buckets, chunkRefs, clientRequests, fileVersions, files, inlineContents } from '../db/schema.ts';

/** The single row of applied_state has this id (a CHECK enforces it). */
export const appliedStateId = 1;

const placeholder = (name: string) => sql.placeholder(name);
/** A placeholder passed to SQLite as is, bypassing the column's encoder. */
const jsonText = (name: string): SQL => sql`${sql.placeholder(name)}`;

const versionColumns = {
  name: fileVersions.name,
  version: fileVersions.version,
  size: fileVersions.size,
  contentType: fileVersions.contentType,
  etag: fileVersions.etag,
  s3Etag: fileVersions.s3Etag,
  chunks: fileVersions.chunks,
  chunkSizes: fileVersions.chunkSizes,
  headers: fileVersions.headers,
  partSizes: fileVersions.partSizes,
  hlc: fileVersions.hlc,
  modifiedMs: fileVersions.modifiedMs,
  deleteMarker: fileVersions.deleteMarker,
};

const listColumns = {
  name: files.name,
  version: fileVersions.version,
  size: fileVersions.size,
  contentType: fileVersions.contentType,
  etag: fileVersions.etag,
  s3Etag: fileVersions.s3Etag,
  modifiedMs: fileVersions.modifiedMs,
};

export type ListLowerBound = 'inclusive' | 'exclusive';

function prepareListing(db: MetaDb, lower: ListLowerBound, bounded: boolean) {
  const from = placeholder('from');
  return db
    .select(listColumns)
    .from(files)
    .innerJoin(fileVersions, and(eq(fileVersions.name, files.name), eq(fileVersions.version, files.currentVersion)))
    .where(
      and(
        isNotNull(files.currentVersion),
        lower === 'inclusive' ? gte(files.name, from) : gt(files.name, from),
        bounded ? lt(files.name, placeholder('upper')) : undefined,
      ),
    )
    .orderBy(asc(files.name))
    .limit(placeholder('limit'))
    .prepare();
}

/** Names with at least one kept version (delete markers count), in order: S3's ListObjectVersions. */
function prepareNamesWithVersions(db: MetaDb, lower: ListLowerBound, bounded: boolean) {
  const from = placeholder('from');
  return db
    .selectDistinct({ name: fileVersions.name })
    .from(fileVersions)
    .where(
      and(
        lower === 'inclusive' ? gte(fileVersions.name, from) : gt(fileVersions.name, from),
        bounded ? lt(fileVersions.name, placeholder('upper')) : undefined,
      ),
    )
    .orderBy(asc(fileVersions.name))
    .limit(placeholder('limit'))
    .prepare();
}

export function prepareMetadataStatements(db: MetaDb) {
  const name = placeholder('name');
  const version = placeholder('version');
  const hash = placeholder('hash');
  return {
    // ---- applied_state ----
    appliedState: db.select().from(appliedState).where(eq(appliedState.id, appliedStateId)).prepare(),
    createAppliedState: db
      .insert(appliedState)
      .values({ id: appliedStateId, appliedIndex: 0, liveFiles: 0, liveBytes: 0, lastHlc: null })
      .onConflictDoNothing()
      .prepare(),
    updateAppliedState: db
      .update(appliedState)
      .set({
        appliedIndex: sql`${placeholder('appliedIndex')}`,
        liveFiles: sql`${placeholder('liveFiles')}`,
        liveBytes: sql`${placeholder('liveBytes')}`,
        lastHlc: sql`${placeholder('lastHlc')}`,
      })
      .where(eq(appliedState.id, appliedStateId))
      .prepare(),

    // ---- files and versions ----
    file: db
      .select({ currentVersion: files.currentVersion, lastVersion: files.lastVersion })
      .from(files)
      .where(eq(files.name, name))
      .prepare(),
    upsertCurrentVersion: db
      .insert(files)
      .values({ name, currentVersion: version, lastVersion: version })
      .onConflictDoUpdate({
        target: files.name,
        set: { currentVersion: sql`excluded.current_version`, lastVersion: sql`excluded.last_version` },
      })
      .prepare(),
    markDeleted: db.update(files).set({ currentVersion: null }).where(eq(files.name, name)).prepare(),
    /** A delete marker became the newest version `version`: the name is deleted, its history kept. */
    markDeletedAt: db.update(files).set({ currentVersion: null, lastVersion: sql`${version}` }).where(eq(files.name, name)).prepare(),
    setCurrentVersion: db.update(files).set({ currentVersion: sql`${version}` }).where(eq(files.name, name)).prepare(),
    deleteVersion: db
      .delete(fileVersions)
      .where(and(eq(fileVersions.name, name), eq(fileVersions.version, version)))
      .prepare(),
    version: db
      .select(versionColumns)
      .from(fileVersions)
      .where(and(eq(fileVersions.name, name), eq(fileVersions.version, version)))
      .prepare(),
    versionsNewestFirst: db
      .select(versionColumns)
      .from(fileVersions)
      .where(eq(fileVersions.name, name))
      .orderBy(desc(fileVersions.version))
      .prepare(),
    newestVersion: db
      .select({ version: fileVersions.version, size: fileVersions.size, deleteMarker: fileVersions.deleteMarker })
      .from(fileVersions)
      .where(eq(fileVersions.name, name))
      .orderBy(desc(fileVersions.version))
      .limit(1)
      .prepare(),
    /** Every kept version of the names in [from, upper): the history a bucket's delete drops. */
    versionsInRange: db
      .select({ name: fileVersions.name, version: fileVersions.version, size: fileVersions.size, etag: fileVersions.etag, chunks: fileVersions.chunks })
      .from(fileVersions)
      .where(and(gte(fileVersions.name, placeholder('from')), lt(fileVersions.name, placeholder('upper'))))
      .orderBy(asc(fileVersions.name), asc(fileVersions.version))
      .limit(placeholder('limit'))
      .prepare(),
    /** Versions at or below `version`: the ones a put prunes. */
    versionsThrough: db
      .select({ version: fileVersions.version, size: fileVersions.size, etag: fileVersions.etag, chunks: fileVersions.chunks })
      .from(fileVersions)
      .where(and(eq(fileVersions.name, name), lte(fileVersions.version, version)))
      .prepare(),
    insertVersion: db
      .insert(fileVersions)
      .values({
        name,
        version,
        size: placeholder('size'),
        contentType: placeholder('contentType'),
        etag: placeholder('etag'),
        s3Etag: placeholder('s3Etag'),
        chunks: jsonText('chunks'),
        chunkSizes: jsonText('chunkSizes'),
        headers: jsonText('headers'),
        partSizes: jsonText('partSizes'),
        hlc: placeholder('hlc'),
        modifiedMs: placeholder('modifiedMs'),
        // 0 or 1, as SQLite stores the boolean.
        deleteMarker: sql`${placeholder('deleteMarker')}`,
      })
      .prepare(),
    deleteVersionsThrough: db
      .delete(fileVersions)
      .where(and(eq(fileVersions.name, name), lte(fileVersions.version, version)))
      .prepare(),
    listing: {
      'inclusive-bounded': prepareListing(db, 'inclusive', true),
      'inclusive-unbounded': prepareListing(db, 'inclusive', false),
      'exclusive-bounded': prepareListing(db, 'exclusive', true),
      'exclusive-unbounded': prepareListing(db, 'exclusive', false),
    } satisfies Record<`${ListLowerBound}-${'bounded' | 'unbounded'}`, unknown>,
    namesWithVersions: {
      'inclusive-bounded': prepareNamesWithVersions(db, 'inclusive', true),
      'inclusive-unbounded': prepareNamesWithVersions(db, 'inclusive', false),
      'exclusive-bounded': prepareNamesWithVersions(db, 'exclusive', true),
      'exclusive-unbounded': prepareNamesWithVersions(db, 'exclusive', false),
    } satisfies Record<`${ListLowerBound}-${'bounded' | 'unbounded'}`, unknown>,

    // ---- chunk_refs ----
    addChunkRef: db
      .insert(chunkRefs)
      .values({ hash, refcount: 1, size: placeholder('size'), zeroSinceMs: null })
      .onConflictDoUpdate({
        target: chunkRefs.hash,
        set: {
          refcount: sql`${chunkRefs.refcount} + 1`,
          size: sql`coalesce(${chunkRefs.size}, excluded.size)`,
          zeroSinceMs: null,
        },
      })
      .prepare(),
    dropChunkRef: db
      .update(chunkRefs)
      .set({
        refcount: sql`${chunkRefs.refcount} - 1`,
        zeroSinceMs: sql`CASE WHEN ${chunkRefs.refcount} = 1 THEN ${placeholder('nowMs')} ELSE NULL END`,
      })
      .where(eq(chunkRefs.hash, hash))
      .returning({ refcount: chunkRefs.refcount })
      .prepare(),
    chunkRef: db.select().from(chunkRefs).where(eq(chunkRefs.hash, hash)).prepare(),
    unreferencedChunks: db
      .select({ hash: chunkRefs.hash, size: chunkRefs.size, zeroSinceMs: chunkRefs.zeroSinceMs })
      .from(chunkRefs)
      // A literal 0, not a parameter, so that SQLite sees the partial index chunk_refs_unreferenced applies.
      .where(and(sql`${chunkRefs.refcount} = 0`, lte(chunkRefs.zeroSinceMs, placeholder('beforeMs'))))
      .orderBy(asc(chunkRefs.zeroSinceMs))
      .limit(placeholder('limit'))
      .prepare(),
    referencedChunks: db
      .select({ hash: chunkRefs.hash, size: chunkRefs.size })
      .from(chunkRefs)
      .where(and(gt(chunkRefs.hash, placeholder('after')), gt(chunkRefs.refcount, 0)))
      .orderBy(asc(chunkRefs.hash))
      .limit(placeholder('limit'))
      .prepare(),
    forgetChunk: db
      .delete(chunkRefs)
      .where(and(eq(chunkRefs.hash, hash), eq(chunkRefs.refcount, 0)))
      .prepare(),

    // ---- inline_contents ----
    addInlineRef: db
      .insert(inlineContents)
      .values({ hash, content: placeholder('content'), refcount: 1 })
      .onConflictDoUpdate({ target: inlineContents.hash, set: { refcount: sql`${inlineContents.refcount} + 1` } })
      .prepare(),
    /** Deletes the row when this was its last reference; otherwise changes nothing (see dropInlineRef). */
    deleteLastInlineRef: db
      .delete(inlineContents)
      .where(and(eq(inlineContents.hash, hash), eq(inlineContents.refcount, 1)))
      .prepare(),
    dropInlineRef: db
      .update(inlineContents)
      .set({ refcount: sql`${inlineContents.refcount} - 1` })
      .where(and(eq(inlineContents.hash, hash), gt(inlineContents.refcount, 1)))
      .prepare(),
    inlineContent: db.select({ content: inlineContents.content }).from(inlineContents).where(eq(inlineContents.hash, hash)).prepare(),

    // ---- buckets ----
    bucket: db.select().from(buckets).where(eq(buckets.name, name)).prepare(),
    allBuckets: db.select().from(buckets).orderBy(asc(buckets.name)).prepare(),
    insertBucket: db.insert(buckets).values({ name, createdMs: placeholder('createdMs') }).prepare(),
    deleteBucket: db.delete(buckets).where(eq(buckets.name, name)).prepare(),
    setBucketVersioning: db.update(buckets).set({ versioning: sql`${placeholder('versioning')}` }).where(eq(buckets.name, name)).prepare(),

    // ---- client_requests ----
    request: db
      .select({
        result: clientRequests.result,
        appliedIndex: clientRequests.appliedIndex,
        appliedWallMs: clientRequests.appliedWallMs,
        fingerprint: clientRequests.fingerprint,
      })
      .from(clientRequests)
      .where(eq(clientRequests.requestId, placeholder('requestId')))
      .prepare(),
    upsertRequest: db
      .insert(clientRequests)
      .values({
        requestId: placeholder('requestId'),
        result: placeholder('result'),
        appliedIndex: placeholder('appliedIndex'),
        appliedWallMs: placeholder('appliedWallMs'),
        fingerprint: placeholder('fingerprint'),
      })
      // A row older than the window may linger until the next prune: the new result replaces it.
      .onConflictDoUpdate({
        target: clientRequests.requestId,
        set: {
          result: sql`excluded.result`,
          appliedIndex: sql`excluded.applied_index`,
          appliedWallMs: sql`excluded.applied_wall_ms`,
          fingerprint: sql`excluded.fingerprint`,
        },
      })
      .prepare(),
    /** The request applied longest ago (by index, which orders them by time as well). */
    oldestRequest: db
      .select({ appliedIndex: clientRequests.appliedIndex, appliedWallMs: clientRequests.appliedWallMs })
      .from(clientRequests)
      .orderBy(asc(clientRequests.appliedIndex))
      .limit(1)
      .prepare(),
    /**
     * Forgets requests outside both windows, looking only at the `limit` applied longest ago: an
     * index walk of that length, where a filter on the whole window scanned every row past the
     * entry window on every batch (15 minutes of gateway writes).
     */
    pruneRequests: db
      .delete(clientRequests)
      .where(
        and(
          inArray(
            clientRequests.requestId,
            db
              .select({ requestId: clientRequests.requestId })
              .from(clientRequests)
              .where(lte(clientRequests.appliedIndex, placeholder('throughIndex')))
              .orderBy(asc(clientRequests.appliedIndex))
              .limit(placeholder('limit')),
          ),
          lt(clientRequests.appliedWallMs, placeholder('beforeWallMs')),
        ),
      )
      .prepare(),
  };
}

export type MetadataStatements = ReturnType<typeof prepareMetadataStatements>;
