// A version's bytes, or a range of them: inline content from meta.db, chunks from the blob store
// (or a peer), in order. The first piece is loaded before the stream is handed back, so content
// no node can give is an error before any header is sent, not a cut body.
import { sha256Hex } from '../../../shared/sha256.ts';
import { isInline } from '../metadata/file-record.ts';
import type { FileRecord } from '../metadata/file-record.ts';
import type { NodeContext } from '../node/node-context.ts';
import { chunkSizes, loadChunk } from './chunk-source.ts';
import { FileError } from './file-errors.ts';

/**
 * A version's bytes: whole in memory when they are small and already there (inline content, so a
 * protocol can answer with one write), else a stream.
 */
export type ContentBytes = Buffer | AsyncIterable<Buffer>;

/** Bytes `start` to `end` (inclusive) of `record`; empty when the file is. */
export async function openContent(ctx: NodeContext, record: FileRecord, start: number, end: number): Promise<ContentBytes> {
  if (record.size === 0 || end < start) return Buffer.alloc(0);
  if (isInline(record)) {
    // Synchronous from here: the content cannot be dropped between the record and this read.
    const content = ctx.metadata.inlineContent(record.etag);
    if (content === null) throw new FileError('not_found', `version ${record.version} of "${record.name}" was removed while it was read`);
    if (sha256Hex(content) !== record.etag) throw new FileError('corrupt_content', `inline content ${record.etag} does not match its hash`);
    return content.subarray(start, end + 1);
  }
  const sizes = await chunkSizes(ctx, record.chunks, record.chunkSizes);
  const wanted = chunksInRange(sizes, start, end);
  if (wanted.length === 0) return Buffer.alloc(0);
  // The first piece is read before the stream is handed back (an error is still a status). The
  // generator is started here so that closing the stream early always runs its clean-up, which a
  // generator never started would skip.
  const pieces = chunkRange(ctx, record, wanted);
  const first = await pieces.next();
  let firstTaken = false;
  const stream: AsyncIterableIterator<Buffer> = {
    next: () => {
      if (firstTaken) return pieces.next();
      firstTaken = true;
      return Promise.resolve(first);
    },
    return: (value?: unknown) => pieces.return(value as undefined),
    throw: (err?: unknown) => pieces.throw(err),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return stream;
}

interface WantedChunk {
  readonly index: number;
  readonly size: number;
  /** The part of the chunk in the range: [from, to). */
  readonly from: number;
  readonly to: number;
}

/**
 * Yields each wanted chunk's part, verified. Every chunk held counts against the node's download
 * memory: the one going out, and the next, read and verified meanwhile (read-ahead) when the
 * budget has room for it at once. The chunk going out is given back when the consumer asks for
 * the next, so a read waiting for memory holds none: no two reads can wait on each other.
 */
async function* chunkRange(ctx: NodeContext, record: FileRecord, wanted: readonly WantedChunk[]): AsyncGenerator<Buffer, void, undefined> {
  const budget = ctx.downloadMemory;
  let current: { chunk: WantedChunk; data: Buffer } | null = null;
  let ahead: { chunk: WantedChunk; loading: Promise<Buffer> } | null = null;
  try {
    for (let k = 0; k < wanted.length; k++) {
      if (current === null) {
        const chunk = wanted[k];
        if (ahead !== null) {
          const loading: Promise<Buffer> = ahead.loading;
          current = { chunk, data: Buffer.alloc(0) };
          ahead = null;
          current.data = await loading;
        } else {
          await budget.acquire(chunk.size);
          current = { chunk, data: Buffer.alloc(0) };
          current.data = await loadChunk(ctx, record.chunks[chunk.index]);
        }
      }
      const next = wanted[k + 1];
      if (next !== undefined && ahead === null && budget.tryAcquire(next.size)) {
        const loading = loadChunk(ctx, record.chunks[next.index]);
        loading.catch(() => undefined); // awaited when its turn comes (or dropped with the stream)
        ahead = { chunk: next, loading };
      }
      const { chunk, data } = current;
      yield data.subarray(chunk.from, chunk.to);
      current = null;
      budget.release(chunk.size);
    }
  } finally {
    if (current !== null) budget.release(current.chunk.size);
    if (ahead !== null) {
      const { chunk, loading } = ahead;
      // Its bytes stay held until its read is over, whatever the outcome.
      void loading.then(() => budget.release(chunk.size), () => budget.release(chunk.size));
    }
  }
}

/** The chunks bytes `start` to `end` (inclusive) touch, with the part of each. */
function chunksInRange(sizes: readonly number[], start: number, end: number): WantedChunk[] {
  const wanted: WantedChunk[] = [];
  let offset = 0;
  for (let i = 0; i < sizes.length; i++) {
    const chunkStart = offset;
    const chunkEnd = offset + sizes[i] - 1;
    offset += sizes[i];
    if (chunkEnd < start || sizes[i] === 0) continue;
    if (chunkStart > end) break;
    wanted.push({ index: i, size: sizes[i], from: Math.max(0, start - chunkStart), to: Math.min(sizes[i], end - chunkStart + 1) });
  }
  return wanted;
}
