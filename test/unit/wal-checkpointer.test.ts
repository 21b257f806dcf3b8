// meta.db's WAL checkpointed by a worker thread (storage-node/src/db/wal-checkpointer.ts): the
// node's connection no longer checkpoints inside its commits, and the pages still reach the
// database file while writes go on.
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

test('a worker thread checkpoints the WAL into meta.db; the connection never does', async () => {
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
  while (!results.some((r) => r.checkpointedFrames >= rows)) {
    assert.ok(Date.now() < deadline, `no checkpoint covered the writes: ${JSON.stringify(results.slice(-3))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const grown = fs.statSync(file).size - sizeBefore;
  assert.ok(grown >= rows * 4096, `meta.db grew by ${grown} bytes only: the pages stayed in the WAL`);
  await checkpointer.stop();
  await checkpointer.stop(); // twice is harmless
  sqlite.close();
  const reopened = openDatabase(file);
  assert.equal((reopened.sqlite.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, rows);
  reopened.sqlite.close();
});
