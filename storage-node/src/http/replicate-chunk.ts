// Data before metadata: a chunk is written here and pushed to every other node; the upload moves
// on once a majority of the nodes (counting this one) hold it durably. Slower pushes finish in
// the background.
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';

export async function replicateChunk(ctx: NodeContext, hash: string, data: Buffer): Promise<void> {
  const total = ctx.otherIds.length + 1;
  const needed = Math.floor(total / 2) + 1;
  await ctx.blobs.writeChunk(hash, data);
  if (needed <= 1) {
    for (const peer of ctx.otherIds) void ctx.blobClient.push(peer, hash, data).catch(() => undefined);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    let held = 1;
    let failed = 0;
    const errors: string[] = [];
    for (const peer of ctx.otherIds) {
      ctx.blobClient.push(peer, hash, data).then(
        () => {
          if (++held === needed) resolve();
        },
        (err: unknown) => {
          failed++;
          errors.push(`${peer}: ${(err as Error).message}`);
          if (total - failed < needed) {
            reject(new HttpError(503, 'replication_failed', `chunk ${hash} reached fewer than ${needed} nodes (${errors.join('; ')})`));
          }
        },
      );
    }
  });
}
