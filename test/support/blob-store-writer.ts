// A process that opens a blob store, writes the given chunks in order and says so on stdout after
// each ("stored <hash>"), then exits without any shutdown: what a node killed right after
// answering leaves behind. Used under strace by test/integration/fsync-order.test.ts.
// Usage: node --import tsx test/support/blob-store-writer.ts <dir> <hex bytes>...
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';

const [dir, ...payloads] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: blob-store-writer.ts <dir> <hex bytes>...');
const store = await BlobStore.open(dir);
for (const hex of payloads) {
  const data = Buffer.from(hex, 'hex');
  const hash = createHash('sha256').update(data).digest('hex');
  await store.writeChunk(hash, data);
  writeSync(1, `stored ${hash}\n`);
}
process.exit(0);
