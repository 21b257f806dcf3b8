// Chunk buffers reused across uploads: only whole chunk-sized buffers are kept, never more than
// the bound, never one twice; and an upload's chunks come out right when the chunker reuses them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chunkStream } from '../../storage-node/src/blobs/chunker.ts';
import { ChunkBuffers } from '../../storage-node/src/files/chunk-buffers.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('chunk buffers', () => {
  it('hands back a kept buffer, keeps only chunk-sized ones, up to the bound, never twice', () => {
    const buffers = new ChunkBuffers(1024, 2);
    const a = buffers.take(1024);
    const b = buffers.take(1024);
    const c = buffers.take(1024);
    buffers.give(a);
    buffers.give(b);
    buffers.give(c);
    assert.equal(buffers.kept, 2);
    assert.equal(buffers.take(1024), b);
    buffers.give(Buffer.alloc(100));
    buffers.give(Buffer.alloc(2048).subarray(0, 1024));
    assert.equal(buffers.kept, 1, 'short buffers and views are not kept');
    assert.throws(() => buffers.give(a), /handed back twice/);
  });

  it('gives the chunker reused buffers without mixing the bytes of one chunk into another', async () => {
    const chunkSize = 64 * 1024;
    const buffers = new ChunkBuffers(chunkSize, 4);
    const body = randomBytes(10 * chunkSize + 777);
    const pieces = Array.from({ length: Math.ceil(body.length / 5000) }, (_, i) => body.subarray(i * 5000, (i + 1) * 5000));
    const seen: string[] = [];
    const result = await chunkStream(
      (async function* () {
        yield* pieces;
      })(),
      chunkSize,
      async (chunk) => {
        // What a store would keep: a copy, checked against the hash, then the buffer goes back.
        assert.equal(sha256(chunk.data), chunk.hash);
        seen.push(chunk.hash);
        buffers.give(chunk.data);
      },
      { buffers },
    );
    assert.deepEqual(result.chunks, seen);
    assert.equal(result.etag, sha256(body));
    const expected = Array.from({ length: 11 }, (_, i) => sha256(body.subarray(i * chunkSize, (i + 1) * chunkSize)));
    assert.deepEqual(result.chunks, expected);
    assert.ok(buffers.kept >= 1);
  });
});
