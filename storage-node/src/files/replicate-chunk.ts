// Data before metadata: a chunk is written here and pushed to every other member at the same time.
// `majority` resolves once this node has it durably and so does a majority of the voters (the
// members whose loss the cluster must survive; learners get every chunk too but do not count);
// it rejects when the local write fails or too many pushes fail for a majority. Slower pushes go
// on (`settled` resolves when every one is over) unless `stragglers` aborts them.
import type { NodeContext } from '../node/node-context.ts';
import { FileError } from './file-errors.ts';

export interface Replication {
  readonly majority: Promise<void>;
  /** Resolves (never rejects) once the local write and every push have ended. */
  readonly settled: Promise<void>;
}

export function replicateChunk(ctx: NodeContext, hash: string, data: Buffer, stragglers?: AbortSignal): Replication {
  const voters = ctx.members.voterIds;
  const others = ctx.members.otherIds;
  const selfVotes = voters.includes(ctx.config.id);
  const total = voters.length;
  // A majority of the voters, less this node when it is one (it always stores the chunk).
  const peersNeeded = Math.floor(total / 2) + 1 - (selfVotes ? 1 : 0);
  const counts = (peer: string) => voters.includes(peer);
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  // `hash` was computed from `data` by this upload's chunker a moment ago.
  const local = ctx.blobs.writeHashedChunk(hash, data).then((written) => {
    ctx.metrics.chunkStageSeconds.observe({ stage: 'local_write' }, since());
    return written;
  });
  const pushes = others.map((peer) =>
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
    const voterPushes = pushes.filter((_, i) => counts(others[i]));
    if (voterPushes.length < peersNeeded) {
      return reject(new FileError('replication_failed', `chunk ${hash}: ${voterPushes.length} other voters cannot make a majority of ${total}`));
    }
    for (const push of voterPushes) {
      push.then(
        () => {
          if (++held === peersNeeded) resolve();
        },
        (err: unknown) => {
          errors.push((err as Error).message);
          if (voterPushes.length - ++failed < peersNeeded) {
            reject(new FileError('replication_failed', `chunk ${hash} reached fewer than ${Math.floor(total / 2) + 1} of ${total} voters (${errors.join('; ')})`));
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
