// Pseudo-random bytes from a seed, made on the fly a piece at a time (never the whole file in
// memory): AES-128-CTR over zeros, keyed by SHA-256 of the seed. Fast (AES-NI), never repeats
// within a file (so no chunk deduplicates), and the same seed gives the same bytes.
import { createCipheriv, createHash } from 'node:crypto';

const pieceBytes = 1024 * 1024;
const zeros = Buffer.alloc(pieceBytes);

export async function* seededBytes(seed: string, size: number): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  let left = size;
  while (left > 0) {
    const n = Math.min(left, pieceBytes);
    left -= n;
    yield cipher.update(n === pieceBytes ? zeros : zeros.subarray(0, n));
  }
}

/** A small seeded buffer (a 4 KiB file, say). */
export function seededBuffer(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}
