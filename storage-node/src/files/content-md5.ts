// The MD5 of an upload's content, computed as its bytes stream past on their way to the chunker:
// S3's ETag of a single put (the SHA-256 stays the native ETag). Costs one more hash pass, so a
// write computes it only when asked (the S3 gateway asks; multipart parts always need it).
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { assert } from '../../../shared/assert.ts';
import { isMd5Hex } from '../metadata/commands.ts';

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

export class ContentMd5 {
  readonly #hash: Hash = createHash('md5');
  #digest: string | null = null;

  /** The same bytes, hashed as they are pulled. */
  async *tap(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const piece of source) {
      this.#hash.update(piece);
      yield piece;
    }
  }

  /** Hex MD5 of every byte tapped; only once the source has been read to its end. */
  hex(): string {
    if (this.#digest === null) this.#digest = this.#hash.digest('hex');
    assert(isMd5Hex(this.#digest), 'an MD5 digest is 32 hex digits');
    return this.#digest;
  }
}
