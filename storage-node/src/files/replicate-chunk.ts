// Data before metadata: a chunk goes to its holders (placement: the first `replication` members
// by rendezvous hashing), this node's own store when it is one of them, all at the same time.
// `majority` resolves once a majority of the holders have it durably; it rejects when too many
// writes fail for a majority. The other holders' copies go on in the background (`settled`
// resolves when every write is over) unless `stragglers` aborts them; repair covers a holder
// that missed its copy.
import type { NodeContext } from '../node/node-context.ts';
import { FileError } from './file-errors.ts';

export interface Replication {
  readonly majority: Promise<void>;
  /** Resolves (never rejects) once the local write and every push have ended. */
  readonly settled: Promise<void>;
}

export function replicateChunk(ctx: NodeContext, hash: string, data: Buffer, stragglers?: AbortSignal): Replication {
  const holders = ctx.placement.holders(hash);
  const needed = Math.floor(holders.length / 2) + 1;
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  const writes: Promise<void>[] = holders.map((holder) => {
    if (holder === ctx.config.id) {
      // `hash` was computed from `data` by this upload's chunker a moment ago.
      return ctx.blobs.writeHashedChunk(hash, data).then(() => {
        ctx.metrics.chunkStageSeconds.observe({ stage: 'local_write' }, since());
      });
    }
    return ctx.blobClient.push(holder, hash, data, stragglers).then(
      () => {
        ctx.metrics.chunkStageSeconds.observe({ stage: 'push' }, since());
        ctx.metrics.chunkPushes.inc({ result: 'ok' });
      },
      (err: unknown) => {
        ctx.metrics.chunkPushes.inc({ result: stragglers?.aborted === true ? 'aborted' : 'failed' });
        throw new Error(`${holder}: ${(err as Error).message}`);
      },
    );
  });
  // This node's own copy, when it holds the chunk, is always one of the majority (written before
  // the answer, as the design says), the pushes make up the rest.
  const selfIndex = holders.indexOf(ctx.config.id);
  const local = selfIndex >= 0 ? writes[selfIndex] : Promise.resolve();
  const pushes = writes.filter((_, i) => i !== selfIndex);
  const pushesNeeded = needed - (selfIndex >= 0 ? 1 : 0);
  const othersHold = new Promise<void>((resolve, reject) => {
    if (pushesNeeded <= 0) return resolve();
    let held = 0;
    let failed = 0;
    const errors: string[] = [];
    for (const write of pushes) {
      write.then(
        () => {
          if (++held === pushesNeeded) resolve();
        },
        (err: unknown) => {
          errors.push((err as Error).message);
          if (pushes.length - ++failed < pushesNeeded) {
            reject(new FileError('replication_failed', `chunk ${hash} reached fewer than ${needed} of its ${holders.length} holders (${errors.join('; ')})`));
          }
        },
      );
    }
  });
  const majority = Promise.all([local, othersHold]).then(() => {
    ctx.metrics.chunkStageSeconds.observe({ stage: 'majority' }, since());
  });
  const settled = Promise.allSettled(writes).then(() => undefined);
  return { majority, settled };
}
