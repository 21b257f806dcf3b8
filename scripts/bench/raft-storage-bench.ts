// How many durable Raft appends per second one node's meta.db sustains: each save() is one
// fsync'd transaction, so batching is what buys throughput. Run: npx tsx scripts/bench/raft-storage-bench.ts
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Entry } from '../../storage-node/src/raft/types.ts';
import { SqliteRaftLogStore } from '../../storage-node/src/raft-storage/raft-log-store.ts';

export interface DurableAppendsResult {
  batchSize: number;
  appendsPerSecond: number;
  batchesPerSecond: number;
}

/** Appends ~200-byte entries, `batchSize` per save() (hard state commit bumped each time). */
export async function benchDurableAppends(options: {
  batchSize: number;
  durationMs: number;
  dir: string;
}): Promise<DurableAppendsResult> {
  const { batchSize, durationMs } = options;
  fs.mkdirSync(options.dir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(options.dir, 'raft-storage-'));
  const store = SqliteRaftLogStore.open(path.join(dir, 'meta.db'));
  // A realistic command: a put with a one-chunk manifest, padded to ~200 bytes.
  const data = JSON.stringify({ op: 'put', name: 'photos/2024/a.jpg', hash: 'ab'.repeat(32) }).padEnd(200, ' ');
  try {
    let next = 1;
    let batches = 0;
    const started = performance.now();
    const deadline = started + durationMs;
    while (performance.now() < deadline) {
      const entries: Entry[] = [];
      for (let i = 0; i < batchSize; i++) entries.push({ index: next++, term: 1, type: 'normal', data });
      store.save({ hardState: { term: 1, vote: 'n1', commit: next - 1 }, entries, snapshot: null });
      batches++;
      // Let other work (timers, signals) run now and then, as a real node's event loop would.
      if (batches % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      batchSize,
      appendsPerSecond: Math.round((batches * batchSize) / seconds),
      batchesPerSecond: Math.round(batches / seconds),
    };
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // bench/scratch/ (git-ignored) is on the repository's disk: a tmpfs /tmp would fake the fsyncs.
  const dir = process.argv[2] ?? fileURLToPath(new URL('../../bench/scratch', import.meta.url));
  for (const batchSize of [1, 64]) {
    const result = await benchDurableAppends({ batchSize, durationMs: 3000, dir });
    console.log(
      `batch ${String(result.batchSize).padStart(3)}: ${result.appendsPerSecond} appends/s, ` +
        `${result.batchesPerSecond} fsync'd batches/s`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
