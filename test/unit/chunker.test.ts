// The chunker: exact boundaries, hashes, reassembly, the length checks, and memory that does not
// grow with the body.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BodyIncompleteError, BodyTooLargeError, chunkStream } from '../../storage-node/src/blobs/chunker.ts';
import type { Chunk } from '../../storage-node/src/blobs/chunker.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Yields `data` in pieces of awkward sizes, so piece and chunk boundaries never line up. */
function source(data: Buffer, pieceSizes = [1, 700, 333, 4096, 17]): Readable {
  const parts: Buffer[] = [];
  for (let i = 0, n = 0; i < data.length; n++) {
    const size = pieceSizes[n % pieceSizes.length];
    parts.push(data.subarray(i, i + size));
    i += size;
  }
  return Readable.from(parts);
}

async function collect(data: Buffer, chunkSize: number) {
  const seen: Chunk[] = [];
  const result = await chunkStream(source(data), chunkSize, async (chunk) => {
    seen.push(chunk);
  });
  return { result, seen };
}

describe('chunkStream', () => {
  const chunkSize = KiB;

  for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 5 * chunkSize + 7]) {
    it(`splits a ${size} byte body into exact chunks`, async () => {
      const data = randomBytes(size);
      const { result, seen } = await collect(data, chunkSize);
      const count = Math.ceil(size / chunkSize);
      assert.equal(result.size, size);
      assert.equal(result.etag, sha256(data));
      assert.equal(result.chunks.length, count);
      assert.equal(seen.length, count);
      for (const [i, chunk] of seen.entries()) {
        const expected = data.subarray(i * chunkSize, (i + 1) * chunkSize);
        assert.equal(chunk.index, i);
        assert.equal(chunk.size, expected.length);
        assert.equal(chunk.data.length, expected.length);
        assert.equal(chunk.hash, sha256(expected));
        assert.equal(result.chunks[i], chunk.hash);
        assert.equal(result.chunkSizes[i], chunk.size);
        assert.ok(i === count - 1 || chunk.size === chunkSize, 'only the last chunk may be short');
      }
      assert.deepEqual(Buffer.concat(seen.map((c) => c.data)), data, 'byte-exact reassembly');
    });
  }

  it('accepts a body that matches its expected length', async () => {
    const data = randomBytes(2500);
    const result = await chunkStream(source(data), chunkSize, async () => {}, { expectedLength: 2500, sizeMax: 2500 });
    assert.equal(result.size, 2500);
  });

  it('throws BodyIncompleteError when the body ends early', async () => {
    const data = randomBytes(2500);
    await assert.rejects(chunkStream(source(data), chunkSize, async () => {}, { expectedLength: 2501 }), (err: unknown) => {
      assert.ok(err instanceof BodyIncompleteError);
      assert.equal(err.received, 2500);
      assert.equal(err.expected, 2501);
      return true;
    });
  });

  it('throws BodyIncompleteError when the source fails, but passes onChunk errors through', async () => {
    let reads = 0;
    const broken = new Readable({
      read() {
        if (reads++ === 0) this.push(randomBytes(100));
        else this.destroy(new Error('socket hang up'));
      },
    });
    await assert.rejects(chunkStream(broken, chunkSize, async () => {}), (err: unknown) => {
      assert.ok(err instanceof BodyIncompleteError);
      assert.match(String((err.cause as Error).message), /socket hang up/);
      return true;
    });
    const diskFull = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    await assert.rejects(
      chunkStream(source(randomBytes(3000)), chunkSize, async () => {
        throw diskFull;
      }),
      (err: unknown) => err === diskFull,
    );
  });

  it('throws BodyTooLargeError beyond the size limit or the declared length', async () => {
    const data = randomBytes(3000);
    let chunks = 0;
    await assert.rejects(chunkStream(source(data), chunkSize, async () => void chunks++, { sizeMax: 2999 }), BodyTooLargeError);
    assert.ok(chunks <= 2, 'the over-limit part never reached onChunk');
    await assert.rejects(chunkStream(source(data), chunkSize, async () => {}, { expectedLength: 2000 }), BodyTooLargeError);
    // A declared length over the limit is refused before a byte is read.
    const untouched = source(data);
    await assert.rejects(chunkStream(untouched, chunkSize, async () => {}, { expectedLength: 5000, sizeMax: 4000 }), BodyTooLargeError);
    assert.equal(untouched.readableDidRead, false);
  });

  it('waits for onChunk before pulling more of the body', async () => {
    let pulled = 0;
    let total = 0;
    const body = new Readable({
      highWaterMark: KiB,
      read() {
        if (total >= 64 * KiB) return void this.push(null);
        total += KiB;
        pulled += KiB;
        this.push(Buffer.alloc(KiB, 1));
      },
    });
    await chunkStream(body, 4 * KiB, async () => {
      const before = pulled;
      for (let i = 0; i < 20; i++) await nextTurn();
      // Only the source's own small read-ahead may arrive while a chunk is being handled.
      assert.ok(pulled - before <= 4 * KiB, `pulled ${pulled - before} bytes while onChunk was busy`);
    });
  });

  it('keeps memory flat for a 200 MiB body in 4 MiB chunks', async () => {
    const total = 200 * MiB;
    const pattern = randomBytes(64 * KiB);
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += pattern.length;
        // A fresh copy each time, as a socket would hand over.
        this.push(Buffer.from(pattern));
      },
    });
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let count = 0;
    const result = await chunkStream(body, 4 * MiB, async (chunk) => {
      count++;
      assert.equal(chunk.size, 4 * MiB);
      await nextTurn(); // a consumer that takes its time, like a disk write and pushes
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    });
    assert.equal(result.size, total);
    assert.equal(count, 50);
    const growthMiB = (rssPeak - rssBefore) / MiB;
    console.log(`  RSS growth for 200 MiB through the chunker: ${growthMiB.toFixed(1)} MiB`);
    assert.ok(growthMiB < 100, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
  });
});
