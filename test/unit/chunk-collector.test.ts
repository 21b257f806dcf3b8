// The chunk garbage collector's rules, on a real blob store and a real metadata state machine
// (SQLite) in temp dirs, with the collector's clock in the test's hands and file times set by
// utimes: the grace period (after a delete, for a file's age, after start), kept versions,
// uploads in flight, recent pushes, orphan files, rows without files.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeHlc } from '../../shared/hlc.ts';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';
import { ChunkCollector } from '../../storage-node/src/chunks/chunk-collector.ts';
import { ChunkGuard } from '../../storage-node/src/chunks/chunk-guard.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import type { OpenedDatabase } from '../../storage-node/src/db/open-database.ts';
import { encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { MetadataCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';

const graceMs = 60_000;
/** A command before the leader stamps it (distributes over the union, as Omit alone does not). */
type Unstamped<T> = T extends unknown ? Omit<T, 'hlc'> : never;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('chunk collector', () => {
  let dir: string;
  let database: OpenedDatabase;
  let metadata: MetadataStateMachine;
  let blobs: BlobStore;
  let guard: ChunkGuard;
  let collector: ChunkCollector;
  let nowMs: number;
  let index: number;
  let caughtUp: boolean;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chunk-gc-'));
    database = openDatabase(join(dir, 'meta.db'));
    metadata = new MetadataStateMachine(database);
    blobs = await BlobStore.open(join(dir, 'blobs'));
    nowMs = Date.now();
    index = 0;
    caughtUp = true;
    guard = new ChunkGuard({ now: () => nowMs, graceMs });
    collector = new ChunkCollector({ blobs, metadata, guard, graceMs, now: () => nowMs, mayCollect: () => caughtUp });
  });
  afterEach(async () => {
    database.sqlite.close();
    await rm(dir, { recursive: true, force: true });
  });

  const chunkPath = (hash: string) => join(dir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
  const stored = (hash: string) => existsSync(chunkPath(hash));

  /** Stores a chunk whose file was last written `ageMs` before the collector's now. */
  async function chunkFile(ageMs: number): Promise<string> {
    const data = randomBytes(100);
    const hash = sha256(data);
    await blobs.writeChunk(hash, data);
    const mtime = (nowMs - ageMs) / 1000;
    await utimes(chunkPath(hash), mtime, mtime);
    return hash;
  }

  function apply(command: Unstamped<MetadataCommand>): void {
    index++;
    const hlc = encodeHlc({ wallMs: nowMs, logical: 0 });
    const data = encodeCommand({ ...command, hlc } as MetadataCommand);
    const [result] = metadata.apply([{ index, term: 1, type: 'normal', data }]);
    assert.equal((result as { ok: boolean }).ok, true);
  }

  function put(name: string, chunks: string[]): void {
    apply({ op: 'put', name, size: chunks.length * 100, contentType: 'application/octet-stream', etag: sha256(Buffer.from(name)), chunks, chunkSizes: chunks.map(() => 100) });
  }

  /** Moves past the wait after start, so passes run. */
  const pastStart = () => (nowMs += graceMs + 1);

  it('runs no pass until a whole grace period after start (the in-memory guard forgot the time before)', async () => {
    const orphan = await chunkFile(10 * graceMs);
    nowMs += graceMs / 2;
    assert.equal((await collector.collect()).ran, false);
    assert.ok(stored(orphan));
    pastStart();
    const result = await collector.collect();
    assert.equal(result.ran, true);
    assert.equal(result.deletedChunks, 1);
    assert.ok(!stored(orphan));
  });

  it('skips a pass while the node is not caught up with the leader', async () => {
    pastStart();
    const orphan = await chunkFile(2 * graceMs);
    caughtUp = false;
    assert.equal((await collector.collect()).ran, false);
    assert.ok(stored(orphan));
  });

  it('never collects a chunk a kept version refers to, however old', async () => {
    const hash = await chunkFile(100 * graceMs);
    put('kept.bin', [hash]);
    nowMs += 10 * graceMs;
    assert.equal((await collector.collect()).deletedChunks, 0);
    assert.ok(stored(hash));
    assert.equal(metadata.chunkRefState(hash)?.refcount, 1);
  });

  it('collects a deleted file\'s chunks only a grace period after the delete, and drops their rows', async () => {
    pastStart();
    const hash = await chunkFile(10 * graceMs);
    put('doomed.bin', [hash]);
    apply({ op: 'delete', name: 'doomed.bin' });
    assert.equal(metadata.chunkRefState(hash)?.refcount, 0);
    nowMs += graceMs - 1;
    assert.equal((await collector.collect()).deletedChunks, 0);
    assert.ok(stored(hash));
    nowMs += 2;
    const result = await collector.collect();
    assert.deepEqual([result.deletedChunks, result.deletedBytes], [1, 100]);
    assert.ok(!stored(hash));
    assert.equal(metadata.chunkRefState(hash), null);
  });

  it('keeps a chunk referenced again after its refcount fell to 0', async () => {
    pastStart();
    const hash = await chunkFile(10 * graceMs);
    put('a.bin', [hash]);
    apply({ op: 'delete', name: 'a.bin' });
    nowMs += 2 * graceMs;
    put('b.bin', [hash]);
    assert.equal((await collector.collect()).deletedChunks, 0);
    assert.ok(stored(hash));
  });

  it('collects orphan files (no row: a failed upload) by file age only', async () => {
    pastStart();
    const young = await chunkFile(graceMs / 2);
    const old = await chunkFile(graceMs + 1000);
    const result = await collector.collect();
    assert.equal(result.deletedChunks, 1);
    assert.ok(stored(young));
    assert.ok(!stored(old));
  });

  it('never collects a chunk file younger than the grace period, even at refcount 0', async () => {
    pastStart();
    const hash = await chunkFile(graceMs / 2); // e.g. just repaired or re-pushed
    put('x.bin', [hash]);
    nowMs += 1;
    apply({ op: 'delete', name: 'x.bin' });
    nowMs += graceMs + 1;
    const mtime = (nowMs - graceMs / 2) / 1000;
    await utimes(chunkPath(hash), mtime, mtime);
    assert.equal((await collector.collect()).deletedChunks, 0);
    assert.ok(stored(hash));
  });

  it('never collects a chunk held by an upload in flight on this node; does once it is released', async () => {
    pastStart();
    const hash = await chunkFile(10 * graceMs); // dedupe: the upload reuses an old orphan
    const holds = guard.upload();
    holds.hold(hash);
    holds.hold(hash);
    const other = guard.upload();
    other.hold(hash);
    assert.equal((await collector.collect()).deletedChunks, 0);
    holds.release();
    assert.equal((await collector.collect()).deletedChunks, 0, 'still held by the other upload');
    other.release();
    assert.equal((await collector.collect()).deletedChunks, 1);
    assert.ok(!stored(hash));
  });

  it('never collects a chunk pushed here within the grace period (an upload this node cannot see)', async () => {
    pastStart();
    const hash = await chunkFile(10 * graceMs); // the push found an intact old copy: mtime unchanged
    guard.notePush(hash);
    nowMs += graceMs - 1;
    assert.equal((await collector.collect()).deletedChunks, 0);
    assert.equal(guard.pushedCount, 1);
    nowMs += 2;
    assert.equal((await collector.collect()).deletedChunks, 1);
    assert.equal(guard.pushedCount, 0, 'expired pushes are pruned');
  });

  it('drops a row at refcount 0 whose file is already gone', async () => {
    pastStart();
    const hash = await chunkFile(10 * graceMs);
    put('gone.bin', [hash]);
    apply({ op: 'delete', name: 'gone.bin' });
    await blobs.delete(hash);
    nowMs += graceMs + 1;
    const result = await collector.collect();
    assert.deepEqual([result.deletedChunks, result.forgottenRows], [0, 1]);
    assert.equal(metadata.chunkRefState(hash), null);
  });
});
