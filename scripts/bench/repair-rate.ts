// How fast background repair fills a node that lacks chunks: a peer's blob store served over HTTP
// (the real cluster route and client), an empty local store, and ChunkRepairer fetching N
// referenced chunks at several concurrencies; prints chunks/s.
// Run: npx tsx scripts/bench/repair-rate.ts [chunks] [chunk KiB]
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { BlobClient } from '../../storage-node/src/blobs/blob-client.ts';
import { blobRoutes } from '../../storage-node/src/blobs/blob-routes.ts';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';
import { ChunkRepairer } from '../../storage-node/src/chunks/chunk-repairer.ts';

const CHUNKS = Number(process.argv[2] ?? 1000);
const CHUNK_BYTES = Number(process.argv[3] ?? 4) * 1024;
const CONCURRENCIES = [4, 16, 32];

const dir = await mkdtemp(join(tmpdir(), 'dfs-repair-rate-'));
const peer = await BlobStore.open(join(dir, 'peer'));
const hashes: string[] = [];
for (let i = 0; i < CHUNKS; i++) {
  const data = randomBytes(CHUNK_BYTES);
  const hash = createHash('sha256').update(data).digest('hex');
  await peer.writeChunk(hash, data);
  hashes.push(hash);
}
hashes.sort();
const app = new Hono();
app.route('/', blobRoutes({ store: peer }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const client = new BlobClient({ secret: 'unused', peers: new Map([['peer', url]]), requestTimeoutMs: 30_000 });

for (const concurrency of CONCURRENCIES) {
  const local = await BlobStore.open(join(dir, `local-${concurrency}`));
  const repairer = new ChunkRepairer({
    has: (hash) => local.has(hash),
    write: (hash, data) => local.writeChunk(hash, data),
    fetch: (hash) => client.fetchFromAny(hash, ['peer']),
    isWanted: () => true,
    listReferenced: (after, limit) => hashes.filter((h) => h > after).slice(0, limit),
    concurrency,
  });
  const start = performance.now();
  await repairer.scan();
  await repairer.idle();
  const seconds = (performance.now() - start) / 1000;
  const { count } = await local.stats();
  console.log(`concurrency ${concurrency}: ${Math.round(count / seconds)} chunks/s (${count} of ${CHUNKS} ${CHUNK_BYTES / 1024} KiB chunks in ${seconds.toFixed(2)} s)`);
  repairer.stop();
}
await client.close();
server.close();
await rm(dir, { recursive: true, force: true });
