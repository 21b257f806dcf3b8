// The file metadata state machine: what Raft replicates. apply() is deterministic (it never reads
// the clock: times come from the HLC stamp in each entry) and exactly-once (the applied index is
// written in the same transaction as the changes). Queries are synchronous reads for the HTTP layer.
import { assert } from '../../../shared/assert.ts';
import { decodeHlc } from '../../../shared/hlc.ts';
import type { OpenedDatabase } from '../db/open-database.ts';
import { BackgroundSnapshot } from './background-snapshot.ts';
import { commitUnsynced } from '../db/unsynced-commit.ts';
import type { Entry, SnapshotMeta } from '../raft/types.ts';
import type { SnapshotInProgress, StateMachine } from '../raft-node/state-machine.ts';
import type Database from 'better-sqlite3';
import { decodeCommand, isSha256Hex, requestFingerprint } from './commands.ts';
import type { AppliedResult, BucketCommand, BucketJson, BucketResult, CopyCommand, DecodedCommand, DeleteCommand, MetadataResult, PutCommand, VersionJson } from './commands.ts';
import { isInline, toFileJson, toFileListItem, toVersionJson } from './file-record.ts';
import type { FileListPage, FileRecord, VersionRecord } from './file-record.ts';
import type { BucketVersioning } from '../db/schema.ts';
import { restoreMetadataSnapshot, writeMetadataSnapshot } from './metadata-snapshot.ts';
import { prepareMetadataStatements } from './metadata-statements.ts';
import type { MetadataStatements } from './metadata-statements.ts';
import { compareNames, isWellFormed, prefixUpperBound } from './name-range.ts';
import { preconditionFailure } from './preconditions.ts';
import { metadataDigest } from './metadata-digest.ts';
import { completionProblem, multipartEtag } from './multipart-rules.ts';
import { prepareMultipartStatements } from './multipart-statements.ts';
import type { MultipartStatements, PartRecord, UploadRecord } from './multipart-statements.ts';
import { uploadsExpiredPerEntryMax } from './upload-commands.ts';
import type { AbortUploadCommand, CompleteUploadCommand, CreateUploadCommand, ExpireUploadsCommand, PartJson, PutPartCommand, UploadCommand, UploadJson, UploadResult } from './upload-commands.ts';
import type { MetadataDigest } from './metadata-digest.ts';
import { ClusterSettingsTable } from './cluster-settings.ts';
import type { ClusterSettings } from './cluster-settings.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import { prepareKeyStatements } from './key-statements.ts';
import type { KeyRecord, KeyStatements } from './key-statements.ts';
import type { KeyCommand, KeyJson, KeyResult } from './key-commands.ts';

export const keepVersionsDefault = 10;
export const requestWindowEntriesDefault = 10_000;
/** Long enough for any client or gateway retry (the gateway gives up after about 45 s). */
export const requestWindowMsDefault = 15 * 60 * 1000;
/**
 * Remembered requests forgotten per applied batch at most: bounds the work of one batch (a batch
 * adds at most one per entry; later batches catch up with a larger one).
 */
export const requestsPrunedPerBatch = 1000;

/**
 * The invariant checked after every write of a name, read in one statement of plain SQL: through
 * drizzle's two prepared queries it cost about a fifth of applying a 4 KiB inline put.
 */
const newestCheckSql = `
  SELECT f.current_version AS currentVersion, f.last_version AS lastVersion,
         v.version AS version, v.size AS size, v.delete_marker AS deleteMarker
  FROM (SELECT @name AS name) AS n
  LEFT JOIN files AS f ON f.name = n.name
  LEFT JOIN (SELECT version, size, delete_marker FROM file_versions WHERE name = @name ORDER BY version DESC LIMIT 1) AS v`;

interface NewestCheckRow {
  readonly currentVersion: number | null;
  /** Null when the name has no file row. */
  readonly lastVersion: number | null;
  /** Null when no version is kept. */
  readonly version: number | null;
  readonly size: number | null;
  readonly deleteMarker: number | null;
}
export const listLimitDefault = 1000;
export const listLimitMax = 10_000;
export const chunkQueryLimitMax = 10_000;
/** Version rows read at once when a bucket's delete drops the history under it. */
const historyDropPageRows = 256;

export interface MetadataStateMachineOptions {
  /** Versions kept per file. Part of the replicated state's rules: set it alike on every node. */
  readonly keepVersions?: number;
  /**
   * A requestId applied at index i is de-duplicated for entries up to index i + this (after that
   * a retry of it is a new request). Also a replicated rule: set it alike on every node.
   */
  readonly requestWindowEntries?: number;
  /**
   * ... and for as long as the latest HLC wall time applied is within this many ms of the one
   * applied with it, whichever keeps it longer: a busy cluster must not forget a request before
   * a slow retry of it arrives. Also a replicated rule.
   */
  readonly requestWindowMs?: number;
  /**
   * Called after each apply() commits, with the distinct chunks that new versions reference, so
   * the blob layer can fetch those it lacks. Not called by restoreSnapshot(): scan
   * referencedChunks() after one.
   */
  readonly onChunksReferenced?: (hashes: readonly string[]) => void;
}

export interface MetadataStats {
  /** Live (not deleted) files. */
  readonly files: number;
  /** Sum of the sizes of live files' current versions. */
  readonly bytes: number;
}

/** A delete marker: the version number it holds and when the name was deleted (HLC wall time). */
export interface DeleteMarkerState {
  readonly version: number;
  readonly modifiedMs: number;
}

export interface ChunkRefRow {
  readonly hash: string;
  /** Null when no entry carried the chunk's size. */
  readonly size: number | null;
}

export interface ChunkRefState {
  readonly refcount: number;
  /** HLC wall time (ms) at which the refcount dropped to 0; null while it is above 0. */
  readonly zeroSinceMs: number | null;
}

