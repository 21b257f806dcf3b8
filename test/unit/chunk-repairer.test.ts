// The background repair queue with real blob stores in temp dirs: a "peer" store holds chunks,
// the repairer fetches what the local store lacks. Deduplication, the concurrency bound, retries
// with backoff, giving up, chunks no longer wanted, scans, and the bound on tracked hashes.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';
import { ChunkRepairer } from '../../storage-node/src/chunks/chunk-repairer.ts';
import type { ChunkRepairerOptions, RepairOutcome } from '../../storage-node/src/chunks/chunk-repairer.ts';
import { repairOrder, type RepairPriority } from '../../storage-node/src/chunks/repair-priority.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('chunk repairer', () => {
  let dir: string;
  let local: BlobStore;
  let peer: BlobStore;
  let repairer: ChunkRepairer | null;
  let outcomes: RepairOutcome[];
  let fetches: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chunk-repair-'));
    local = await BlobStore.open(join(dir, 'local'));
    peer = await BlobStore.open(join(dir, 'peer'));
    repairer = null;
    outcomes = [];
    fetches = [];
  });
  afterEach(async () => {
    repairer?.stop();
    await repairer?.idle();
    await rm(dir, { recursive: true, force: true });
  });

  /** Chunks stored on the peer only. */
  async function peerChunks(count: number): Promise<string[]> {
    const hashes: string[] = [];
    for (let i = 0; i < count; i++) {
      const data = randomBytes(64);
      hashes.push(sha256(data));
      await peer.writeChunk(hashes[i], data);
    }
    return hashes.sort();
  }

  function start(options: Partial<ChunkRepairerOptions> = {}): ChunkRepairer {
    repairer = new ChunkRepairer({
      has: (hash) => local.has(hash),
      write: (hash, data) => local.writeChunk(hash, data),
      fetch: async (hash) => {
        fetches.push(hash);
        return peer.readChunk(hash);
      },
      isWanted: () => true,
      listReferenced: () => [],
      retryDelayMsMin: 5,
      retryDelayMsMax: 20,
      onOutcome: (outcome) => outcomes.push(outcome),
      ...options,
    });
    return repairer;
  }

  const count = (outcome: RepairOutcome) => outcomes.filter((o) => o === outcome).length;

  it('fetches the missing chunks from a peer and stores them, verified', async () => {
    const hashes = await peerChunks(20);
    const r = start();
    r.enqueue(hashes);
    await r.idle();
    for (const hash of hashes) assert.deepEqual(await local.readChunk(hash), await peer.readChunk(hash));
    assert.equal(count('repaired'), 20);
  });

  it('does not fetch a chunk that is already here', async () => {
    const [hash] = await peerChunks(1);
    await local.writeChunk(hash, (await peer.readChunk(hash))!);
    const r = start();
    r.enqueue([hash]);
    await r.idle();
    assert.deepEqual(fetches, []);
    assert.deepEqual(outcomes, ['present']);
  });

  it('deduplicates by hash: queued or in flight, a hash is fetched once', async () => {
    const [hash] = await peerChunks(1);
    const r = start();
    for (let i = 0; i < 5; i++) r.enqueue([hash, hash]);
    await sleep(1);
    r.enqueue([hash]);
    await r.idle();
    assert.deepEqual(fetches, [hash]);
  });

  it('keeps at most `concurrency` fetches in flight', async () => {
    const hashes = await peerChunks(30);
    let running = 0;
    let runningMax = 0;
    const r = start({
      concurrency: 3,
      fetch: async (hash) => {
        runningMax = Math.max(runningMax, ++running);
        await sleep(2);
        running--;
        return peer.readChunk(hash);
      },
    });
    r.enqueue(hashes);
    assert.equal(r.stats().inFlight, 3);
    await r.idle();
    assert.equal(runningMax, 3);
    assert.equal(count('repaired'), 30);
  });

  it('retries with backoff until a peer has the chunk (a push still on its way)', async () => {
    const data = randomBytes(64);
    const hash = sha256(data);
    let attempts = 0;
    const attemptTimes: number[] = [];
    const r = start({
      fetch: async (h) => {
        attemptTimes.push(Date.now());
        if (++attempts === 3) await peer.writeChunk(hash, data);
        if (attempts === 2) throw new Error('peer unreachable');
        return peer.readChunk(h);
      },
    });
    r.enqueue([hash]);
    await r.idle();
    assert.equal(attempts, 3);
    assert.deepEqual(outcomes, ['retry', 'retry', 'repaired']);
    assert.ok(await local.has(hash));
    assert.ok(attemptTimes[2] - attemptTimes[1] >= 4, 'the second retry waits longer (backoff)');
  });

  it('gives up after attemptsMax and schedules a full scan, which finds it later', async () => {
    const data = randomBytes(64);
    const hash = sha256(data);
    let scans = 0;
    const r = start({
      attemptsMax: 3,
      rescanDelayMs: 30,
      listReferenced: (after) => {
        if (after === '') scans++;
        return after === '' ? [hash] : [];
      },
    });
    r.enqueue([hash]);
    await r.idle();
    assert.deepEqual(outcomes, ['retry', 'retry', 'gave_up']);
    await peer.writeChunk(hash, data); // the peer got it meanwhile
    await sleep(60);
    await r.idle();
    assert.equal(scans, 1);
    assert.ok(await local.has(hash));
    assert.equal(count('repaired'), 1);
  });

  it('drops a chunk no kept version refers to any more, without fetching it', async () => {
    const [hash] = await peerChunks(1);
    const r = start({ isWanted: () => false });
    r.enqueue([hash]);
    await r.idle();
    assert.deepEqual(fetches, []);
    assert.deepEqual(outcomes, ['unwanted']);
    assert.equal(await local.has(hash), false);
  });

  it('waits `delayMs` before the first check of newly applied chunks', async () => {
    const [hash] = await peerChunks(1);
    const r = start();
    r.enqueue([hash], 40);
    await sleep(15);
    assert.deepEqual(fetches, []);
    assert.equal(r.stats().waiting, 1);
    await r.idle();
    assert.deepEqual(fetches, [hash]);
  });

  it('a scan queues the referenced chunks missing here, never tracking more than trackedMax', async () => {
    const hashes = await peerChunks(40);
    const present = hashes.slice(0, 10);
    for (const hash of present) await local.writeChunk(hash, (await peer.readChunk(hash))!);
    let trackedMax = 0;
    const r = start({
      trackedMax: 4,
      listReferenced: (after, limit) => hashes.filter((h) => h > after).slice(0, limit),
      fetch: async (hash) => {
        const stats = r.stats();
        trackedMax = Math.max(trackedMax, stats.queued + stats.waiting + stats.inFlight);
        fetches.push(hash);
        return peer.readChunk(hash);
      },
    });
    await r.scan();
    await r.idle();
    assert.ok(trackedMax <= 4, `tracked ${trackedMax}`);
    assert.deepEqual(fetches.sort(), hashes.slice(10));
    for (const hash of hashes) assert.ok(await local.has(hash));
  });

  it('a full queue drops what does not fit and rescans later', async () => {
    const hashes = await peerChunks(10);
    const r = start({
      trackedMax: 3,
      rescanDelayMs: 20,
      listReferenced: (after, limit) => hashes.filter((h) => h > after).slice(0, limit),
    });
    r.enqueue(hashes);
    assert.equal(count('overflow'), 1);
    await sleep(60);
    await r.idle();
    for (const hash of hashes) assert.ok(await local.has(hash));
  });

  it('a corrupt copy from a peer is refused by the store and retried', async () => {
    const data = randomBytes(64);
    const hash = sha256(data);
    let attempts = 0;
    const r = start({ fetch: async () => (++attempts === 1 ? randomBytes(64) : data) });
    r.enqueue([hash]);
    await r.idle();
    assert.deepEqual(outcomes, ['retry', 'repaired']);
    assert.deepEqual(await local.readChunk(hash), data);
  });

  it('fetches lost copies before moves, the fewest surviving copies first', async () => {
    const hashes = await peerChunks(8);
    // Priorities as chunk-maintenance judges them, given here per hash.
    const priorities: RepairPriority[] = [
      { kind: 'rebalance', survivors: 3 },
      { kind: 'lost_copy', survivors: 2 },
      { kind: 'rebalance', survivors: 3 },
      { kind: 'lost_copy', survivors: 0 },
      { kind: 'lost_copy', survivors: 1 },
      { kind: 'lost_copy', survivors: 2 },
      { kind: 'rebalance', survivors: 2 },
      { kind: 'lost_copy', survivors: 1 },
    ];
    const priorityOf = new Map(hashes.map((hash, i) => [hash, priorities[i]]));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = start({
      concurrency: 1,
      priorityOf: (hash) => priorityOf.get(hash)!,
      // The fetches wait until the queue was counted by class.
      fetch: async (hash) => {
        fetches.push(hash);
        await gate;
        return peer.readChunk(hash);
      },
    });
    r.enqueue(hashes);
    const stats = r.stats();
    assert.equal(stats.lostCopy, 5);
    assert.equal(stats.rebalance, 3);
    assert.equal(stats.fewestSurvivors, 0);
    release();
    await r.idle();
    // enqueue queues them all before the first goes out: fetched in the order the pure function gives.
    const items = hashes.map((hash) => ({ hash, priority: priorityOf.get(hash)! }));
    assert.deepEqual(fetches, repairOrder(items).map((item) => item.hash));
    assert.deepEqual(fetches.map((hash) => priorityOf.get(hash)), [
      { kind: 'lost_copy', survivors: 0 },
      { kind: 'lost_copy', survivors: 1 },
      { kind: 'lost_copy', survivors: 1 },
      { kind: 'lost_copy', survivors: 2 },
      { kind: 'lost_copy', survivors: 2 },
      { kind: 'rebalance', survivors: 3 },
      { kind: 'rebalance', survivors: 3 },
      { kind: 'rebalance', survivors: 2 },
    ]);
    assert.equal(r.stats().lostCopy + r.stats().rebalance, 0);
  });
});
