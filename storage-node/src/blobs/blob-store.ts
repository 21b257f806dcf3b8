// The content-addressed chunk store of one node: immutable files at `<dir>/ab/cd/<sha256>`.
// Every write is verified, fsync'd and renamed into place; every read is verified before a byte
// leaves; a chunk that fails verification is moved to `<dir>/quarantine/` and never served.
//
// Durability: a chunk counts as stored once its temp file is fsync'd, renamed into `ab/cd/`, and
// `ab/cd/` fsync'd (the rename is then durable): two fsyncs per new chunk. Temp files live in
// `<dir>/tmp/`, on the same file system, so the rename is atomic; whatever a crash leaves there
// was never acknowledged and is dropped at start-up, without walking the fan-out. The 256 `ab/`
// directories are created and made durable once, when the store is created (a marker file says
// so; opening an existing store walks nothing). A leaf `ab/cd/` is created the first time a chunk
// needs it, its entry in `ab/` fsync'd alongside the chunk's directory, rather than all 65,536 up
// front, which on a disk mounted with `discard` costs seconds to create and tens of seconds to
// delete. After a restart each `ab/` is fsync'd once, on first use, in case a killed process left
// a leaf's entry unsynced.
import { sha256Hex } from '../../../shared/sha256.ts';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, opendir, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { assert } from '../../../shared/assert.ts';
import { fsyncPath } from '../durability/fsync.ts';

const MiB = 1024 * 1024;
/** Largest chunk the store writes or reads: reads buffer one whole chunk to verify it first. */
export const CHUNK_BYTES_MAX_DEFAULT = 16 * MiB;
/** Pieces a verified range is emitted in, so consumers see ordinary stream backpressure. */
const EMIT_BYTES = 64 * 1024;
/** A chunk arriving as a stream is written in batches of about this many bytes (memory per push). */
const STREAM_WRITE_BATCH_BYTES = MiB;
/** Buffer for hashing a stored file without holding it whole. */
const VERIFY_READ_BYTES = MiB;
const HASH_PATTERN = /^[0-9a-f]{64}$/;
const FANOUT_PATTERN = /^[0-9a-f]{2}$/;
/** Directories per fan-out level (`ab/`, then `ab/cd/`). */
const FANOUT_WIDTH = 256;
/**
 * Present once the store's own directories (the 256 `ab/`, `quarantine/`) exist and are durable;
 * written last, so its absence means "finish creating them".
 */
export const FANOUT_MARKER = '.fanout-complete';
/** Directories made at once when a store is created (the thread pool runs a few at a time anyway). */
const MKDIR_CONCURRENCY = 8;

export function isChunkHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_PATTERN.test(value);
}

/** Where reads may take their buffer from and give it back (files/chunk-buffers.ts). */
export interface ReadBuffers {
  take(bytes: number): Buffer;
  give(buffer: Buffer): void;
}

/** A chunk name that is not 64 lowercase hex characters; it never reaches the file system. */
export class InvalidChunkHashError extends Error {
  override readonly name = 'InvalidChunkHashError';
  readonly code = 'bad_hash';
  constructor(value: unknown) {
    super(`not a chunk hash (64 lowercase hex characters): ${JSON.stringify(String(value).slice(0, 80))}`);
  }
}

/** The bytes offered for a chunk do not hash to its name. */
export class ChunkHashMismatchError extends Error {
  override readonly name = 'ChunkHashMismatchError';
  readonly code = 'hash_mismatch';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`chunk bytes hash to ${actual}, not ${expected}`);
  }
}

export class ChunkTooLargeError extends Error {
  override readonly name = 'ChunkTooLargeError';
  readonly code = 'too_large';
  constructor(readonly sizeMax: number) {
    super(`chunk exceeds ${sizeMax} bytes`);
  }
}

/** A stored chunk failed verification; it has been quarantined and should be fetched again. */
export class ChunkCorruptError extends Error {
  override readonly name = 'ChunkCorruptError';
  readonly code = 'chunk_corrupt';
  constructor(readonly hash: string) {
    super(`stored chunk ${hash} failed verification and was quarantined`);
  }
}

export class ChunkNotFoundError extends Error {
  override readonly name = 'ChunkNotFoundError';
  readonly code = 'not_found';
  constructor(readonly hash: string) {
    super(`no chunk ${hash}`);
  }
}

