// The recent-pushes registry stays bounded: pushes older than the grace period are forgotten as
// new ones arrive (not only during a GC pass), and past a hard count a push of a new chunk is
// refused, by the blob route with 503 and Retry-After, before any byte is stored.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { blobRoutes } from '../../storage-node/src/blobs/blob-routes.ts';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';
import { ChunkGuard } from '../../storage-node/src/chunks/chunk-guard.ts';

const graceMs = 60_000;
const hashOf = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const someHash = (i: number) => hashOf(Buffer.from(`chunk ${i}`));

describe('ChunkGuard recent pushes', () => {
  let nowMs: number;
  beforeEach(() => {
    nowMs = 1_000_000;
  });

  it('forgets pushes older than the grace period as new ones arrive, without a GC pass', () => {
    const guard = new ChunkGuard({ now: () => nowMs, graceMs });
    for (let i = 0; i < 100; i++) assert.deepEqual(guard.notePush(someHash(i)), { admitted: true });
    assert.equal(guard.pushedCount, 100);
    assert.ok(guard.isProtected(someHash(0), nowMs - graceMs));
    nowMs += graceMs + 1;
    guard.notePush(someHash(1000));
    assert.equal(guard.pushedCount, 1, 'the 100 expired pushes are gone');
    assert.ok(!guard.isProtected(someHash(0), nowMs - graceMs));
  });

  it('counts only live pushes in pushedCount (the /metrics gauge)', () => {
    const guard = new ChunkGuard({ now: () => nowMs, graceMs });
    guard.notePush(someHash(1));
    nowMs += graceMs / 2;
    guard.notePush(someHash(2));
    nowMs += graceMs / 2 + 1;
    assert.equal(guard.pushedCount, 1);
  });

  it('refuses a new chunk past the bound, with the wait until the oldest expires; a known one is refreshed', () => {
    const guard = new ChunkGuard({ now: () => nowMs, graceMs, recentPushesMax: 3 });
    for (let i = 0; i < 3; i++) {
      assert.equal(guard.notePush(someHash(i)).admitted, true);
      nowMs += 10_000;
    }
    // The oldest was pushed 30 s ago and expires in 30 s.
    assert.deepEqual(guard.notePush(someHash(99)), { admitted: false, retryAfterSeconds: 30 });
    assert.equal(guard.pushedCount, 3);
    assert.deepEqual(guard.notePush(someHash(0)), { admitted: true }, 'a chunk already remembered is refreshed, not refused');
    // Refreshing moved hash 0 to the back: hash 1 (pushed 20 s ago) is now the oldest.
    assert.deepEqual(guard.notePush(someHash(99)), { admitted: false, retryAfterSeconds: 40 });
    nowMs += 40_000 + 1;
    assert.deepEqual(guard.notePush(someHash(99)), { admitted: true }, 'room again once the oldest expired');
    assert.ok(guard.isProtected(someHash(0), nowMs - graceMs), 'the refreshed push still protects');
  });
});

describe('PUT /blobs/:hash past the recent-pushes bound', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dfs-chunk-guard-'));
    store = await BlobStore.open(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After and stores nothing', async () => {
    const guard = new ChunkGuard({ graceMs, recentPushesMax: 2 });
    const app = new Hono();
    app.route('/', blobRoutes({ store, onPush: (hash) => guard.notePush(hash) }));
    const push = (data: Buffer) => app.request(`/blobs/${hashOf(data)}`, { method: 'PUT', body: new Uint8Array(data), headers: { 'content-length': String(data.length) } });
    const chunks = [randomBytes(1000), randomBytes(1000), randomBytes(1000)];
    assert.equal((await push(chunks[0] as Buffer)).status, 201);
    assert.equal((await push(chunks[1] as Buffer)).status, 201);
    const refused = await push(chunks[2] as Buffer);
    assert.equal(refused.status, 503);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= graceMs / 1000, `Retry-After ${refused.headers.get('retry-after')}`);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'too_many_pushes');
    assert.equal(await store.has(hashOf(chunks[2] as Buffer)), false);
    assert.equal((await push(chunks[0] as Buffer)).status, 200, 'a chunk already remembered may be pushed again');
  });
});
