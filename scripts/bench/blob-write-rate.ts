// How fast the blob store stores small chunks: writeChunk of distinct 4 KiB chunks into a fresh
// store, at concurrency 1 and 64, for a few seconds each; prints chunks/s and fsyncs' share.
// Run: npx tsx scripts/bench/blob-write-rate.ts [seconds per point]
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';

const CHUNK_BYTES = 4 * 1024;
const SECONDS_PER_POINT = Number(process.argv[2] ?? 5);

async function measure(concurrency: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dfs-blob-rate-'));
  try {
    const openStart = performance.now();
    const store = await BlobStore.open(join(dir, 'blobs'));
    const openMs = performance.now() - openStart;
    const deadline = performance.now() + SECONDS_PER_POINT * 1000;
    let written = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const data = randomBytes(CHUNK_BYTES);
        await store.writeChunk(createHash('sha256').update(data).digest('hex'), data);
        written++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - start) / 1000;
    console.log(`concurrency ${concurrency}: ${Math.round(written / seconds)} chunks/s (${written} in ${seconds.toFixed(1)} s; open ${openMs.toFixed(0)} ms)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
    // On a disk mounted with `discard` the deletes cost at the next journal commit: pay it here,
    // not in the next point's fsyncs.
    execFileSync('sync');
  }
}

for (const concurrency of [1, 64]) await measure(concurrency);