export function assertChunkHash(value: unknown): asserts value is string {
  if (!isChunkHash(value)) throw new InvalidChunkHashError(value);
}

export interface BlobStoreOptions {
  /** Bound on any chunk written or read; at least the configured chunk size. */
  readonly chunkBytesMax?: number;
  /** Told after a corrupt copy was moved to quarantine, so it can be fetched again. */
  readonly onQuarantined?: (hash: string) => void;
  /** Told how long each stage of a chunk's write or read took (store_write, store_fsync, store_install, store_read, store_verify). */
  readonly onStage?: (stage: BlobStoreStage, seconds: number) => void;
}

export type BlobStoreStage = 'store_write' | 'store_fsync' | 'store_install' | 'store_read' | 'store_verify';

/** What the file system says of a stored chunk (not verified). */
export interface ChunkFileInfo {
  readonly size: number;
  /** Last modification (written or installed), ms since the epoch. */
  readonly modifiedMs: number;
}

/** Byte range of a chunk, both ends inclusive (as in HTTP Range and fs.createReadStream). */
export interface ChunkRange {
  readonly start?: number;
  readonly end?: number;
}

export interface BlobStoreStats {
  readonly count: number;
  readonly bytes: number;
}

export class BlobStore {
  readonly dir: string;
  readonly chunkBytesMax: number;
  readonly #tmpDir: string;
  readonly #quarantineDir: string;
  readonly #onQuarantined: ((hash: string) => void) | undefined;
  readonly #onStage: (stage: BlobStoreStage, seconds: number) => void;
  /** Serialises install, dedupe check, quarantine and delete of one hash. */
  readonly #locks = new Map<string, Promise<void>>();
  /**
   * Leaf directories (`ab/cd/`, indexed by the hash's first 4 hex digits) this process knows to
   * exist with a durable entry in `ab/`.
   */
  readonly #leafDurable = new Uint8Array(FANOUT_WIDTH * FANOUT_WIDTH);
  /** Leaves this process created (so an fsync of `ab/` from before their mkdir does not cover them). */
  readonly #leafMadeHere = new Uint8Array(FANOUT_WIDTH * FANOUT_WIDTH);
  /** Leaves fsync'd by this process: a chunk renamed into them before is durable now. */
  readonly #leafSynced = new Uint8Array(FANOUT_WIDTH * FANOUT_WIDTH);
  /** `ab/` fsync'd by this process: every leaf made by an earlier process has a durable entry. */
  readonly #firstSynced = new Uint8Array(FANOUT_WIDTH);
  /** Leaves being made durable, so concurrent first writes into one share a mkdir and an fsync. */
  readonly #leafEntries = new Map<number, LeafEntry>();
  #ready = false;

  constructor(dir: string, options: BlobStoreOptions = {}) {
    this.dir = dir;
    this.chunkBytesMax = options.chunkBytesMax ?? CHUNK_BYTES_MAX_DEFAULT;
    assert(Number.isSafeInteger(this.chunkBytesMax) && this.chunkBytesMax > 0, 'chunkBytesMax must be a positive integer');
    this.#tmpDir = join(dir, 'tmp');
    this.#quarantineDir = join(dir, 'quarantine');
    this.#onQuarantined = options.onQuarantined;
    this.#onStage = options.onStage ?? (() => undefined);
  }