/** The running state of one apply() batch, written back at its end. */
interface BatchState {
  appliedIndex: number;
  liveFiles: number;
  liveBytes: number;
  lastHlc: string | null;
  readonly referencedChunks: Set<string>;
}

/** Which prepared variant of a name-ordered listing: after a cursor or from a prefix, bounded above or not. */
type NamePageKey = 'exclusive-unbounded' | 'exclusive-bounded' | 'inclusive-unbounded' | 'inclusive-bounded';

export class MetadataStateMachine implements StateMachine {
  /**
   * The node opens this machine on the meta.db connection that holds its Raft log: an apply
   * commits to the same WAL before any later log write, and the log store's compaction commits
   * with a sync, so a cut log never outlives the state that covers it.
   */
  readonly keepsStateWithLog = true;
  readonly #sqlite: Database.Database;
  readonly #statements: MetadataStatements;
  /** After every write: the name's file row and newest kept version, in one query (see newestCheckSql). */
  readonly #newestCheck: Database.Statement;
  readonly #multipart: MultipartStatements;
  readonly #settings: ClusterSettingsTable;
  readonly #keys: KeyStatements;
  readonly #keepVersions: number;
  readonly #requestWindowEntries: number;
  readonly #requestWindowMs: number;
  readonly #onChunksReferenced: ((hashes: readonly string[]) => void) | undefined;
  readonly #applyTransaction: (entries: readonly Entry[]) => { results: (AppliedResult | undefined)[]; batch: BatchState };
  /** Mirrors applied_state.applied_index; updated only after a transaction commits. */
  #applied: number;
  /** applied_state.last_hlc, kept here: every proposal asks for it (see lastHlc()). */
  #lastHlc: string | null;

