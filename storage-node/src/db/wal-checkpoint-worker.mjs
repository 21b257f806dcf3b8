// The WAL checkpointer's thread (see wal-checkpointer.ts). Plain JavaScript with one import, so
// it starts the same from source and built, with no loader, in a few MB.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

// Never creates meta.db and never migrates it: the node's own connection owns the schema.
const sqlite = new Database(workerData.metaDbPath, { fileMustExist: true });
// FULL: the checkpoint syncs the WAL before copying it and the database file after, so frames
// the Raft log counts on are never overwritten (WAL restart) before their pages are durable.
sqlite.pragma('synchronous = FULL');
sqlite.pragma('busy_timeout = 5000');

parentPort.on('message', (message) => {
  if (message === 'close') {
    sqlite.close();
    parentPort.close();
    return;
  }
  const started = performance.now();
  try {
    // PASSIVE: copies what it can without waiting for readers or blocking the node's writes.
    const [row] = sqlite.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: row.busy, walFrames: row.log, checkpointedFrames: row.checkpointed, seconds: (performance.now() - started) / 1000 });
  } catch (err) {
    parentPort.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
