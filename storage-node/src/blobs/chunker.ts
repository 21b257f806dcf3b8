// Splits an upload into fixed-size chunks, hashing each chunk and the whole content as bytes
// arrive. It pulls the next piece only after onChunk settles, so memory holds one chunk being
// filled (plus whatever onChunk still holds), never the file.
import { createHash } from 'node:crypto';
import { assert } from '../../../shared/assert.ts';

export const CHUNK_SIZE_DEFAULT = 4 * 1024 * 1024;

/**
 * The bytes the chunker holds for the chunk it fills next: a whole chunk, or only what remains of
 * a body of known length (`expectedLength`, when known) after `receivedBytes`.
 */
export function chunkBufferBytes(chunkSize: number, expectedLength: number | undefined, receivedBytes = 0): number {
  return Math.min(chunkSize, expectedLength === undefined ? Infinity : Math.max(0, expectedLength - receivedBytes));
}

export interface Chunk {
  readonly index: number;
  /** Hex SHA-256 of `data`. */
  readonly hash: string;
  /** Exactly `size` bytes, owned by the callee: the chunker never reuses it. */
  readonly data: Buffer;
  readonly size: number;
}

export interface ChunkedBody {
  readonly size: number;
  /** Hex SHA-256 of the whole content. */
  readonly etag: string;
  readonly chunks: string[];
  readonly chunkSizes: number[];
}

export interface ChunkStreamOptions {
  /** Declared length (Content-Length): fewer bytes is BodyIncompleteError, more is BodyTooLargeError. */
  readonly expectedLength?: number;
  /** Size limit of the whole body. */
  readonly sizeMax?: number;
  /**
   * Called (and awaited) before each chunk buffer is allocated, with its size: a caller that
   * bounds memory reserves it here. The buffer is handed over in onChunk.
   */
  readonly reserveBuffer?: (bytes: number) => Promise<void>;
  /**
   * Where chunk buffers come from (default: fresh allocations). A full-size buffer is handed over
   * in onChunk; a short last chunk is copied out and its buffer handed back with `give`.
   */
  readonly buffers?: { take(bytes: number): Buffer; give(buffer: Buffer): void };
  /** Told, per chunk, how long filling its buffer from the body took (body_fill) and hashing it (hash). */
  readonly onStage?: (stage: 'body_fill' | 'hash', seconds: number) => void;
}

/** The body ended (or its connection failed) before the declared length arrived. */
export class BodyIncompleteError extends Error {
  override readonly name = 'BodyIncompleteError';
  readonly code = 'incomplete_body';
  constructor(
    readonly received: number,
    readonly expected: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      expected === undefined
        ? `body failed after ${received} bytes`
        : `body ended after ${received} of ${expected} bytes`,
      options,
    );
  }
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  readonly code = 'too_large';
  constructor(
    readonly limit: number,
    message: string,
  ) {
    super(message);
  }
}

export async function chunkStream(
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  onChunk: (chunk: Chunk) => Promise<void>,
  options: ChunkStreamOptions = {},
): Promise<ChunkedBody> {
  const { expectedLength, sizeMax, reserveBuffer, onStage } = options;
  const buffers = options.buffers ?? { take: (bytes: number) => Buffer.allocUnsafe(bytes), give: () => undefined };
  assert(Number.isSafeInteger(chunkSize) && chunkSize > 0, 'chunkSize must be a positive integer');
  assert(expectedLength === undefined || (Number.isSafeInteger(expectedLength) && expectedLength >= 0), 'expectedLength must be a non-negative integer');
  assert(sizeMax === undefined || (Number.isSafeInteger(sizeMax) && sizeMax >= 0), 'sizeMax must be a non-negative integer');
  // Refuse before reading a byte, so the caller can answer 413 while the client still listens.
  if (expectedLength !== undefined && sizeMax !== undefined && expectedLength > sizeMax) {
    throw new BodyTooLargeError(sizeMax, `body of ${expectedLength} bytes exceeds the limit of ${sizeMax}`);
  }
  const limit = Math.min(expectedLength ?? Infinity, sizeMax ?? Infinity);

  const whole = createHash('sha256');
  const chunks: string[] = [];
  const chunkSizes: number[] = [];
  let received = 0;
  let buffer: Buffer | null = null;
  let filled = 0;
  let fillStarted = 0;

  const emit = async (): Promise<void> => {
    assert(buffer !== null && filled > 0, 'emit of an empty chunk');
    // A short last chunk is copied so the callee does not keep a full-size allocation alive.
    const data = filled === buffer.length ? buffer : Buffer.from(buffer.subarray(0, filled));
    if (data !== buffer) buffers.give(buffer);
    buffer = null;
    filled = 0;
    const hashStarted = performance.now();
    onStage?.('body_fill', (hashStarted - fillStarted) / 1000);
    const hash = createHash('sha256').update(data).digest('hex');
    whole.update(data);
    onStage?.('hash', (performance.now() - hashStarted) / 1000);
    chunks.push(hash);
    chunkSizes.push(data.length);
    await onChunk({ index: chunks.length - 1, hash, data, size: data.length });
  };

  // Only failures while pulling from the source mean a broken body; onChunk's errors
  // (disk full, replica unreachable) pass through unchanged.
  let pulling = true;
  try {
    for await (const piece of source) {
      pulling = false;
      assert(piece instanceof Uint8Array, 'body source must yield bytes');
      received += piece.length;
      if (received > limit) {
        throw sizeMax !== undefined && received > sizeMax
          ? new BodyTooLargeError(sizeMax, `body exceeds the limit of ${sizeMax} bytes`)
          : new BodyTooLargeError(limit, `body is longer than its declared ${expectedLength} bytes`);
      }
      let offset = 0;
      while (offset < piece.length) {
        // With a declared length, the last chunk's buffer is only as large as what remains:
        // a small file does not cost a whole chunk of memory.
        if (buffer === null) {
          const bytes = chunkBufferBytes(chunkSize, limit, received - piece.length + offset);
          await reserveBuffer?.(bytes);
          buffer = buffers.take(bytes);
          fillStarted = performance.now();
        }
        const copied = Math.min(piece.length - offset, buffer.length - filled);
        assert(copied > 0, 'a chunk buffer is full before its chunk ends');
        buffer.set(piece.subarray(offset, offset + copied), filled);
        filled += copied;
        offset += copied;
        if (filled === chunkSize) await emit();
      }
      pulling = true;
    }
  } catch (err) {
    if (pulling) throw new BodyIncompleteError(received, expectedLength, { cause: err });
    throw err;
  }
  if (expectedLength !== undefined && received < expectedLength) {
    throw new BodyIncompleteError(received, expectedLength);
  }
  if (filled > 0) await emit();

  assert(chunks.length === Math.ceil(received / chunkSize), 'chunk count matches the size');
  return { size: received, etag: whole.digest('hex'), chunks, chunkSizes };
}
