// Data before metadata: a chunk is written here and pushed to every other node at the same time.
// `majority` resolves once this node and enough others to make a majority of the nodes hold it
// durably; it rejects when the local write fails or too many pushes fail for a majority. Slower
// pushes go on (`settled` resolves when every one is over) unless `stragglers` aborts them.
import type { NodeContext } from '../node/node-context.ts';
import { FileError } from './file-errors.ts';

export interface Replication {
  readonly majority: Promise<void>;
  /** Resolves (never rejects) once the local write and every push have ended. */
  readonly settled: Promise<void>;
}

export function replicateChunk(ctx: NodeContext, hash: string, data: Buffer, stragglers?: AbortSignal): Replication {
  const total = ctx.otherIds.length + 1;
  const peersNeeded = Math.floor(total / 2); // plus this node: a majority
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  // `hash` was computed from `data` by this upload's chunker a moment ago.
  const local = ctx.blobs.writeHashedChunk(hash, data).then((written) => {
    ctx.metrics.chunkStageSeconds.observe({ stage: 'local_write' }, since());
    return written;
  });
  const pushes = ctx.otherIds.map((peer) =>
    ctx.blobClient.push(peer, hash, data, stragglers).then(
      () => {
        ctx.metrics.chunkStageSeconds.observe({ stage: 'push' }, since());
        ctx.metrics.chunkPushes.inc({ result: 'ok' });
      },
      (err: unknown) => {
        ctx.metrics.chunkPushes.inc({ result: stragglers?.aborted === true ? 'aborted' : 'failed' });
        throw new Error(`${peer}: ${(err as Error).message}`);
      },
    ),
  );
  const peersHold = new Promise<void>((resolve, reject) => {
    if (peersNeeded === 0) return resolve();
    let held = 0;
    let failed = 0;
    const errors: string[] = [];
    for (const push of pushes) {
      push.then(
        () => {
          if (++held === peersNeeded) resolve();
        },
        (err: unknown) => {
          errors.push((err as Error).message);
          if (pushes.length - ++failed < peersNeeded) {
            reject(new FileError('replication_failed', `chunk ${hash} reached fewer than ${peersNeeded + 1} of ${total} nodes (${errors.join('; ')})`));
          }
        },
      );
    }
  });
  const majority = Promise.all([local, peersHold]).then(() => {
    ctx.metrics.chunkStageSeconds.observe({ stage: 'majority' }, since());
  });
  const settled = Promise.allSettled([local, ...pushes]).then(() => undefined);
  return { majority, settled };
}