  /** Shares the node's meta.db connection with the Raft log store; it does not close it. */
  constructor(database: OpenedDatabase, options: MetadataStateMachineOptions = {}) {
    this.#keepVersions = options.keepVersions ?? keepVersionsDefault;
    this.#requestWindowEntries = options.requestWindowEntries ?? requestWindowEntriesDefault;
    this.#requestWindowMs = options.requestWindowMs ?? requestWindowMsDefault;
    assert(Number.isSafeInteger(this.#requestWindowMs) && this.#requestWindowMs >= 0, 'requestWindowMs must be an integer >= 0');
    assert(Number.isSafeInteger(this.#keepVersions) && this.#keepVersions >= 1, 'keepVersions must be an integer >= 1');
    assert(Number.isSafeInteger(this.#requestWindowEntries) && this.#requestWindowEntries >= 1, 'requestWindowEntries must be an integer >= 1');
    this.#onChunksReferenced = options.onChunksReferenced;
    this.#sqlite = database.sqlite;
    this.#statements = prepareMetadataStatements(database.db);
    this.#newestCheck = database.sqlite.prepare(newestCheckSql);
    this.#multipart = prepareMultipartStatements(database.sqlite);
    this.#settings = new ClusterSettingsTable(database.sqlite);
    this.#keys = prepareKeyStatements(database.sqlite);
    this.#statements.createAppliedState.run();
    const state = this.#readState();
    this.#applied = state.appliedIndex;
    this.#lastHlc = state.lastHlc;
    // better-sqlite3 transactions are synchronous: BEGIN IMMEDIATE, the callback, COMMIT (fsync'd,
    // synchronous = FULL), or ROLLBACK if it throws, which leaves #applied as it was.
    this.#applyTransaction = this.#sqlite.transaction((entries: readonly Entry[]) => this.#applyBatch(entries)).immediate;
  }

  appliedIndex(): number {
    return this.#applied;
  }

  /** The cluster-wide settings as of the applied index. */
  settings(): ClusterSettings {
    return this.#settings.current();
  }

  /**
   * One transaction for the whole batch. Entries at or below the applied index were applied
   * before a restart: they are skipped (result undefined). noop and config entries give undefined.
   */
  apply(entries: readonly Entry[]): (AppliedResult | undefined)[] {
    if (entries.length === 0) return [];
    // No fsync for applying: the entries are durable in the Raft log already. After a crash the
    // WAL gives back a prefix of the transactions, so the state returns whole at an earlier
    // applied index and the log replays the rest; the next fsync'd log write (WAL frames are
    // synced in order) makes these commits durable too. It saves one fsync per batch.
    const { results, batch } = commitUnsynced(this.#sqlite, () => this.#applyTransaction(entries));
    this.#applied = batch.appliedIndex;
    this.#lastHlc = batch.lastHlc;
    if (batch.referencedChunks.size > 0) this.#onChunksReferenced?.([...batch.referencedChunks]);
    return results;
  }

  /** A digest of the replicated metadata at the applied index, for comparing replicas. */
  digest(): MetadataDigest {
    return metadataDigest(this.#sqlite);
  }

  writeSnapshot(path: string): void {
    writeMetadataSnapshot(this.#sqlite, path);
  }

  /** On a worker thread with its own connection; null for an in-memory database (tests). */
  startSnapshot(path: string): SnapshotInProgress | null {
    if (this.#sqlite.memory) return null;
    return new BackgroundSnapshot(this.#sqlite.name, path);
  }

  restoreSnapshot(path: string, meta: SnapshotMeta): void {
    restoreMetadataSnapshot(this.#sqlite, path, meta);
    this.#settings.forget();
    const state = this.#readState();
    this.#applied = state.appliedIndex;
    this.#lastHlc = state.lastHlc;
    assert(this.#applied === meta.index, 'restored applied index differs from the snapshot meta');
  }

  // ---- queries (synchronous: nothing can apply between the statements of one) ----

  /**
   * The current version, or version `version` if it is still kept; null when there is none, or
   * when that version is a delete marker (see deleteMarker()).
   */
  getFile(name: string, version?: number): FileRecord | null {
    if (version === undefined) {
      const current = this.#statements.file.get({ name })?.currentVersion ?? null;
      if (current === null) return null;
      version = current;
    }
    assert(Number.isSafeInteger(version), 'a version is an integer');
    const row = this.#statements.version.get({ name, version });
    if (row === undefined || row.deleteMarker) return null;
    const { deleteMarker: _, ...record } = row;
    return record;
  }

  /**
   * The delete marker that version `version` of `name` is, or (without a version) the one that
   * is its newest kept version, hiding the versions before it; null when there is none.
   */
  deleteMarker(name: string, version?: number): DeleteMarkerState | null {
    // Without a version: the newest one, if it is a marker (newestVersion reads only a few columns).
    const wanted = version ?? this.#statements.newestVersion.get({ name })?.version;
    if (wanted === undefined) return null;
    const row = this.#statements.version.get({ name, version: wanted });
    return row === undefined || !row.deleteMarker ? null : { version: row.version, modifiedMs: row.modifiedMs };
  }

  /** Live files in name (UTF-8 byte) order: those starting with `prefix`, after the `after` cursor. */
  listFiles(query: { prefix?: string; after?: string | null; limit?: number } = {}): FileListPage {
    const page = this.#namePage(query, (key, params) => this.#statements.listing[key].all(params));
    return { files: page.rows.map(toFileListItem), next: page.next };
  }

  /**
   * The kept versions of a live or deleted file, newest first, delete markers among them (none
   * after a delete that ends the history).
   */
  listVersions(name: string): VersionJson[] {
    return this.#statements.versionsNewestFirst.all({ name }).map(toVersionJson);
  }

  /**
   * Names with any kept version, live or not (a delete marker hides them from listFiles), in
   * name order: those starting with `prefix`, after the `after` cursor.
   */
  listNamesWithVersions(query: { prefix?: string; after?: string | null; limit?: number } = {}): { names: string[]; next: string | null } {
    const page = this.#namePage(query, (key, params) => this.#statements.namesWithVersions[key].all(params));
    return { names: page.rows.map((row) => row.name), next: page.next };
  }

  /**
   * One page of a listing in name (UTF-8 byte) order: rows starting with `prefix`, after the
   * `after` cursor, read by `read` with the statement variant the bounds need.
   */
  #namePage<Row extends { name: string }>(
    query: { prefix?: string; after?: string | null; limit?: number },
    read: (key: NamePageKey, params: { from: string; upper: string | null; limit: number }) => Row[],
  ): { rows: Row[]; next: string | null } {
    const prefix = query.prefix ?? '';
    const after = query.after ?? null;
    const limit = query.limit ?? listLimitDefault;
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= listLimitMax, `list limit must be 1 to ${listLimitMax}`);
    assert(isWellFormed(prefix) && (after === null || isWellFormed(after)), 'prefix and cursor must be well-formed Unicode');
    const upper = prefixUpperBound(prefix);
    if (after !== null && upper !== null && compareNames(after, upper) >= 0) return { rows: [], next: null };
    const fromCursor = after !== null && compareNames(after, prefix) >= 0;
    const key = `${fromCursor ? 'exclusive' : 'inclusive'}-${upper === null ? 'unbounded' : 'bounded'}` as const;
    const rows = read(key, { from: fromCursor ? after : prefix, upper, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { rows: page, next: rows.length > limit ? page[page.length - 1].name : null };
  }

  stats(): MetadataStats {
    const state = this.#readState();
    return { files: state.liveFiles, bytes: state.liveBytes };
  }

  /** The latest HLC stamp applied: a new leader's clock must be moved past it before stamping. */
  lastHlc(): string | null {
    return this.#lastHlc;
  }

  /** A bucket, or null when there is none. */
  getBucket(name: string): BucketJson | null {
    const row = this.#statements.bucket.get({ name });
    return row === undefined ? null : toBucketJson(row);
  }

  /** Every bucket, in name order. */
  listBuckets(): BucketJson[] {
    return this.#statements.allBuckets.all().map(toBucketJson);
  }

  /** Inline content by its hash (a version's etag), or null when no kept version refers to it. */
  inlineContent(hash: string): Buffer | null {
    return this.#statements.inlineContent.get({ hash })?.content ?? null;
  }


  // ---- access keys ----

  /** Every live access key, by id, with its secret: for the SigV4 checks only, never to list. */
  accessKeys(): KeyRecord[] {
    return this.#keys.allKeys();
  }

  /** A live key's secret, or null when there is no such key (never was, or revoked). */
  accessKeySecret(accessKeyId: string): string | null {
    return this.#keys.key(accessKeyId)?.secretAccessKey ?? null;
  }

  // ---- multipart uploads ----

  /** An upload in progress, or null when there is none (never was, completed, aborted, expired). */
  getUpload(uploadId: string): UploadRecord | null {
    return this.#multipart.upload(uploadId);
  }

  /** One part of an upload in progress, or null when it has no such part (yet). */
  getPart(uploadId: string, partNumber: number): PartRecord | null {
    return this.#multipart.part(uploadId, partNumber);
  }

  /** The parts of an upload in progress, by part number. */
  listParts(uploadId: string): PartRecord[] {
    return this.#multipart.parts(uploadId);
  }

  /**
   * Uploads in progress whose names start with `prefix`, in (name, upload id) order after the
   * cursor (`afterName`, `afterId`: '' for the start).
   */
  listUploads(query: { prefix: string; afterName: string; afterId: string; limit: number }): UploadRecord[] {
    const { prefix, afterName, afterId, limit } = query;
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= listLimitMax, `upload list limit must be 1 to ${listLimitMax}`);
    assert(isWellFormed(prefix) && isWellFormed(afterName), 'prefix and cursor must be well-formed Unicode');
    return this.#multipart.uploadsAfter({ from: prefix, upper: prefixUpperBound(prefix), afterName, afterId, limit });
  }

  /** Whether an upload was created before `beforeMs` (HLC wall time): the expiry has work. */
  hasUploadsCreatedBefore(beforeMs: number): boolean {
    return this.#multipart.createdBefore(beforeMs, 1).length > 0;
  }

  /** True while a kept version references the chunk. */
  hasChunkRef(hash: string): boolean {
    return (this.#statements.chunkRef.get({ hash })?.refcount ?? 0) > 0;
  }

  /** The chunk's row: how many kept versions reference it, and since when none has; null when no row. */
  chunkRefState(hash: string): ChunkRefState | null {
    const row = this.#statements.chunkRef.get({ hash });
    return row === undefined ? null : { refcount: row.refcount, zeroSinceMs: row.zeroSinceMs };
  }

  /** Chunks nothing has referenced since at or before `beforeMs` (ms epoch, HLC time), oldest first. */
  unreferencedChunks(beforeMs: number, limit = 1000): ChunkRefRow[] {
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= chunkQueryLimitMax, 'bad chunk query limit');
    return this.#statements.unreferencedChunks.all({ beforeMs, limit }).map(({ hash, size }) => ({ hash, size }));
  }

  /** Referenced chunks in hash order after `after`, for a scan that repairs missing blobs. */
  referencedChunks(query: { after?: string; limit?: number } = {}): ChunkRefRow[] {
    const limit = query.limit ?? 1000;
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= chunkQueryLimitMax, 'bad chunk query limit');
    return this.#statements.referencedChunks.all({ after: query.after ?? '', limit });
  }

  /**
   * The collector deleted (or is about to delete) these blobs: drop their rows, but only where
   * the refcount is still 0. Returns those dropped; delete only their blobs, in the same
   * synchronous turn, so that no apply can reference one in between. Local bookkeeping, outside
   * Raft: a row at refcount 0 carries no replicated meaning (a later put recreates it alike).
   */
  forgetChunks(hashes: readonly string[]): string[] {
    return this.#sqlite.transaction(() => hashes.filter((hash) => this.#statements.forgetChunk.run({ hash }).changes === 1)).immediate();
  }

  forgetChunk(hash: string): boolean {
    return this.forgetChunks([hash]).length === 1;
  }

  // ---- apply ----

  #readState() {
    const state = this.#statements.appliedState.get();
    assert(state !== undefined, 'applied_state row is missing');
    return state;
  }

  #applyBatch(entries: readonly Entry[]): { results: (AppliedResult | undefined)[]; batch: BatchState } {
    const stored = this.#readState();
    assert(stored.appliedIndex === this.#applied, 'applied index changed behind the state machine');
    assert(stored.lastHlc === this.#lastHlc, 'last HLC changed behind the state machine');
    const batch: BatchState = { ...stored, referencedChunks: new Set() };
    const results: (AppliedResult | undefined)[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (i > 0) assert(entry.index === entries[i - 1].index + 1, `entries out of order: ${entries[i - 1].index} then ${entry.index}`);
      if (entry.index <= batch.appliedIndex) {
        results.push(undefined); // applied before a restart
        continue;
      }
      assert(entry.index === batch.appliedIndex + 1, `gap: applied ${batch.appliedIndex}, next entry ${entry.index}`);
      results.push(entry.type === 'normal' ? this.#applyCommand(decodeCommand(entry.data), entry.index, batch) : undefined);
      batch.appliedIndex = entry.index;
    }
    this.#pruneRequests(batch);
    assert(batch.liveFiles >= 0 && batch.liveBytes >= 0, 'live totals went negative');
    this.#statements.updateAppliedState.run({
      appliedIndex: batch.appliedIndex,
      liveFiles: batch.liveFiles,
      liveBytes: batch.liveBytes,
      lastHlc: batch.lastHlc,
    });
    return { results, batch };
  }

  /**
   * Forgets remembered requests outside both windows, the oldest first and at most
   * requestsPrunedPerBatch of them. Rows ordered by index are ordered by their HLC wall time too
   * (both only grow as entries apply, and a request applied again gets both anew), so the
   * forgettable rows are the oldest ones: nothing to do, the usual case, is one index lookup.
   * Which rows are gone never changes an answer (the windows decide, see #applyCommand), so
   * nodes may prune at different paces.
   */
  #pruneRequests(batch: BatchState): void {
    const throughIndex = batch.appliedIndex - this.#requestWindowEntries;
    const beforeWallMs = latestWallMs(batch) - this.#requestWindowMs;
    const oldest = this.#statements.oldestRequest.get();
    if (oldest === undefined || oldest.appliedIndex > throughIndex || oldest.appliedWallMs >= beforeWallMs) return;
    this.#statements.pruneRequests.run({ throughIndex, beforeWallMs, limit: requestsPrunedPerBatch });
  }

  #applyCommand(decoded: DecodedCommand, index: number, batch: BatchState): AppliedResult {
    const { command } = decoded;
    // Fixed-width encoding: string order is time order.
    if (batch.lastHlc === null || command.hlc > batch.lastHlc) batch.lastHlc = command.hlc;
    const { requestId } = command;
    const fingerprint = requestId === undefined ? null : requestFingerprint(command);
    if (requestId !== undefined) {
      const previous = this.#statements.request.get({ requestId });
      // The window is judged by index and by the latest HLC applied (the same on every node at
      // this index), never by what pruning happened to leave: pruning runs once per batch and
      // batches differ between nodes, but the answer must not. Pruning removes only rows outside
      // both windows for every later entry, since index and latest HLC only grow.
      const withinWindow =
        previous !== undefined &&
        (index - previous.appliedIndex <= this.#requestWindowEntries || latestWallMs(batch) - previous.appliedWallMs <= this.#requestWindowMs);
      if (withinWindow) {
        // A row from before fingerprints existed (null) is matched by its key alone, as it was.
        if (previous.fingerprint !== null && previous.fingerprint !== fingerprint) {
          // Not remembered: the key still stands for the first request, which changes nothing.
          return { ok: false, code: 'idempotency_key_mismatch', message: `Idempotency-Key ${requestId} was used for a different request` };
        }
        return JSON.parse(previous.result) as AppliedResult;
      }
    }
    const result = this.#applyOne(decoded, batch);
    if (requestId !== undefined) {
      this.#statements.upsertRequest.run({ requestId, result: JSON.stringify(result), appliedIndex: index, appliedWallMs: latestWallMs(batch), fingerprint });
    }
    return result;
  }

  #current(name: string): { lastVersion: number; current: FileRecord | null } | null {
    const file = this.#statements.file.get({ name });
    if (file === undefined) return null;
    if (file.currentVersion === null) return { lastVersion: file.lastVersion, current: null };
    const current = this.#statements.version.get({ name, version: file.currentVersion });
    assert(current !== undefined, `${name}: current version ${file.currentVersion} has no row`);
    assert(!current.deleteMarker, `${name}: current version ${file.currentVersion} is a delete marker`);
    return { lastVersion: file.lastVersion, current };
  }

  /**
   * The rule between a name's row and its kept versions, checked after every change to them:
   * the current version is the newest kept one unless that is a delete marker (then there is
   * none), and no version is newer than the last one written.
   */
  #assertCurrentIsNewest(name: string): void {
    const { currentVersion, lastVersion, version, size, deleteMarker } = this.#newestCheck.get({ name }) as NewestCheckRow;
    if (version === null) {
      assert(currentVersion === null, `${name}: current version ${String(currentVersion)} but no version is kept`);
      return;
    }
    assert(lastVersion !== null, `${name}: kept versions but no file row`);
    assert(version <= lastVersion, `${name}: version ${version} is newer than the last written, ${lastVersion}`);
    const isMarker = deleteMarker === 1;
    assert(!isMarker || size === 0, `${name}: delete marker ${version} has a size`);
    const expected = isMarker ? null : version;
    assert(currentVersion === expected, `${name}: current version ${String(currentVersion)}, but the newest kept is ${isMarker ? 'a delete marker' : 'version'} ${version}`);
  }

  #applyOne({ command, inline }: DecodedCommand, batch: BatchState): AppliedResult {
    switch (command.op) {
      case 'put':
        return this.#put(command, inline, { s3Etag: command.md5 ?? null, partSizes: null }, batch);
      case 'copy':
        return this.#copy(command, batch);
      case 'delete':
        return this.#delete(command, batch);
      case 'createBucket':
      case 'deleteBucket':
      case 'setBucketVersioning':
        return this.#applyBucket(command);
      case 'setReplication':
      case 'setMemberDown':
      case 'setMemberDraining':
      case 'setMemberFull':
      case 'setMemberZone':
        return this.#settings.apply(command);
      case 'createKey':
      case 'revokeKey':
        return this.#applyKey(command);
      default:
        return this.#applyUpload(command, batch);
    }
  }

  /** A copy is a put of the source version's manifest, if that version is still kept now. */
  #copy(command: CopyCommand, batch: BatchState): MetadataResult {
    const source = this.getFile(command.source, command.sourceVersion);
    if (source === null) return { ok: false, code: 'no_such_source', message: `${command.source}: version ${command.sourceVersion} is not kept` };
    let inline: Buffer | null = null;
    if (isInline(source)) {
      inline = this.inlineContent(source.etag);
      assert(inline !== null, `${source.name} v${source.version}: inline content ${source.etag} is missing`);
    }
    const put: PutCommand = {
      op: 'put',
      name: command.name,
      size: source.size,
      contentType: command.contentType ?? source.contentType,
      // REPLACE sends the copy's own (maybe none); COPY keeps the source's.
      ...optionalHeaders(command.headers ?? source.headers),
      etag: source.etag,
      chunks: source.chunks,
      ...(source.chunkSizes === null ? {} : { chunkSizes: source.chunkSizes }),
      hlc: command.hlc,
      ...(command.precondition === undefined ? {} : { precondition: command.precondition }),
      ...(command.bucket === undefined ? {} : { bucket: command.bucket }),
    };
    return this.#put(put, inline, { s3Etag: source.s3Etag, partSizes: source.partSizes }, batch);
  }

  /**
   * A new version. `s3Etag` is the one it gets (a put's MD5, a copy's source's, a multipart
   * upload's); `partSizes` its parts' (a multipart upload's, or a copy's source's).
   */
  #put(command: PutCommand, inline: Buffer | null, made: { s3Etag: string | null; partSizes: readonly number[] | null }, batch: BatchState): MetadataResult {
    const { s3Etag, partSizes } = made;
    const { name } = command;
    const file = this.#current(name);
    const current = file?.current ?? null;
    if (command.bucket !== undefined && this.#statements.bucket.get({ name: command.bucket }) === undefined) {
      return { ok: false, code: 'no_such_bucket', message: `${name}: no bucket ${command.bucket}` };
    }
    const failure = preconditionFailure(command.precondition, current);
    if (failure !== null) return { ok: false, code: 'precondition_failed', message: `${name}: ${failure}` };

    const record: FileRecord = {
      name,
      version: (file?.lastVersion ?? 0) + 1,
      size: command.size,
      contentType: command.contentType,
      etag: command.etag,
      s3Etag,
      chunks: command.chunks,
      chunkSizes: command.chunkSizes ?? null,
      headers: command.headers === undefined || Object.keys(command.headers).length === 0 ? null : command.headers,
      partSizes,
      hlc: command.hlc,
      modifiedMs: decodeHlc(command.hlc).wallMs,
    };
    assert(partSizes === null || partSizes.reduce((sum, size) => sum + size, 0) === record.size, `${name}: the part sizes do not add up to the size`);
    this.#statements.insertVersion.run({
      ...record,
      chunks: JSON.stringify(record.chunks),
      chunkSizes: record.chunkSizes === null ? null : JSON.stringify(record.chunkSizes),
      headers: record.headers === null ? null : JSON.stringify(record.headers),
      partSizes: partSizes === null ? null : JSON.stringify(partSizes),
      deleteMarker: 0,
    });
    record.chunks.forEach((hash, i) => {
      this.#statements.addChunkRef.run({ hash, size: record.chunkSizes?.[i] ?? null });
      batch.referencedChunks.add(hash);
    });
    if (inline !== null) this.#statements.addInlineRef.run({ hash: record.etag, content: inline });
    assert((inline !== null) === isInline(record), `${name}: inline content and chunks disagree`);
    this.#statements.upsertCurrentVersion.run({ name, version: record.version });
    if (current === null) batch.liveFiles++;
    batch.liveBytes += record.size - (current?.size ?? 0);
    this.#dropVersionsThrough(name, record.version - this.#keepVersions, record.modifiedMs);
    this.#assertCurrentIsNewest(name);
    return { ok: true, file: toFileJson(record) };
  }

  #delete(command: DeleteCommand, batch: BatchState): MetadataResult {
    if (command.version !== undefined) return this.#deleteVersion(command, command.version, batch);
    if (command.keepHistory === true) return this.#deleteKeepingHistory(command, batch);
    const { name } = command;
    const file = this.#current(name);
    const newest = this.#statements.newestVersion.get({ name });
    // A name deleted already: nothing to do, unless a delete marker keeps its history.
    if (file === null || newest === undefined) return { ok: false, code: 'not_found', message: `${name}: no such file` };
    const { current } = file;
    const failure = preconditionFailure(command.precondition, current);
    if (failure !== null) return { ok: false, code: 'precondition_failed', message: `${name}: ${failure}` };
    const removed = current ?? this.#statements.version.get({ name, version: newest.version });
    assert(removed !== undefined, `${name}: newest version ${newest.version} has no row`);
    // A delete removes every kept version: the name's history ends (its version numbers go on).
    this.#dropVersionsThrough(name, file.lastVersion, decodeHlc(command.hlc).wallMs);
    this.#statements.markDeleted.run({ name });
    if (current !== null) {
      batch.liveFiles--;
      batch.liveBytes -= current.size;
    }
    this.#assertCurrentIsNewest(name);
    return { ok: true, file: toFileJson(removed) };
  }

  /**
   * S3's delete on a versioned bucket: a delete marker becomes the newest version (the next
   * number), the versions before it stay kept (pruned past --keep-versions like any version, the
   * marker counting as one). A name without a current version is not_found: no marker is
   * stacked on a marker, nor made for a name that does not exist.
   */
  #deleteKeepingHistory(command: DeleteCommand, batch: BatchState): MetadataResult {
    const { name } = command;
    const file = this.#current(name);
    if (file === null || file.current === null) return { ok: false, code: 'not_found', message: `${name}: no such file` };
    const { current, lastVersion } = file;
    const failure = preconditionFailure(command.precondition, current);
    if (failure !== null) return { ok: false, code: 'precondition_failed', message: `${name}: ${failure}` };
    const modifiedMs = decodeHlc(command.hlc).wallMs;
    const marker: VersionRecord = {
      name,
      version: lastVersion + 1,
      size: 0,
      contentType: '',
      etag: '',
      s3Etag: null,
      chunks: [],
      chunkSizes: null,
      headers: null,
      partSizes: null,
      hlc: command.hlc,
      modifiedMs,
      deleteMarker: true,
    };
    this.#statements.insertVersion.run({ ...marker, chunks: '[]', chunkSizes: null, headers: null, partSizes: null, deleteMarker: 1 });
    this.#statements.markDeletedAt.run({ name, version: marker.version });
    batch.liveFiles--;
    batch.liveBytes -= current.size;
    this.#dropVersionsThrough(name, marker.version - this.#keepVersions, modifiedMs);
    this.#assertCurrentIsNewest(name);
    return { ok: true, file: toFileJson(marker) };
  }

