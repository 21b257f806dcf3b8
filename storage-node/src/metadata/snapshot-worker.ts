// The body of a background snapshot (see background-snapshot.ts): on its own connection to
// meta.db, as a WAL reader, it copies the metadata tables into the target file while the node's
// connection goes on applying, and answers with the applied index the copy is as of.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { assert } from '../../../shared/assert.ts';
import { copyMetadataInto } from './metadata-snapshot.ts';

export interface SnapshotJob {
  readonly metaDbPath: string;
  readonly targetPath: string;
}

export type SnapshotJobResult = { readonly ok: true; readonly appliedIndex: number } | { readonly ok: false; readonly message: string };

const job = workerData as SnapshotJob;
assert(parentPort !== null, 'snapshot-worker runs only as a worker thread');
let result: SnapshotJobResult;
try {
  // Never creates meta.db, and never migrates it: the node's own connection owns the schema.
  const sqlite = new Database(job.metaDbPath, { fileMustExist: true });
  try {
    sqlite.pragma('busy_timeout = 5000');
    result = { ok: true, appliedIndex: copyMetadataInto(sqlite, job.targetPath) };
  } finally {
    sqlite.close();
  }
} catch (err) {
  result = { ok: false, message: (err as Error).message };
}
parentPort.postMessage(result);
