// Checkpoints of meta.db's WAL, off the event loop. SQLite's automatic checkpoint runs inside
// the commit that crosses 1000 pages, on the committing connection: copying ~4 MB of pages and
// two fsyncs on the node's one thread, about twice a second under small writes. Measured with
// the node's write pattern on this machine: 8000 commits took 15.0 s with it (max 4.1 s for one
// commit, p99 33 ms) and 2.7 s without (max 77 ms). So the node's connection never checkpoints
// (wal_autocheckpoint = 0) and a worker thread with its own connection does, every interval.
//
// The WAL must also start over. SQLite writes from the WAL's start again only when a commit
// begins with every frame checkpointed; under steady writes the worker never gets there (the node
// commits while it copies), so the WAL grew without end: 120 MB and more in a write benchmark.
// Every log fsync then also had the file's new size to make durable (fdatasync of an appended
// write cost 1.2 ms against 0.75 ms for one in place, 60 KiB, three processes on this disk), and
// every page lookup searched a bigger WAL index. So once the worker has copied all it saw of a WAL
// grown past restartFramesMin, the node's connection copies the few frames written meanwhile
// itself (nothing can commit during that call); its next commit then starts the WAL over.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { walCheckpointWorkerUrl } from '../paths.ts';

/** How often the WAL is checkpointed: it then holds at most about this long of writes. */
export const walCheckpointIntervalMsDefault = 1000;

/** A WAL with this many frames (4 KiB pages: 4 MiB) is made to start over (see above). */
export const walRestartFramesMinDefault = 1000;

export interface CheckpointResult {
  readonly walFrames: number;
  readonly checkpointedFrames: number;
  readonly seconds: number;
  /** Where it ran: the worker, or the node's connection finishing a pass so the WAL restarts. */
  readonly on: 'worker' | 'connection';
}

type WorkerAnswer = ({ readonly ok: true; readonly busy: number } & Omit<CheckpointResult, 'on'>) | { readonly ok: false; readonly message: string };

interface CheckpointRow {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  readonly #onCheckpoint: ((result: CheckpointResult) => void) | undefined;
  readonly #sqlite: Database.Database;
  readonly #restartFramesMin: number;
  #running = false;
  #stopped = false;

  /**
   * Takes over checkpointing of `sqlite`'s database (a file in WAL mode) from its connection.
   * `onCheckpoint` hears each one (for /metrics).
   */
  constructor(
    sqlite: Database.Database,
    options: { readonly intervalMs?: number; readonly restartFramesMin?: number; readonly onCheckpoint?: (result: CheckpointResult) => void } = {},
  ) {
    sqlite.pragma('wal_autocheckpoint = 0');
    this.#sqlite = sqlite;
    this.#restartFramesMin = options.restartFramesMin ?? walRestartFramesMinDefault;
    this.#onCheckpoint = options.onCheckpoint;
    this.#worker = new Worker(walCheckpointWorkerUrl, { workerData: { metaDbPath: sqlite.name } });
    this.#worker.unref(); // the node's servers keep it running; a failed start must not hang
    this.#worker.on('message', (answer: WorkerAnswer) => {
      this.#running = false;
      // SQLite answers -1 for both counts when the WAL is busy (the node's connection was
      // committing): nothing was checkpointed, and the counts say nothing.
      if (!answer.ok) {
        console.error(`meta.db checkpoint failed: ${answer.message}`);
        return;
      }
      if (answer.walFrames < 0 || answer.checkpointedFrames < 0) return;
      this.#onCheckpoint?.({ walFrames: answer.walFrames, checkpointedFrames: answer.checkpointedFrames, seconds: answer.seconds, on: 'worker' });
      if (!this.#stopped && answer.checkpointedFrames === answer.walFrames && answer.walFrames >= this.#restartFramesMin) this.#finishOnConnection();
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

  /**
   * Copies what was committed while the worker copied, on the node's connection: the WAL is then
   * fully checkpointed when the next commit begins, which writes from the WAL's start. Measured
   * under small writes: 2 to 12 ms, two fsyncs (the WAL before, the database file after: the
   * connection's synchronous = FULL), about once a second.
   */
  #finishOnConnection(): void {
    const started = performance.now();
    let row: CheckpointRow | undefined;
    try {
      [row] = this.#sqlite.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[];
    } catch (err) {
      // The WAL only grows until a later try: worth a line, not the node.
      console.error(`meta.db checkpoint on the node's connection failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (row === undefined || row.log < 0 || row.checkpointed < 0) return;
    this.#onCheckpoint?.({ walFrames: row.log, checkpointedFrames: row.checkpointed, seconds: (performance.now() - started) / 1000, on: 'connection' });
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
