// A chunk for serving: from the local store, or — when missing or corrupt here — fetched from a
// peer, its holders first (verified by BlobClient), kept when this node is one of its holders,
// then served.
import { ChunkCorruptError } from '../blobs/blob-store.ts';
import type { NodeContext } from '../node/node-context.ts';
import { FileError } from './file-errors.ts';

export async function loadChunk(ctx: NodeContext, hash: string): Promise<Buffer> {
  try {
    const local = await ctx.blobs.readChunk(hash);
    if (local !== null) return local;
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
  return fetched;
}

/** The size of each chunk, from the manifest or (for old entries) from the chunks themselves. */
export async function chunkSizes(ctx: NodeContext, chunks: readonly string[], known: readonly number[] | null): Promise<number[]> {
  if (known !== null) return [...known];
  const sizes: number[] = [];
  for (const hash of chunks) sizes.push((await ctx.blobs.size(hash)) ?? (await loadChunk(ctx, hash)).length);
  return sizes;
}
