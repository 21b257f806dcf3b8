// Chunk-sized buffers, reused across uploads. A 4 MiB Buffer per chunk, allocated fresh, is
// external memory the garbage collector frees late: on a 1 GiB upload the leader spent about as
// much time collecting as hashing, and its RSS grew past the window it really holds. A buffer comes
// back here only once nothing can touch it any more (its chunk's local write and every push ended).
import { assert } from '../../../shared/assert.ts';

export class ChunkBuffers {
  readonly chunkSize: number;
  readonly #keepMax: number;
  readonly #free: Buffer[] = [];

  /** Keeps at most `keepMax` free buffers of `chunkSize` bytes (memory an idle node holds). */
  constructor(chunkSize: number, keepMax: number) {
    assert(Number.isSafeInteger(chunkSize) && chunkSize > 0, 'chunkSize must be a positive integer');
    assert(Number.isSafeInteger(keepMax) && keepMax >= 0, 'keepMax must be a non-negative integer');
    this.chunkSize = chunkSize;
    this.#keepMax = keepMax;
  }

  /** Free buffers kept. */
  get kept(): number {
    return this.#free.length;
  }

  /** A buffer of `bytes` (contents undefined): a kept one when it is chunk-sized. */
  take(bytes: number): Buffer {
    if (bytes === this.chunkSize) {
      const kept = this.#free.pop();
      if (kept !== undefined) return kept;
    }
    return Buffer.allocUnsafeSlow(bytes);
  }

  /** Hands back a buffer nothing refers to any more; only whole chunk-sized buffers are kept. */
  give(buffer: Buffer): void {
    if (buffer.length !== this.chunkSize || buffer.byteOffset !== 0 || buffer.buffer.byteLength !== this.chunkSize) return;
    assert(!this.#free.includes(buffer), 'a chunk buffer was handed back twice');
    if (this.#free.length < this.#keepMax) this.#free.push(buffer);
  }
}
