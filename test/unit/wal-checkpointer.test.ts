// meta.db's WAL checkpointed by a worker thread (storage-node/src/db/wal-checkpointer.ts): the
// node's connection no longer checkpoints inside its commits, the pages still reach the
// database file while writes go on, and the WAL starts over rather than growing without end.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { WalCheckpointer } from '../../storage-node/src/db/wal-checkpointer.ts';
import type { CheckpointResult } from '../../storage-node/src/db/wal-checkpointer.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-checkpointer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a worker thread checkpoints the WAL into meta.db; the connection never does inside its commits', async () => {
  const file = path.join(dir, 'meta.db');
  const { sqlite } = openDatabase(file);
  sqlite.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)');
  const results: CheckpointResult[] = [];
  const checkpointer = new WalCheckpointer(sqlite, { intervalMs: 50, onCheckpoint: (result) => results.push(result) });
  assert.equal(sqlite.pragma('wal_autocheckpoint', { simple: true }), 0, 'the connection still checkpoints itself');
  const insert = sqlite.prepare('INSERT INTO filler (id, data) VALUES (?, ?)');
  const rows = 3000;
  const sizeBefore = fs.statSync(file).size;
  for (let i = 0; i < rows; i++) {
    insert.run(i, Buffer.alloc(4096, i % 251));
    // Let the timer and the worker's answers in now and then, as a busy node's event loop does.
    if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const deadline = Date.now() + 60_000;
  try {
    // Every page reaches the database file (checkpoint counts restart with each WAL generation).
    while (fs.statSync(file).size - sizeBefore < rows * 4096) {
      assert.ok(Date.now() < deadline, `meta.db grew by ${fs.statSync(file).size - sizeBefore} bytes only: the pages stayed in the WAL (${JSON.stringify(results.slice(-3))})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(results.some((r) => r.on === 'worker' && r.checkpointedFrames > 0), 'the worker never checkpointed');
  } finally {
    await checkpointer.stop();
  }
  await checkpointer.stop(); // twice is harmless
  sqlite.close();
  const reopened = openDatabase(file);
  assert.equal((reopened.sqlite.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, rows);
  reopened.sqlite.close();
});

test('under steady writes the WAL starts over instead of growing: the connection finishes what the worker could not', async () => {
  const file = path.join(dir, 'restart.db');
  const { sqlite } = openDatabase(file);
  sqlite.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)');
  const results: CheckpointResult[] = [];
  const checkpointer = new WalCheckpointer(sqlite, { intervalMs: 20, restartFramesMin: 200, onCheckpoint: (result) => results.push(result) });
  const insert = sqlite.prepare('INSERT INTO filler (id, data) VALUES (?, ?)');
  const rows = 8000; // 4 KiB each: about 32 MiB of WAL frames were the WAL never to start over
  let walMax = 0;
  try {
    for (let i = 0; i < rows; i++) {
      insert.run(i, Buffer.alloc(4096, i % 251));
      // Commits keep coming between the worker's answers, as on a node under steady writes.
      if (i % 10 === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        walMax = Math.max(walMax, fs.statSync(`${file}-wal`).size);
      }
    }
  } finally {
    await checkpointer.stop();
  }
  const finished = results.filter((r) => r.on === 'connection');
  assert.ok(finished.length > 0, `the connection never finished a checkpoint: ${JSON.stringify(results.slice(-3))}`);
  const writtenBytes = rows * 4096;
  assert.ok(walMax < writtenBytes / 2, `the WAL grew to ${walMax} bytes for ${writtenBytes} written: it never started over (${finished.length} finished on the connection)`);
  sqlite.close();
  const reopened = openDatabase(file);
  assert.equal((reopened.sqlite.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, rows);
  reopened.sqlite.close();
});
