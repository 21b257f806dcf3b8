// A chunk for serving: from the local store, or — when missing or corrupt here — fetched from a
// peer, its holders first (verified by BlobClient), kept when this node is one of its holders,
// then served.
import { ChunkCorruptError } from '../blobs/blob-store.ts';
import type { ReadBuffers } from '../blobs/blob-store.ts';
import { assert } from '../../../shared/assert.ts';
import type { NodeContext } from '../node/node-context.ts';
import { FileError } from './file-errors.ts';

export async function loadChunk(ctx: NodeContext, hash: string): Promise<Buffer> {
  return (await load(ctx, hash)).data;
}

/** A chunk's bytes lent out: `release()` once nothing refers to them any more (at most once). */
export interface LeasedChunk {
  readonly data: Buffer;
  release(): void;
}

/**
 * loadChunk into one of the node's reused chunk buffers (files/chunk-buffers.ts) when the chunk is
 * here: a 4 MiB Buffer allocated per chunk read is external memory V8 collects late, and serving
 * a large file from a warm node spent as much time collecting it as hashing. Only for a caller
 * that knows when it is done with the bytes (a socket's write callback, a hash update): a buffer
 * given back while a write still holds it would send another chunk's bytes.
 */
export async function loadChunkLeased(ctx: NodeContext, hash: string): Promise<LeasedChunk> {
  const { data, pooled } = await load(ctx, hash, ctx.chunkBuffers);
  if (!pooled) return { data, release: () => undefined };
  let released = false;
  return {
    data,
    release: () => {
      assert(!released, `the lease on chunk ${hash} was released twice`);
      released = true;
      ctx.chunkBuffers.give(data);
    },
  };
}

async function load(ctx: NodeContext, hash: string, buffers?: ReadBuffers): Promise<{ data: Buffer; pooled: boolean }> {
  try {
    const local = await ctx.blobs.readChunk(hash, buffers);
    if (local !== null) return { data: local, pooled: buffers !== undefined };
  } catch (err) {
    // Quarantined by the store, which also queued a repair; this read fetches on its own.
    if (!(err instanceof ChunkCorruptError)) throw err;
  }
  let fetched: Buffer | null;
  try {
    fetched = await ctx.blobClient.fetchFromAny(hash, ctx.placement.sources(hash));
  } catch (err) {
    ctx.metrics.chunkFetches.inc({ reason: 'read', result: 'error' });
    throw new FileError('chunk_unavailable', `chunk ${hash} is not here and no peer could be asked: ${(err as Error).message}`);
  }
  if (fetched === null) {
    ctx.metrics.chunkFetches.inc({ reason: 'read', result: 'missing' });
    throw new FileError('chunk_unavailable', `chunk ${hash} is on no reachable node`);
  }
  ctx.metrics.chunkFetches.inc({ reason: 'read', result: 'ok' });
  // A holder keeps the copy (the store verifies it again); if that fails, background repair tries
  // later. BlobClient verified the fetched bytes against `hash` as they arrived.
  if (ctx.placement.isHolder(hash)) await ctx.blobs.writeHashedChunk(hash, fetched).catch(() => ctx.repairer.enqueue([hash]));
  return { data: fetched, pooled: false };
}

/** The size of each chunk, from the manifest or (for old entries) from the chunks themselves. */
export async function chunkSizes(ctx: NodeContext, chunks: readonly string[], known: readonly number[] | null): Promise<number[]> {
  if (known !== null) return [...known];
  const sizes: number[] = [];
  for (const hash of chunks) sizes.push((await ctx.blobs.size(hash)) ?? (await loadChunk(ctx, hash)).length);
  return sizes;
}
