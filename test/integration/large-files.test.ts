// Reads of chunked files under the node-wide download memory budget (issue 11): whole and ranged
// reads across chunk boundaries give the stored bytes, and every chunk a read held — the one going
// out, the one read ahead — is given back, also when the client hangs up mid-file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { sleep } from '../support/cluster.ts';
import { metricValue } from '../support/node-probes.ts';
import { StorageCluster } from '../support/storage-cluster.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('download memory (1 node, --chunk-size 64KiB, --download-memory-max 16MiB)', () => {
  let cluster: StorageCluster;
  let url: string;
  const data = randomBytes(24 * MiB + 12_345);

  before(async () => {
    cluster = await StorageCluster.start({ size: 1, flags: ['--chunk-size', '64KiB', '--download-memory-max', '16MiB'] });
    url = cluster.nodes[0].url;
    const put = await request(`${url}/files/large/data.bin`, { method: 'PUT', body: data, headers: { 'content-length': String(data.length) } });
    const text = await put.body.text();
    assert.equal(put.statusCode, 201, text);
    assert.equal((JSON.parse(text) as { etag: string }).etag, sha256(data));
  });
  after(async () => {
    await cluster?.stopAll();
  });

  async function heldComesBackToZero(): Promise<void> {
    const deadline = Date.now() + 30_000;
    let held = await metricValue({ url }, 'dfs_download_memory_bytes');
    while (held !== 0 && Date.now() < deadline) {
      await sleep(50);
      held = await metricValue({ url }, 'dfs_download_memory_bytes');
    }
    assert.equal(held, 0, 'download memory still held after the reads ended');
  }

  it('reads the whole file and ranges across chunk boundaries, then holds nothing', async () => {
    assert.equal(await metricValue({ url }, 'dfs_download_memory_max_bytes'), 16 * MiB);
    const whole = await request(`${url}/files/large/data.bin`);
    const body = Buffer.from(await whole.body.arrayBuffer());
    assert.equal(whole.statusCode, 200);
    assert.ok(body.equals(data), 'the whole file differs');
    for (const [start, end] of [[0, 0], [64 * KiB - 1, 64 * KiB], [100_000, 3 * MiB + 5], [data.length - 10, data.length - 1]]) {
      const part = await request(`${url}/files/large/data.bin`, { headers: { range: `bytes=${start}-${end}` } });
      const got = Buffer.from(await part.body.arrayBuffer());
      assert.equal(part.statusCode, 206);
      assert.ok(got.equals(data.subarray(start, end + 1)), `bytes ${start}-${end} differ`);
    }
    await heldComesBackToZero();
  });

  it('serves concurrent reads of two files byte for byte while their chunk buffers are reused', async () => {
    // Each chunk is read into a reused buffer that goes back once its write to the socket is
    // over: one handed back early would show here as another file's bytes.
    const other = randomBytes(9 * MiB + 777);
    const put = await request(`${url}/files/large/other.bin`, { method: 'PUT', body: other, headers: { 'content-length': String(other.length) } });
    assert.equal(put.statusCode, 201, await put.body.text());
    const files = [{ name: 'data.bin', bytes: data }, { name: 'other.bin', bytes: other }];
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const { name, bytes } = files[i % 2];
      // Half of them read slowly, so their writes wait on the socket while the others go on.
      const ranged = i % 4 >= 2;
      const [start, end] = ranged ? [12_345 + i, bytes.length - 1 - i] : [0, bytes.length - 1];
      const res = await request(`${url}/files/large/${name}`, ranged ? { headers: { range: `bytes=${start}-${end}` } } : {});
      assert.equal(res.statusCode, ranged ? 206 : 200);
      const pieces: Buffer[] = [];
      for await (const piece of res.body) {
        pieces.push(piece as Buffer);
        // The slow ones let the node's socket fill up, so its writes wait (and their buffers with them).
        if (i % 2 === 1 && (pieces.length === 1 || pieces.length % 16 === 0)) await sleep(pieces.length === 1 ? 300 : 20);
      }
      const got = Buffer.concat(pieces);
      assert.equal(got.length, end - start + 1, `read ${i} of ${name}: ${got.length} bytes`);
      assert.ok(got.equals(bytes.subarray(start, end + 1)), `read ${i} of ${name} (bytes ${start}-${end}) differs`);
    }));
    await heldComesBackToZero();
    // A ranged read is counted with the status its client got.
    const text = await (await request(`${url}/metrics`)).body.text();
    assert.match(text, /^dfs_http_requests_total\{[^}]*method="GET"[^}]*status="206"[^}]*\} [1-9]/m);
  });

  it('gives back what a read held when its client hangs up mid-file', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${url}/files/large/data.bin`);
      assert.equal(res.statusCode, 200);
      let seen = 0;
      for await (const piece of res.body) {
        seen += (piece as Buffer).length;
        if (seen >= 256 * KiB) break; // leaving the loop destroys the body: the connection closes
      }
      assert.ok(seen < data.length);
    }
    await heldComesBackToZero();
    // And the node still serves the whole file.
    const again = await request(`${url}/files/large/data.bin`);
    assert.equal(sha256(Buffer.from(await again.body.arrayBuffer())), sha256(data));
  });
});
