// Checkpoints of meta.db's WAL, off the event loop. SQLite's automatic checkpoint runs inside
// the commit that crosses 1000 pages, on the committing connection: copying ~4 MB of pages and
// two fsyncs on the node's one thread, about twice a second under small writes. Measured with
// the node's write pattern on this machine: 8000 commits took 15.0 s with it (max 4.1 s for one
// commit, p99 33 ms) and 2.7 s without (max 77 ms). So the node's connection never checkpoints
// (wal_autocheckpoint = 0) and a worker thread with its own connection does, every interval.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { walCheckpointWorkerUrl } from '../paths.ts';

/** How often the WAL is checkpointed: it then holds at most about this long of writes. */
export const walCheckpointIntervalMsDefault = 1000;

export interface CheckpointResult {
  readonly walFrames: number;
  readonly checkpointedFrames: number;
  readonly seconds: number;
}

type WorkerAnswer = ({ readonly ok: true; readonly busy: number } & CheckpointResult) | { readonly ok: false; readonly message: string };

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  readonly #onCheckpoint: ((result: CheckpointResult) => void) | undefined;
  #running = false;
  #stopped = false;

  /**
   * Takes over checkpointing of `sqlite`'s database (a file in WAL mode) from its connection.
   * `onCheckpoint` hears each one (for /metrics).
   */
  constructor(sqlite: Database.Database, options: { readonly intervalMs?: number; readonly onCheckpoint?: (result: CheckpointResult) => void } = {}) {
    sqlite.pragma('wal_autocheckpoint = 0');
    this.#onCheckpoint = options.onCheckpoint;
    this.#worker = new Worker(walCheckpointWorkerUrl, { workerData: { metaDbPath: sqlite.name } });
    this.#worker.unref(); // the node's servers keep it running; a failed start must not hang
    this.#worker.on('message', (answer: WorkerAnswer) => {
      this.#running = false;
      // SQLite answers -1 for both counts when the WAL is busy (the node's connection was
      // committing): nothing was checkpointed, and the counts say nothing.
      if (answer.ok) {
        if (answer.walFrames >= 0 && answer.checkpointedFrames >= 0) this.#onCheckpoint?.(answer);
      } else console.error(`meta.db checkpoint failed: ${answer.message}`);
    });
    this.#worker.on('error', (err) => {
      // The node's connection goes back to checkpointing itself: slower, never unbounded.
      if (!this.#stopped) console.error(`meta.db checkpoint thread failed (${err.message}); the node checkpoints itself again`);
      sqlite.pragma('wal_autocheckpoint = 1000');
      this.#stopped = true;
      clearInterval(this.#timer);
    });
    this.#timer = setInterval(() => this.#checkpoint(), options.intervalMs ?? walCheckpointIntervalMsDefault);
    this.#timer.unref();
  }

  #checkpoint(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#worker.postMessage('checkpoint');
  }

  /** Stops checkpointing and closes the thread's connection (before the node closes its own). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.ref(); // keep the process up until the thread has closed its connection
    this.#worker.postMessage('close');
    await exited;
  }
}