  /** Runs `run`, telling onStage how long it took. */
  async #timed<T>(stage: BlobStoreStage, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      this.#onStage(stage, (performance.now() - t0) / 1000);
    }
  }

  /** Constructs and initialises a store. */
  static async open(dir: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(dir, options);
    await store.init();
    return store;
  }

  /**
   * Creates the directories (durably, once: then a marker file) and drops temp files a crash
   * left behind (never renamed, so never acknowledged). On an existing store this walks nothing.
   */
  async init(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true });
    if (created !== undefined) await fsyncNewPath(created, this.dir);
    // The temp directory's own entry need not be durable: init() recreates it.
    await rm(this.#tmpDir, { recursive: true, force: true });
    await mkdir(this.#tmpDir);
    const marker = join(this.dir, FANOUT_MARKER);
    if (!(await exists(marker))) {
      await this.#createFanout();
      await writeTempFile(marker, async (handle) => writeFully(handle, Buffer.from('the 256 fan-out directories and quarantine/ exist and are durable\n')), 'w');
      await fsyncPath(this.dir);
    }
    this.#ready = true;
  }

  /** The `ab/` directories (those missing) and quarantine/, with durable entries. */
  async #createFanout(): Promise<void> {
    await forEachLimited(fanoutNames(), MKDIR_CONCURRENCY, async (first) => {
      await mkdir(join(this.dir, first), { recursive: true });
    });
    await mkdir(this.#quarantineDir, { recursive: true });
    await fsyncPath(this.dir);
  }

  async has(hash: string): Promise<boolean> {
    return (await this.size(hash)) !== null;
  }

  /** Size on disk, or null when absent. Not verified: a cheap existence check, not a promise of good bytes. */
  async size(hash: string): Promise<number | null> {
    const path = this.#path(hash);
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Size and modification time, or null when absent. Not verified. */
  async fileInfo(hash: string): Promise<ChunkFileInfo | null> {
    const path = this.#path(hash);
    try {
      const info = await stat(path);
      return { size: info.size, modifiedMs: info.mtimeMs };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Stores a chunk durably. Resolves true when it was written, false when an intact copy was
   * already there. Either way the chunk is on disk, fsync'd, when this resolves.
   */
  async writeChunk(hash: string, data: Buffer): Promise<boolean> {
    assertChunkHash(hash); // a bad name is refused as such, before any hashing
    const actual = sha256Hex(data);
    if (actual !== hash) throw new ChunkHashMismatchError(hash, actual);
    return this.writeHashedChunk(hash, data);
  }

  /**
   * writeChunk for bytes whose hash the caller has just computed from this very buffer (the
   * upload's chunker): not hashed a second time, a full SHA-256 pass of every upload saved. Reads
   * still verify every byte before it leaves.
   */
  async writeHashedChunk(hash: string, data: Buffer): Promise<boolean> {
    const path = this.#path(hash);
    if (data.length > this.chunkBytesMax) throw new ChunkTooLargeError(this.chunkBytesMax);
    return this.#exclusive(hash, async () => {
      if (await this.#holdsIntact(hash, path)) {
        await this.#ensureSynced(hash);
        return false;
      }
      const temp = this.#tempPath(hash);
      try {
        await writeTempFile(temp, (handle) => this.#timed('store_write', () => writeFully(handle, data)), 'wx', (sync) => this.#timed('store_fsync', sync));
        await this.#timed('store_install', () => this.#install(hash, temp));
        return true;
      } finally {
        await rm(temp, { force: true });
      }
    });
  }

  /**
   * Stores a chunk arriving as a stream (a peer's PUT), hashing as it goes and refusing more
   * than `sizeMax` bytes. Memory stays at one piece of the source. Errors of the source
   * propagate unchanged; nothing is left behind on any failure.
   */
  async writeChunkStream(hash: string, source: AsyncIterable<Uint8Array>, sizeMax: number): Promise<boolean> {
    const path = this.#path(hash);
    const limit = Math.min(sizeMax, this.chunkBytesMax);
    const temp = this.#tempPath(hash);
    try {
      const hasher = createHash('sha256');
      await writeTempFile(temp, async (handle) => {
        let received = 0;
        // Pieces off the socket are small (tens of KiB): gathered into one writev per batch,
        // a thread-pool round trip per batch instead of per piece.
        let batch: Uint8Array[] = [];
        let batchBytes = 0;
        const flush = async () => {
          const pieces = batch;
          batch = [];
          batchBytes = 0;
          await this.#timed('store_write', () => writevFully(handle, pieces));
        };
        for await (const piece of source) {
          assert(piece instanceof Uint8Array, 'chunk source must yield bytes');
          received += piece.length;
          if (received > limit) throw new ChunkTooLargeError(limit);
          hasher.update(piece);
          batch.push(piece);
          batchBytes += piece.length;
          if (batchBytes >= STREAM_WRITE_BATCH_BYTES) await flush();
        }
        if (batchBytes > 0) await flush();
      }, 'wx', (sync) => this.#timed('store_fsync', sync));
      const actual = hasher.digest('hex');
      if (actual !== hash) throw new ChunkHashMismatchError(hash, actual);
      return await this.#exclusive(hash, async () => {
        if (await this.#holdsIntact(hash, path)) {
          await this.#ensureSynced(hash);
          return false;
        }
        await this.#timed('store_install', () => this.#install(hash, temp));
        return true;
      });
    } finally {
      // After a successful install the temp name is gone already; force makes that a no-op.
      await rm(temp, { force: true });
    }
  }

  /**
   * The whole chunk, verified; null when absent. A chunk that fails verification is
   * quarantined and ChunkCorruptError thrown. Buffers one chunk (bounded by chunkBytesMax), taken
   * from `buffers` when given (a buffer this read fails with goes back there; the caller gives
   * back the one it returns, once nothing refers to it).
   */
  async readChunk(hash: string, buffers?: ReadBuffers): Promise<Buffer<ArrayBuffer> | null> {
    const path = this.#path(hash);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    let data: Buffer<ArrayBuffer>;
    let inode: number;
    try {
      const info = await handle.stat();
      inode = info.ino;
      // Larger than any chunk we write: appended garbage, or a chunk size beyond our bound.
      if (info.size > this.chunkBytesMax) data = Buffer.alloc(0);
      else data = await this.#timed('store_read', () => readFully(handle, info.size, buffers));
    } finally {
      await handle.close();
    }
    const t0 = performance.now();
    const actual = sha256Hex(data);
    this.#onStage('store_verify', (performance.now() - t0) / 1000);
    if (actual !== hash) {
      buffers?.give(data);
      await this.#exclusive(hash, () => this.#quarantine(hash, path, inode));
      throw new ChunkCorruptError(hash);
    }
    return data;
  }

  /**
   * A stream of the verified chunk, or of `range` of it. Nothing is emitted until the whole
   * chunk has been read and verified; a missing chunk errors with ChunkNotFoundError, a corrupt
   * one with ChunkCorruptError (after quarantining it), before a single byte.
   */
  readChunkStream(hash: string, range: ChunkRange = {}): Readable {
    assertChunkHash(hash);
    const start = range.start ?? 0;
    const end = range.end ?? Number.MAX_SAFE_INTEGER;
    assert(Number.isSafeInteger(start) && start >= 0, 'range start must be a non-negative integer');
    assert(Number.isSafeInteger(end) && end >= start, 'range end must be an integer >= start');
    return new VerifiedChunkStream(() => this.readChunk(hash), hash, start, end);
  }

  /** Removes a chunk; false when it was absent. Not fsync'd: a resurrected chunk is just garbage for GC. */
  async delete(hash: string): Promise<boolean> {
    const path = this.#path(hash);
    return this.#exclusive(hash, async () => {
      try {
        await unlink(path);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  /** Every stored hash, in directory order; for GC and scrubbing. Skips anything that is not a chunk. */
  async *list(): AsyncGenerator<string> {
    this.#assertReady();
    for (const first of await fanoutDirs(this.dir)) {
      for (const second of await fanoutDirs(join(this.dir, first))) {
        let dir;
        try {
          dir = await opendir(join(this.dir, first, second));
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
        for await (const entry of dir) {
          const name = entry.name;
          if (entry.isFile() && isChunkHash(name) && name.startsWith(first + second)) yield name;
        }
      }
    }
  }

  /** What is stored and the room left on the store's disk (fsck, GET /blob-stats). */
  async storageStats(): Promise<{ chunks: number; bytes: number; free_bytes: number; disk_bytes: number }> {
    const stats = await this.stats();
    const disk = await statfs(this.dir);
    return { chunks: stats.count, bytes: stats.bytes, free_bytes: disk.bavail * disk.bsize, disk_bytes: disk.blocks * disk.bsize };
  }

  /** Counts by walking the directories: O(chunks), for metrics and GC, not for hot paths. */
  async stats(): Promise<BlobStoreStats> {
    let count = 0;
    let bytes = 0;
    for await (const hash of this.list()) {
      const size = await this.size(hash);
      if (size === null) continue; // deleted while we walked
      count++;
      bytes += size;
    }
    return { count, bytes };
  }

  #assertReady(): void {
    assert(this.#ready, 'BlobStore used before init()');
  }

  /** The only way a hash becomes a path: validated first. */
  #path(hash: string): string {
    this.#assertReady();
    assertChunkHash(hash);
    return join(this.dir, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  #tempPath(hash: string): string {
    return join(this.#tmpDir, `${hash}.${randomUUID()}`);
  }

  async #exclusive<T>(hash: string, run: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(hash) ?? Promise.resolve();
    const result = previous.then(run);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(hash, tail);
    try {
      return await result;
    } finally {
      if (this.#locks.get(hash) === tail) this.#locks.delete(hash);
    }
  }

  /**
   * True when an intact copy is stored. A bad copy is quarantined so it can be replaced: a
   * replica that answered "already have it" for bad bytes would break the write guarantee.
   * Hashes the file in pieces, so memory does not grow with the chunk.
   */
  async #holdsIntact(hash: string, path: string): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    let inode: number;
    let actual: string;
    try {
      const info = await handle.stat();
      inode = info.ino;
      actual = info.size > this.chunkBytesMax ? '' : await hashFile(handle);
    } finally {
      await handle.close();
    }
    if (actual === hash) return true;
    await this.#quarantine(hash, path, inode);
    return false;
  }

  /** Caller holds the hash's lock. Moves the file aside unless it was already replaced. */
  async #quarantine(hash: string, path: string, inode: number): Promise<void> {
    try {
      if ((await stat(path)).ino !== inode) return; // replaced by a good copy meanwhile
      await rename(path, join(this.#quarantineDir, `${hash}.${Date.now()}.${randomUUID()}`));
    } catch (err) {
      if (isNotFound(err)) return; // another reader moved it first
      throw err;
    }
    await fsyncPath(this.#quarantineDir);
    await fsyncPath(dirname(path));
    this.#onQuarantined?.(hash);
  }

  /** Caller holds the hash's lock; `temp` is fsync'd. Rename, then make the rename durable. */
  async #install(hash: string, temp: string): Promise<void> {
    const leaf = leafIndex(hash);
    const leafDir = dirname(this.#path(hash));
    if (this.#leafDurable[leaf] === 1) {
      await rename(temp, join(leafDir, hash));
      await fsyncPath(leafDir);
    } else {
      // The leaf's entry in `ab/` and the chunk's entry in the leaf must both be durable before
      // the chunk counts, in either order, so the two fsyncs run side by side (one journal
      // commit on ext4) rather than one after the other.
      const entry = this.#leafEntry(hash, leaf);
      await entry.made;
      await rename(temp, join(leafDir, hash));
      await Promise.all([fsyncPath(leafDir), entry.durable]);
    }
    this.#leafSynced[leaf] = 1;
  }

  /**
   * Caller holds the hash's lock and found an intact copy. A killed process may have renamed it
   * (or made its directory) without the fsyncs, so those are done once per process before any
   * such copy is reported as stored.
   */
  async #ensureSynced(hash: string): Promise<void> {
    const leaf = leafIndex(hash);
    if (this.#leafDurable[leaf] === 0) await this.#leafEntry(hash, leaf).durable;
    if (this.#leafSynced[leaf] === 1) return;
    await fsyncPath(dirname(this.#path(hash)));
    this.#leafSynced[leaf] = 1;
  }

  /**
   * Makes a leaf exist (`made`) with a durable entry in `ab/` (`durable`), once per leaf however
   * many writers ask at once. A leaf an earlier process made is covered by any fsync of `ab/` in
   * this process, so after a restart each `ab/` is fsync'd once, on first use.
   */
  #leafEntry(hash: string, leaf: number): LeafEntry {
    const pending = this.#leafEntries.get(leaf);
    if (pending !== undefined) return pending;
    const first = Number.parseInt(hash.slice(0, 2), 16);
    const firstDir = join(this.dir, hash.slice(0, 2));
    const leafDir = join(firstDir, hash.slice(2, 4));
    const made = mkdir(leafDir, { recursive: true });
    const durable = made
      .then(async (created) => {
        if (created !== undefined) this.#leafMadeHere[leaf] = 1;
        // `ab/` itself is made when the store is created; only a store tidied by hand lacks it.
        if (created !== undefined && created !== leafDir) await fsyncPath(this.dir);
        if (created === undefined && this.#leafMadeHere[leaf] === 0 && this.#firstSynced[first] === 1) return;
        await fsyncPath(firstDir);
        this.#firstSynced[first] = 1;
      })
      .then(() => {
        this.#leafDurable[leaf] = 1;
      })
      .finally(() => this.#leafEntries.delete(leaf));
    const madeVoid = made.then(() => undefined);
    // Each caller waits for what it needs; these only keep a failure from being reported unhandled.
    durable.catch(() => undefined);
    madeVoid.catch(() => undefined);
    const entry: LeafEntry = { made: madeVoid, durable };
    this.#leafEntries.set(leaf, entry);
    return entry;
  }
}

/** A leaf directory being made: `made` once it exists, `durable` once its entry in `ab/` is. */
interface LeafEntry {
  readonly made: Promise<void>;
  readonly durable: Promise<void>;
}

/** Emits a verified range of one chunk; loading and verifying happen before any byte. */
class VerifiedChunkStream extends Readable {
  readonly #load: () => Promise<Buffer | null>;
  readonly #hash: string;
  readonly #start: number;
  readonly #end: number;
  #data: Buffer | undefined;
  #offset = 0;

  constructor(load: () => Promise<Buffer | null>, hash: string, start: number, end: number) {
    super({ highWaterMark: EMIT_BYTES });
    this.#load = load;
    this.#hash = hash;
    this.#start = start;
    this.#end = end;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.#load().then(
      (data) => {
        if (data === null) return callback(new ChunkNotFoundError(this.#hash));
        // Inclusive end, clamped to the chunk, as fs.createReadStream does.
        this.#data = data.subarray(this.#start, Math.min(this.#end, data.length - 1) + 1);
        callback();
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _read(): void {
    const data = this.#data;
    assert(data !== undefined, '_read before a verified load');
    while (this.#offset < data.length) {
      const piece = data.subarray(this.#offset, this.#offset + EMIT_BYTES);
      this.#offset += piece.length;
      if (!this.push(piece)) return;
    }
    this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#data = undefined;
    callback(error);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** Position of a hash's leaf directory among the 65,536: its first four hex digits. */
function leafIndex(hash: string): number {
  return Number.parseInt(hash.slice(0, 4), 16);
}

/** `00` … `ff`. */
function fanoutNames(): string[] {
  return Array.from({ length: FANOUT_WIDTH }, (_, i) => i.toString(16).padStart(2, '0'));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** After `mkdir -p` created `created` … `dir`: fsyncs the parent of each, so every entry is durable. */
async function fsyncNewPath(created: string, dir: string): Promise<void> {
  for (let path = dir; ; path = dirname(path)) {
    await fsyncPath(dirname(path));
    if (path === created || dirname(path) === path) return;
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function fanoutDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && FANOUT_PATTERN.test(e.name)).map((e) => e.name).sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Creates `path` (exclusively unless told otherwise), lets `fill` write it, and fsyncs it before closing. */
async function writeTempFile(
  path: string,
  fill: (handle: FileHandle) => Promise<void>,
  flags: 'wx' | 'w' = 'wx',
  timeSync: (sync: () => Promise<void>) => Promise<void> = (sync) => sync(),
): Promise<void> {
  const handle = await open(path, flags);
  try {
    await fill(handle);
    await timeSync(() => handle.sync());
  } finally {
    await handle.close();
  }
}

async function writeFully(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    assert(bytesWritten > 0, 'write made no progress');
    offset += bytesWritten;
  }
}

async function writevFully(handle: FileHandle, pieces: Uint8Array[]): Promise<void> {
  const total = pieces.reduce((sum, p) => sum + p.length, 0);
  const { bytesWritten } = await handle.writev(pieces);
  if (bytesWritten === total) return;
  // A short write (rare on a regular file): the rest, piece by piece.
  let skip = bytesWritten;
  for (const piece of pieces) {
    if (skip >= piece.length) {
      skip -= piece.length;
      continue;
    }
    await writeFully(handle, piece.subarray(skip));
    skip = 0;
  }
}

/** Reads `size` bytes; a file that turns out shorter comes back short (and fails verification). */
async function readFully(handle: FileHandle, size: number, buffers?: ReadBuffers): Promise<Buffer<ArrayBuffer>> {
  const data = (buffers?.take(size) ?? Buffer.allocUnsafe(size)) as Buffer<ArrayBuffer>;
  let offset = 0;
  try {
    while (offset < size) {
      const { bytesRead } = await handle.read(data, offset, size - offset, offset);
      if (bytesRead === 0) return data.subarray(0, offset);
      offset += bytesRead;
    }
  } catch (err) {
    buffers?.give(data);
    throw err;
  }
  return data;
}

async function hashFile(handle: FileHandle): Promise<string> {
  const hasher = createHash('sha256');
  const buffer = Buffer.allocUnsafe(VERIFY_READ_BYTES);
  let position = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return hasher.digest('hex');
    hasher.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}