  /**
   * Deletes one kept version, or delete marker. As in S3, the newest one left is then the name's
   * state: current when it is a version, deleted when it is a delete marker or none is left
   * (deleting the marker in front undeletes the version behind it).
   */
  #deleteVersion(command: DeleteCommand, version: number, batch: BatchState): MetadataResult {
    const { name } = command;
    const file = this.#current(name);
    const target = file === null ? undefined : this.#statements.version.get({ name, version });
    if (file === null || target === undefined) return { ok: false, code: 'no_such_version', message: `${name}: version ${version} is not kept` };
    const failure = preconditionFailure(command.precondition, file.current);
    if (failure !== null) return { ok: false, code: 'precondition_failed', message: `${name}: ${failure}` };
    this.#dropVersionRefs(name, [target], decodeHlc(command.hlc).wallMs);
    this.#statements.deleteVersion.run({ name, version });
    const before = file.current;
    const newest = this.#statements.newestVersion.get({ name });
    const after = newest === undefined || newest.deleteMarker ? null : newest;
    if (after === null) this.#statements.markDeleted.run({ name });
    else this.#statements.setCurrentVersion.run({ name, version: after.version });
    batch.liveFiles += (after === null ? 0 : 1) - (before === null ? 0 : 1);
    batch.liveBytes += (after?.size ?? 0) - (before?.size ?? 0);
    this.#assertCurrentIsNewest(name);
    return { ok: true, file: toFileJson(target) };
  }

  /**
   * Creates a bucket, sets its versioning, or deletes it: refused while a live file is under
   * `<name>/`; the history kept there (old versions behind delete markers) goes with it.
   */
  #applyBucket(command: BucketCommand): BucketResult {
    const { name } = command;
    const existing = this.#statements.bucket.get({ name });
    if (command.op === 'createBucket') {
      if (existing !== undefined) return { ok: false, code: 'bucket_exists', message: `the bucket ${name} exists` };
      const createdMs = decodeHlc(command.hlc).wallMs;
      this.#statements.insertBucket.run({ name, createdMs });
      return { ok: true, bucket: toBucketJson({ name, createdMs, versioning: 'Enabled' }) };
    }
    if (existing === undefined) return { ok: false, code: 'no_such_bucket', message: `no bucket ${name}` };
    if (command.op === 'setBucketVersioning') {
      this.#statements.setBucketVersioning.run({ name, versioning: command.status });
      return { ok: true, bucket: toBucketJson({ ...existing, versioning: command.status }) };
    }
    const prefix = `${name}/`;
    if (this.listFiles({ prefix, limit: 1 }).files.length > 0) {
      return { ok: false, code: 'bucket_not_empty', message: `the bucket ${name} holds files (names under ${name}/)` };
    }
    this.#dropHistoryUnder(prefix, decodeHlc(command.hlc).wallMs);
    this.#statements.deleteBucket.run({ name });
    return { ok: true, bucket: toBucketJson(existing) };
  }

  /**
   * Drops every kept version of the names under `prefix`: all behind delete markers, as no name
   * there is live (their current_version is null already). A page of rows at a time, so memory
   * does not grow with the history.
   */
  #dropHistoryUnder(prefix: string, nowMs: number): void {
    const upper = prefixUpperBound(prefix);
    assert(upper !== null, `${prefix}: a bucket's prefix has an upper bound`);
    for (;;) {
      // Each page's rows are deleted, so the next page starts at the range's start again.
      const rows = this.#statements.versionsInRange.all({ from: prefix, upper, limit: historyDropPageRows });
      for (const row of rows) {
        assert(this.#statements.file.get({ name: row.name })?.currentVersion === null, `${row.name}: a live name in a bucket being deleted`);
        this.#dropVersionRefs(row.name, [row], nowMs);
        this.#statements.deleteVersion.run({ name: row.name, version: row.version });
      }
      if (rows.length < historyDropPageRows) return;
    }
  }

  /** Creates or revokes an access key; the result never carries the secret. */
  #applyKey(command: KeyCommand): KeyResult {
    const { accessKeyId } = command;
    const existing = this.#keys.key(accessKeyId);
    if (command.op === 'createKey') {
      if (existing !== null) return { ok: false, code: 'key_exists', message: `the access key ${accessKeyId} exists` };
      const record: KeyRecord = { accessKeyId, secretAccessKey: command.secretAccessKey, createdMs: decodeHlc(command.hlc).wallMs };
      this.#keys.insertKey(record);
      return { ok: true, key: toKeyJson(record) };
    }
    if (existing === null) return { ok: false, code: 'no_such_key', message: `no access key ${accessKeyId}` };
    this.#keys.deleteKey(accessKeyId);
    return { ok: true, key: toKeyJson(existing) };
  }

  #applyUpload(command: UploadCommand, batch: BatchState): UploadResult {
    switch (command.op) {
      case 'createUpload':
        return this.#createUpload(command);
      case 'putPart':
        return this.#putPart(command, batch);
      case 'completeUpload':
        return this.#completeUpload(command, batch);
      case 'abortUpload':
        return this.#abortUpload(command);
      case 'expireUploads':
        return this.#expireUploads(command);
    }
  }

  #createUpload(command: CreateUploadCommand): UploadResult {
    if (this.#statements.bucket.get({ name: command.bucket }) === undefined) {
      return { ok: false, code: 'no_such_bucket', message: `${command.name}: no bucket ${command.bucket}` };
    }
    const existing = this.#multipart.upload(command.uploadId);
    // Ids are random: the same one twice can only be the same request replayed.
    if (existing !== null) return { ok: true, upload: toUploadJson(existing) };
    const record: UploadRecord = {
      uploadId: command.uploadId,
      name: command.name,
      bucket: command.bucket,
      contentType: command.contentType,
      headers: command.headers === undefined || Object.keys(command.headers).length === 0 ? null : command.headers,
      createdMs: decodeHlc(command.hlc).wallMs,
    };
    this.#multipart.insertUpload(record);
    return { ok: true, upload: toUploadJson(record) };
  }

  /** Records a part (its chunks gain a reference each); a part with the same number is replaced. */
  #putPart(command: PutPartCommand, batch: BatchState): UploadResult {
    const { uploadId, partNumber } = command;
    if (this.#multipart.upload(uploadId) === null) return noSuchUpload(uploadId);
    const modifiedMs = decodeHlc(command.hlc).wallMs;
    const replaced = this.#multipart.part(uploadId, partNumber);
    const record: PartRecord = {
      uploadId, partNumber, size: command.size, md5: command.md5, sha256: command.sha256, chunks: command.chunks, chunkSizes: command.chunkSizes, modifiedMs,
    };
    // The new part's references first: a chunk in both parts never drops to 0 in between.
    record.chunks.forEach((hash, i) => {
      this.#statements.addChunkRef.run({ hash, size: record.chunkSizes[i] });
      batch.referencedChunks.add(hash);
    });
    if (replaced !== null) this.#dropPartRefs(replaced, modifiedMs);
    this.#multipart.upsertPart(record);
    return { ok: true, part: toPartJson(record) };
  }

  /**
   * The listed parts, in order, become the next version of the upload's file (a put of their
   * concatenated chunk lists, with its preconditions and bucket check); then the upload and all
   * its parts go. Refused (nothing changes) when a part is missing, not the one the client
   * names, changed since the leader hashed it, out of order, or too small.
   */
  #completeUpload(command: CompleteUploadCommand, batch: BatchState): UploadResult {
    const { uploadId } = command;
    const upload = this.#multipart.upload(uploadId);
    if (upload === null) return noSuchUpload(uploadId);
    const found = new Map<number, PartRecord>();
    for (const { partNumber } of command.parts) {
      const part = this.#multipart.part(uploadId, partNumber);
      if (part !== null) found.set(partNumber, part);
    }
    const problem = completionProblem(command.parts, (partNumber) => found.get(partNumber) ?? null);
    if (problem !== null) return { ok: false, ...problem };
    const parts = command.parts.map((wanted) => {
      const part = found.get(wanted.partNumber)!;
      return part.sha256 === wanted.sha256 ? part : null;
    });
    if (parts.includes(null)) return { ok: false, code: 'invalid_part', message: `${upload.name}: a part was replaced while the upload was being completed` };
    const chosen = parts as PartRecord[];
    const put: PutCommand = {
      op: 'put',
      name: upload.name,
      size: chosen.reduce((sum, part) => sum + part.size, 0),
      contentType: upload.contentType,
      ...optionalHeaders(upload.headers),
      etag: command.etag,
      chunks: chosen.flatMap((part) => part.chunks),
      chunkSizes: chosen.flatMap((part) => part.chunkSizes),
      hlc: command.hlc,
      ...(command.precondition === undefined ? {} : { precondition: command.precondition }),
      bucket: upload.bucket,
    };
    const result = this.#put(put, null, { s3Etag: multipartEtag(chosen.map((part) => part.md5)), partSizes: chosen.map((part) => part.size) }, batch);
    if (!result.ok) return result;
    // The version holds its own references now: the parts' go with the upload.
    this.#dropUpload(upload.uploadId, decodeHlc(command.hlc).wallMs);
    return result;
  }

  #abortUpload(command: AbortUploadCommand): UploadResult {
    const upload = this.#multipart.upload(command.uploadId);
    if (upload === null) return noSuchUpload(command.uploadId);
    this.#dropUpload(upload.uploadId, decodeHlc(command.hlc).wallMs);
    return { ok: true, upload: toUploadJson(upload) };
  }

  #expireUploads(command: ExpireUploadsCommand): UploadResult {
    const expired = this.#multipart.createdBefore(command.createdBeforeMs, uploadsExpiredPerEntryMax);
    const nowMs = decodeHlc(command.hlc).wallMs;
    for (const uploadId of expired) this.#dropUpload(uploadId, nowMs);
    return { ok: true, expired };
  }

  /** Removes an upload and its parts, with the parts' chunk references. */
  #dropUpload(uploadId: string, nowMs: number): void {
    for (const part of this.#multipart.parts(uploadId)) this.#dropPartRefs(part, nowMs);
    this.#multipart.deleteParts(uploadId);
    this.#multipart.deleteUpload(uploadId);
  }

  #dropPartRefs(part: PartRecord, nowMs: number): void {
    for (const hash of part.chunks) {
      const updated = this.#statements.dropChunkRef.get({ hash, nowMs });
      assert(updated !== undefined, `upload ${part.uploadId} part ${part.partNumber}: chunk ${hash} has no reference count`);
    }
  }

  /** Deletes versions <= `version` of `name`, their chunk references and inline content references. */
  #dropVersionsThrough(name: string, version: number, nowMs: number): void {
    if (version < 1) return;
    const dropped = this.#statements.versionsThrough.all({ name, version });
    this.#dropVersionRefs(name, dropped, nowMs);
    if (dropped.length > 0) this.#statements.deleteVersionsThrough.run({ name, version });
  }

  /** Releases the chunk and inline content references of version rows about to be deleted. */
  #dropVersionRefs(name: string, dropped: readonly { readonly version: number; readonly size: number; readonly etag: string; readonly chunks: readonly string[] }[], nowMs: number): void {
    for (const row of dropped) {
      for (const hash of row.chunks) {
        assert(isSha256Hex(hash), `${name} v${row.version}: stored chunk ${hash} is not a hash`);
        const updated = this.#statements.dropChunkRef.get({ hash, nowMs });
        assert(updated !== undefined, `${name} v${row.version}: chunk ${hash} has no reference count`);
      }
      if (isInline(row)) {
        // The last reference deletes the content at once: deterministic, alike on every node.
        const dropped = this.#statements.deleteLastInlineRef.run({ hash: row.etag }).changes + this.#statements.dropInlineRef.run({ hash: row.etag }).changes;
        assert(dropped === 1, `${name} v${row.version}: inline content ${row.etag} has no reference count`);
      }
    }
  }
}

