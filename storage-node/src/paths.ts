// Files the node needs beside its code, found from this module's own URL. From source this is
// storage-node/src/paths.ts; built, its code sits in storage-node/build/<program>.mjs (see
// scripts/programs.ts). Both are one folder below storage-node/, so one rule serves both.
import { fileURLToPath } from 'node:url';

const storageNodeDir = new URL('../', import.meta.url);

/** Whether this is the built program (plain JavaScript) rather than TypeScript under tsx. */
export const runningBuilt = !import.meta.url.endsWith('.ts');

/** drizzle-kit's migrations for meta.db. */
export const migrationsFolder = fileURLToPath(new URL('drizzle/', storageNodeDir));

/** The WAL checkpointer's thread: plain JavaScript, the same file from source and built. */
export const walCheckpointWorkerUrl = runningBuilt
  ? new URL('build/wal-checkpoint-worker.mjs', storageNodeDir)
  : new URL('src/db/wal-checkpoint-worker.mjs', storageNodeDir);

/**
 * The background snapshot's worker thread. A worker does not inherit tsx's loader (Node 20), so
 * from source its entry registers tsx itself; built, it is a bundle of its own.
 */
export const snapshotWorkerUrl = runningBuilt
  ? new URL('build/snapshot-worker.mjs', storageNodeDir)
  : new URL('src/metadata/snapshot-worker-entry.mjs', storageNodeDir);
