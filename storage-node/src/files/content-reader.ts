// A version's bytes, or a range of them: inline content from meta.db, chunks from the blob store
// (or a peer), in order. The first piece is loaded before the stream is handed back, so content
// no node can give is an error before any header is sent, not a cut body.
import { sha256Hex } from '../../../shared/sha256.ts';
import { isInline } from '../metadata/file-record.ts';
import type { FileRecord } from '../metadata/file-record.ts';
import type { NodeContext } from '../node/node-context.ts';
import { chunkSizes, loadChunk, loadChunkLeased } from './chunk-source.ts';
import type { LeasedChunk } from './chunk-source.ts';
import { assert } from '../../../shared/assert.ts';
import { FileError } from './file-errors.ts';

/**
 * A version's bytes: whole in memory when they are small and already there (inline content, so a
 * protocol can answer with one write), else a stream.
 */
export type ContentBytes = Buffer | AsyncIterable<Buffer>;

/** Bytes `start` to `end` (inclusive) of `record`; empty when the file is. */
export async function openContent(ctx: NodeContext, record: FileRecord, start: number, end: number): Promise<ContentBytes> {
  const content = await open(ctx, record, start, end, false);
  if (Buffer.isBuffer(content)) return content;
  return plainPieces(content);
}

/** A piece of content lent out: `release()` once nothing refers to its bytes any more. */
export interface LeasedPiece {
  readonly bytes: Buffer;
  release(): void;
}

/**
 * openContent for a consumer that says when it is done with each piece (see loadChunkLeased): the
 * chunks are read into the node's reused buffers. A piece never released is simply not reused.
 */
export function openLeasedContent(ctx: NodeContext, record: FileRecord, start: number, end: number): Promise<Buffer | AsyncIterableIterator<LeasedPiece>> {
  return open(ctx, record, start, end, true);
}

async function open(ctx: NodeContext, record: FileRecord, start: number, end: number, leased: boolean): Promise<Buffer | AsyncIterableIterator<LeasedPiece>> {
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
  const load = leased ? (hash: string) => loadChunkLeased(ctx, hash) : (hash: string) => loadChunk(ctx, hash).then((data) => ({ data, release: () => undefined }));
  const pieces = chunkRange(ctx, record, wanted, load);
  const first = await pieces.next();
  let firstTaken = false;
  const stream: AsyncIterableIterator<LeasedPiece> = {
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

/** The pieces' bytes alone, for consumers that keep no account of when they are done. */
function plainPieces(pieces: AsyncIterableIterator<LeasedPiece>): AsyncIterableIterator<Buffer> {
  return {
    next: async () => {
      const step = await pieces.next();
      return step.done === true ? step : { done: false, value: step.value.bytes };
    },
    return: async (value?: unknown) => {
      await pieces.return?.(value as undefined);
      return { done: true, value: undefined };
    },
    throw: (err?: unknown) => pieces.throw!(err) as Promise<IteratorResult<Buffer>>,
    [Symbol.asyncIterator]() {
      return this;
    },
  };
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
 * budget has room for it at once. The chunk going out counts until the consumer asks for the
 * next, so a read waiting for memory holds none: no two reads can wait on each other. Its buffer
 * is the consumer's to release; one read ahead and never handed out is released here.
 */
async function* chunkRange(ctx: NodeContext, record: FileRecord, wanted: readonly WantedChunk[], load: (hash: string) => Promise<LeasedChunk>): AsyncGenerator<LeasedPiece, void, undefined> {
  const budget = ctx.downloadMemory;
  let current: { chunk: WantedChunk; lease: LeasedChunk | null } | null = null;
  let ahead: { chunk: WantedChunk; loading: Promise<LeasedChunk> } | null = null;
  try {
    for (let k = 0; k < wanted.length; k++) {
      if (current === null) {
        const chunk = wanted[k];
        if (ahead !== null) {
          const loading: Promise<LeasedChunk> = ahead.loading;
          current = { chunk, lease: null };
          ahead = null;
          current.lease = await loading;
        } else {
          await budget.acquire(chunk.size);
          current = { chunk, lease: null };
          current.lease = await load(record.chunks[chunk.index]);
        }
      }
      const next = wanted[k + 1];
      if (next !== undefined && ahead === null && budget.tryAcquire(next.size)) {
        const loading = load(record.chunks[next.index]);
        loading.catch(() => undefined); // awaited when its turn comes (or dropped with the stream)
        ahead = { chunk: next, loading };
      }
      const { chunk, lease } = current;
      assert(lease !== null, 'a chunk handed out before it was read');
      yield { bytes: lease.data.subarray(chunk.from, chunk.to), release: lease.release };
      current = null;
      budget.release(chunk.size);
    }
  } finally {
    if (current !== null) budget.release(current.chunk.size);
    if (ahead !== null) {
      const { chunk, loading } = ahead;
      // Its bytes stay held until its read is over, whatever the outcome; nobody else saw them.
      void loading.then(
        (lease) => {
          lease.release();
          budget.release(chunk.size);
        },
        () => budget.release(chunk.size),
      );
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