/** `{ headers }` when there are any to keep, else nothing. */
function optionalHeaders(headers: ObjectHeaders | null | undefined): { headers?: ObjectHeaders } {
  return headers === null || headers === undefined || Object.keys(headers).length === 0 ? {} : { headers };
}

function noSuchUpload(uploadId: string): UploadResult {
  return { ok: false, code: 'no_such_upload', message: `no upload ${uploadId} in progress` };
}

export function toUploadJson(record: UploadRecord): UploadJson {
  return { uploadId: record.uploadId, name: record.name, bucket: record.bucket, contentType: record.contentType, created: new Date(record.createdMs).toISOString() };
}

export function toPartJson(record: PartRecord): PartJson {
  return { partNumber: record.partNumber, size: record.size, md5: record.md5, sha256: record.sha256, modified: new Date(record.modifiedMs).toISOString() };
}

export function toKeyJson(record: Pick<KeyRecord, 'accessKeyId' | 'createdMs'>): KeyJson {
  return { accessKeyId: record.accessKeyId, created: new Date(record.createdMs).toISOString() };
}

function toBucketJson(row: { readonly name: string; readonly createdMs: number; readonly versioning: BucketVersioning }): BucketJson {
  return { name: row.name, created: new Date(row.createdMs).toISOString(), versioning: row.versioning };
}

/** The wall time of the latest HLC stamp applied so far (0 before any). */
function latestWallMs(batch: BatchState): number {
  return batch.lastHlc === null ? 0 : decodeHlc(batch.lastHlc).wallMs;
}
