// Snapshots written off the event loop. Copying every metadata row (inline content included) and
// fsyncing the file takes from tens of milliseconds to seconds as the metadata grows; on the
// node's one thread it stalled every write and read meanwhile (the p99 spikes of the small-file
// bench). A worker thread with its own connection does it instead: WAL lets it read one
// consistent state while the node goes on applying.
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { snapshotWorkerUrl } from '../paths.ts';
import type { SnapshotJob, SnapshotJobResult } from './snapshot-worker.ts';


export class BackgroundSnapshotError extends Error {
  override readonly name = 'BackgroundSnapshotError';
}

/**
 * Writes a snapshot of meta.db (at `metaDbPath`) into `targetPath` on a worker thread; resolves
 * with the applied index it is as of (at least the index applied when it was called). On failure
 * or cancel() the target file is removed and the promise rejects.
 */
export class BackgroundSnapshot {
  readonly done: Promise<number>;
  readonly #worker: Worker;
  #cancelled = false;

  constructor(metaDbPath: string, targetPath: string) {
    const job: SnapshotJob = { metaDbPath, targetPath };
    this.#worker = new Worker(snapshotWorkerUrl, { workerData: job });
    this.done = new Promise<number>((resolve, reject) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        rmSync(targetPath, { force: true });
        reject(new BackgroundSnapshotError(message));
      };
      this.#worker.once('message', (result: SnapshotJobResult) => {
        if (this.#cancelled) return fail('cancelled');
        if (!result.ok) return fail(`snapshot worker failed: ${result.message}`);
        settled = true;
        resolve(result.appliedIndex);
      });
      this.#worker.once('error', (err) => fail(`snapshot worker crashed: ${err.message}`));
      this.#worker.once('exit', (code) => fail(this.#cancelled ? 'cancelled' : `snapshot worker exited (${code}) without an answer`));
    });
  }

  /** Stops the worker; `done` rejects and the partial file is removed. */
  cancel(): Promise<void> {
    this.#cancelled = true;
    return this.#worker.terminate().then(() => undefined);
  }
}
