// The blob store on a real file system: durable verified writes, dedupe, verified reads that
// never emit a corrupt byte, quarantine, ranges, hash validation and start-up cleaning.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  BlobStore,
  ChunkCorruptError,
  ChunkHashMismatchError,
  ChunkNotFoundError,
  ChunkTooLargeError,
  FANOUT_MARKER,
  InvalidChunkHashError,
} from '../../storage-node/src/blobs/blob-store.ts';

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function chunkPath(dir: string, hash: string): string {
  return join(dir, hash.slice(0, 2), hash.slice(2, 4), hash);
}

/** Collects a stream, recording how many bytes arrived before it failed (if it did). */
async function drain(stream: Readable): Promise<{ data: Buffer; error: unknown }> {
  const pieces: Buffer[] = [];
  try {
    for await (const piece of stream) pieces.push(piece as Buffer);
    return { data: Buffer.concat(pieces), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(pieces), error };
  }
}

/** Yields `data` in small pieces, as a socket would. */
function pieces(data: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name !== FANOUT_MARKER).map((e) => e.name);
}

describe('BlobStore', () => {
  let dir: string;
  let store: BlobStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dfs-blobs-'));
    store = await BlobStore.open(dir);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a chunk to <dir>/ab/cd/<hash> and reads it back verified', async () => {
    const data = randomBytes(100_000);
    const hash = sha256(data);
    assert.equal(await store.writeChunk(hash, data), true);
    assert.deepEqual(await readFile(chunkPath(dir, hash)), data);
    assert.equal(await store.has(hash), true);
    assert.equal(await store.size(hash), data.length);
    assert.deepEqual((await drain(store.readChunkStream(hash))).data, data);
    assert.deepEqual(await store.readChunk(hash), data);
    assert.deepEqual(await filesUnder(join(dir, 'tmp')), [], 'no temp file left');
  });

  it('streams a chunk in, hashing as it goes', async () => {
    const data = randomBytes(300_000);
    const hash = sha256(data);
    assert.equal(await store.writeChunkStream(hash, pieces(data), 1024 * 1024), true);
    assert.deepEqual(await store.readChunk(hash), data);
  });

  it('takes an already hashed chunk without hashing it again, and still verifies it on every read', async () => {
    const data = randomBytes(200_000);
    const hash = sha256(data);
    assert.equal(await store.writeHashedChunk(hash, data), true);
    assert.deepEqual(await store.readChunk(hash), data);
    // A caller that lied about the hash gets its bytes stored, but never served.
    const wrong = sha256(randomBytes(10));
    assert.equal(await store.writeHashedChunk(wrong, data), true);
    await assert.rejects(store.readChunk(wrong), ChunkCorruptError);
    assert.equal(await store.has(wrong), false, 'quarantined');
  });

  it('streams a chunk in many small pieces into the same bytes', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const hash = sha256(data);
    assert.equal(await store.writeChunkStream(hash, pieces(data, 16 * 1024), 8 * 1024 * 1024), true);
    assert.deepEqual(await readFile(chunkPath(dir, hash)), data);
  });

  it('stores identical chunks once', async () => {
    const data = randomBytes(5000);
    const hash = sha256(data);
    assert.equal(await store.writeChunk(hash, data), true);
    assert.equal(await store.writeChunk(hash, Buffer.from(data)), false);
    assert.equal(await store.writeChunkStream(hash, pieces(data), 10_000), false);
    // Concurrent writers of one chunk: exactly one of them creates it.
    const results = await Promise.all([1, 2, 3].map(() => store.writeChunk(hash, data)));
    assert.deepEqual(results, [false, false, false]);
    assert.deepEqual(await store.stats(), { count: 1, bytes: 5000 });
    const other = randomBytes(77);
    const racing = await Promise.all([1, 2, 3].map(() => store.writeChunkStream(sha256(other), pieces(other, 10), 100)));
    assert.deepEqual(racing.filter(Boolean).length, 1);
    assert.deepEqual(await store.stats(), { count: 2, bytes: 5077 });
  });

  it('refuses bytes that do not match the hash, leaving nothing behind', async () => {
    const data = randomBytes(4096);
    const wrong = sha256(Buffer.from('something else'));
    await assert.rejects(store.writeChunk(wrong, data), ChunkHashMismatchError);
    await assert.rejects(store.writeChunkStream(wrong, pieces(data), 10_000), (err: unknown) => {
      assert.ok(err instanceof ChunkHashMismatchError);
      assert.equal(err.expected, wrong);
      assert.equal(err.actual, sha256(data));
      return true;
    });
    assert.equal(await store.has(wrong), false);
    assert.deepEqual(await filesUnder(dir), []);
  });

  it('refuses a streamed chunk beyond sizeMax, leaving nothing behind', async () => {
    const data = randomBytes(5000);
    await assert.rejects(store.writeChunkStream(sha256(data), pieces(data), 4999), ChunkTooLargeError);
    assert.deepEqual(await filesUnder(dir), []);
    const small = await BlobStore.open(join(dir, 'small'), { chunkBytesMax: 100 });
    await assert.rejects(small.writeChunk(sha256(data), data), ChunkTooLargeError);
  });

  it('passes a failing source through and leaves nothing behind', async () => {
    const data = randomBytes(5000);
    let reads = 0;
    // Fails mid-body, while the store is consuming it, as a dropped connection would.
    const source = new Readable({
      read() {
        if (reads++ === 0) this.push(data.subarray(0, 1000));
        else this.destroy(new Error('connection reset'));
      },
    });
    await assert.rejects(store.writeChunkStream(sha256(data), source, 10_000), /connection reset/);
    assert.deepEqual(await filesUnder(dir), []);
  });

  it('detects a flipped byte on read, emits nothing and quarantines the file', async () => {
    const data = randomBytes(200_000);
    const hash = sha256(data);
    await store.writeChunk(hash, data);
    const path = chunkPath(dir, hash);
    const bad = Buffer.from(data);
    bad[150_000] ^= 0x01;
    await writeFile(path, bad);

    // A range far from the flipped byte must fail too: the whole chunk is verified.
    const stream = store.readChunkStream(hash, { start: 0, end: 99 });
    let emitted = 0;
    stream.on('data', (piece: Buffer) => (emitted += piece.length));
    const { error } = await drain(stream);
    assert.ok(error instanceof ChunkCorruptError, `got ${String(error)}`);
    assert.equal(emitted, 0, 'not a single byte of the bad chunk was emitted');
    assert.equal(existsSync(path), false, 'moved out of the chunk tree');
    const quarantined = await readdir(join(dir, 'quarantine'));
    assert.equal(quarantined.length, 1);
    assert.ok(quarantined[0].startsWith(hash));
    assert.deepEqual(await readFile(join(dir, 'quarantine', quarantined[0])), bad);
    assert.equal(await store.has(hash), false);

    // Fetched again from a peer, it is stored anew.
    assert.equal(await store.writeChunk(hash, data), true);
    assert.deepEqual(await store.readChunk(hash), data);
  });

  it('replaces a corrupt copy instead of deduplicating against it', async () => {
    const data = randomBytes(10_000);
    const hash = sha256(data);
    await store.writeChunk(hash, data);
    await writeFile(chunkPath(dir, hash), data.subarray(0, 9_999)); // truncated on disk
    assert.equal(await store.writeChunkStream(hash, pieces(data), 20_000), true);
    assert.deepEqual(await store.readChunk(hash), data);
    assert.equal((await readdir(join(dir, 'quarantine'))).length, 1);
  });

  it('serves byte ranges, inclusive of both ends, after verifying the whole chunk', async () => {
    const data = randomBytes(300_000);
    const hash = sha256(data);
    await store.writeChunk(hash, data);
    const cases: [number | undefined, number | undefined][] = [
      [0, 0],
      [0, 99],
      [1, 1],
      [100_000, 250_000],
      [299_999, 299_999],
      [200_000, undefined],
      [undefined, 65_535],
      [250_000, 10_000_000], // clamped to the chunk, as fs.createReadStream does
    ];
    for (const [start, end] of cases) {
      const expected = data.subarray(start ?? 0, end === undefined ? undefined : end + 1);
      const { data: got, error } = await drain(store.readChunkStream(hash, { start, end }));
      assert.equal(error, undefined);
      assert.deepEqual(got, expected, `range ${start}-${end}`);
    }
    assert.throws(() => store.readChunkStream(hash, { start: 10, end: 9 }), /range end/);
    assert.throws(() => store.readChunkStream(hash, { start: -1 }), /range start/);
  });

  it('errors a read of a missing chunk with ChunkNotFoundError', async () => {
    const hash = sha256(Buffer.from('absent'));
    const { error } = await drain(store.readChunkStream(hash));
    assert.ok(error instanceof ChunkNotFoundError);
    assert.equal(await store.readChunk(hash), null);
    assert.equal(await store.size(hash), null);
    assert.equal(await store.delete(hash), false);
  });

  it('refuses anything but 64 lowercase hex characters as a hash, everywhere', async () => {
    const data = Buffer.from('x');
    const good = sha256(data);
    const bad = [
      '',
      good.toUpperCase(),
      good.slice(1),
      good + '0',
      '../../../../etc/passwd',
      `${good.slice(0, 60)}/../`,
      `${good.slice(0, 63)}g`,
      `${good.slice(0, 63)}\n`,
    ];
    for (const hash of bad) {
      await assert.rejects(store.writeChunk(hash, data), InvalidChunkHashError);
      await assert.rejects(store.writeChunkStream(hash, pieces(data), 10), InvalidChunkHashError);
      await assert.rejects(store.has(hash), InvalidChunkHashError);
      await assert.rejects(store.size(hash), InvalidChunkHashError);
      await assert.rejects(store.readChunk(hash), InvalidChunkHashError);
      await assert.rejects(store.delete(hash), InvalidChunkHashError);
      assert.throws(() => store.readChunkStream(hash), InvalidChunkHashError);
    }
    assert.deepEqual(await filesUnder(dir), []);
  });

  it('lists, counts and deletes chunks, ignoring stray files', async () => {
    const hashes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(100 + i);
      hashes.push(sha256(data));
      await store.writeChunk(sha256(data), data);
    }
    // Not chunks: wrong name, wrong directory, a temp file.
    await writeFile(join(dir, hashes[0].slice(0, 2), hashes[0].slice(2, 4), 'README'), 'x');
    await mkdir(join(dir, 'zz', '00'), { recursive: true });
    await writeFile(join(dir, 'zz', '00', hashes[1]), 'x');
    await writeFile(join(dir, hashes[0].slice(0, 2), hashes[0].slice(2, 4), hashes[1]), 'x');
    const listed: string[] = [];
    for await (const hash of store.list()) listed.push(hash);
    assert.deepEqual(listed.sort(), [...hashes].sort());
    const bytes = Array.from({ length: 20 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0);
    assert.deepEqual(await store.stats(), { count: 20, bytes });
    assert.equal(await store.delete(hashes[3]), true);
    assert.equal(await store.has(hashes[3]), false);
    assert.deepEqual(await store.stats(), { count: 19, bytes: bytes - 103 });
  });

  it('cleans <dir>/tmp/ at start-up and keeps the chunks', async () => {
    const data = randomBytes(1000);
    const hash = sha256(data);
    await store.writeChunk(hash, data);
    await writeFile(join(dir, 'tmp', `${hash}.leftover`), 'half a chunk from a crash');
    await mkdir(join(dir, 'tmp', 'nested'));
    const reopened = await BlobStore.open(dir);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await reopened.readChunk(hash), data);
  });

  it('creates the 256 fan-out directories and its marker once, and reopens without redoing it', async () => {
    const firsts = (await readdir(dir)).filter((name) => /^[0-9a-f]{2}$/.test(name));
    assert.equal(firsts.length, 256);
    assert.equal(existsSync(join(dir, FANOUT_MARKER)), true);
    assert.equal(existsSync(join(dir, 'quarantine')), true);
    // With the marker present a reopen trusts it: a directory removed by hand stays removed…
    await rm(join(dir, 'ff'), { recursive: true });
    const reopened = await BlobStore.open(dir);
    assert.equal(existsSync(join(dir, 'ff')), false);
    // …and a chunk that needs it still lands (its directories are made on demand).
    const data = Buffer.from('a chunk whose hash starts with ff?');
    let bytes = data;
    for (let i = 0; !sha256(bytes).startsWith('ff'); i++) bytes = Buffer.concat([data, Buffer.from(String(i))]);
    assert.equal(await reopened.writeChunk(sha256(bytes), bytes), true);
    assert.deepEqual(await readFile(chunkPath(dir, sha256(bytes))), bytes);
  });

  it('opens a store written before the marker existed and keeps its chunks', async () => {
    const old = join(dir, 'old');
    const data = randomBytes(5000);
    const hash = sha256(data);
    // The earlier layout: only the directories chunks needed, no marker, no quarantine/.
    await mkdir(join(old, hash.slice(0, 2), hash.slice(2, 4)), { recursive: true });
    await writeFile(chunkPath(old, hash), data);
    const store = await BlobStore.open(old);
    assert.equal(existsSync(join(old, FANOUT_MARKER)), true);
    assert.deepEqual(await store.readChunk(hash), data);
    assert.equal(await store.writeChunk(hash, data), false, 'the copy already there counts');
    const other = randomBytes(5000);
    assert.equal(await store.writeChunk(sha256(other), other), true);
    const listed: string[] = [];
    for await (const listedHash of store.list()) listed.push(listedHash);
    assert.deepEqual(listed.sort(), [hash, sha256(other)].sort());
  });

  it('refuses use before init()', async () => {
    const fresh = new BlobStore(join(dir, 'fresh'));
    await assert.rejects(fresh.has(sha256(Buffer.from('a'))), /before init/);
  });
});
