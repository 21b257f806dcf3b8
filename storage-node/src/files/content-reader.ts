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
  const firstIndex = firstChunkIndex(sizes, start);
  const first = firstIndex < 0 ? null : await loadChunk(ctx, record.chunks[firstIndex]);
  return chunkRange(ctx, record, sizes, start, end, first);
}

async function* chunkRange(ctx: NodeContext, record: FileRecord, sizes: number[], start: number, end: number, first: Buffer | null) {
  let offset = 0;
  let pending = first;
  for (let i = 0; i < record.chunks.length; i++) {
    const chunkStart = offset;
    const chunkEnd = offset + sizes[i] - 1;
    offset += sizes[i];
    if (chunkEnd < start || sizes[i] === 0) continue;
    if (chunkStart > end) break;
    const data = pending ?? (await loadChunk(ctx, record.chunks[i]));
    pending = null;
    yield data.subarray(Math.max(0, start - chunkStart), Math.min(sizes[i], end - chunkStart + 1));
  }
}

function firstChunkIndex(sizes: number[], start: number): number {
  let offset = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (offset + sizes[i] > start) return i;
    offset += sizes[i];
  }
  return -1;
}
