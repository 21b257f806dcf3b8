// Blob transfer over real sockets: the cluster port's blob routes behind clusterAuth, and the
// BlobClient that pushes and fetches through them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { request } from 'undici';
import { BlobClient, BlobRequestError } from '../../storage-node/src/blobs/blob-client.ts';
import { blobRoutes } from '../../storage-node/src/blobs/blob-routes.ts';
import { BlobStore } from '../../storage-node/src/blobs/blob-store.ts';
import { CLUSTER_SECRET_HEADER, clusterAuth } from '../../storage-node/src/transport/cluster-auth.ts';
import { startClusterServer } from '../../storage-node/src/transport/cluster-server.ts';
import type { ClusterServer } from '../../storage-node/src/transport/cluster-server.ts';

const SECRET = 'test-cluster-secret';
const MiB = 1024 * 1024;
const CHUNK_BYTES_MAX = 8 * MiB;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

interface ErrorBody {
  error: { code: string; message: string };
}

describe('blob routes and client', () => {
  let dir: string;
  let store: BlobStore;
  let server: ClusterServer;
  let url: string;
  const clients: BlobClient[] = [];

  function client(peers: Record<string, string>, secret = SECRET): BlobClient {
    const c = new BlobClient({ secret, peers: new Map(Object.entries(peers)), requestTimeoutMs: 5000 });
    clients.push(c);
    return c;
  }

  async function raw(method: string, path: string, body?: Buffer | Readable, headers: Record<string, string> = {}) {
    const res = await request(`${url}${path}`, {
      method: method as 'GET',
      body,
      headers: { [CLUSTER_SECRET_HEADER]: SECRET, ...headers },
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dfs-blob-routes-'));
    store = await BlobStore.open(dir, { chunkBytesMax: CHUNK_BYTES_MAX });
    const app = new Hono();
    app.use('*', clusterAuth({ secret: SECRET }));
    app.route('/', blobRoutes({ store }));
    server = await startClusterServer({ port: 0, app });
    url = `http://127.0.0.1:${server.port}`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes a chunk and fetches it back verified', async () => {
    const c = client({ a: url });
    const data = randomBytes(4 * MiB);
    const hash = sha256(data);
    assert.equal(await c.push('a', hash, data), true, '201 the first time');
    assert.equal(await c.push('a', hash, data), false, '200 when already present');
    assert.deepEqual(await store.readChunk(hash), data);
    assert.deepEqual(await c.fetch('a', hash), data);
    // Pipelined pushes of many chunks at once.
    const many = Array.from({ length: 20 }, () => randomBytes(64 * 1024));
    const created = await Promise.all(many.map((d) => c.push('a', sha256(d), d)));
    assert.deepEqual(created, many.map(() => true));
    for (const d of many) assert.deepEqual(await c.fetch('a', sha256(d)), d);
  });

  it('answers HEAD from the size on disk', async () => {
    const data = randomBytes(1234);
    await store.writeChunk(sha256(data), data);
    const present = await raw('HEAD', `/blobs/${sha256(data)}`);
    assert.equal(present.status, 200);
    assert.equal(present.headers['content-length'], '1234');
    assert.equal(present.text, '');
    const absent = await raw('HEAD', `/blobs/${sha256(Buffer.from('absent'))}`);
    assert.equal(absent.status, 404);
  });

  it('gives null for a missing chunk, and tries peers in turn', async () => {
    const c = client({ a: url, down: 'http://127.0.0.1:1' });
    const data = randomBytes(1000);
    const hash = sha256(data);
    assert.equal(await c.fetch('a', hash), null);
    assert.equal(await c.fetchFromAny(hash, ['a']), null, 'every peer said 404');
    await assert.rejects(c.fetchFromAny(hash, ['down', 'a']), AggregateError, 'an unreachable peer might have it');
    await c.push('a', hash, data);
    assert.deepEqual(await c.fetchFromAny(hash, ['down', 'a']), data);
  });

  it('refuses a hash mismatch with 400 and stores nothing', async () => {
    const data = randomBytes(10_000);
    const wrong = sha256(Buffer.from('other bytes'));
    const res = await raw('PUT', `/blobs/${wrong}`, data);
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.text) as ErrorBody).error.code, 'hash_mismatch');
    const c = client({ a: url });
    await assert.rejects(c.push('a', wrong, data), (err: unknown) => err instanceof BlobRequestError && err.status === 400);
    assert.equal(await store.has(wrong), false);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  });

  it('refuses bad hashes with 400, never touching the disk', async () => {
    for (const bad of ['abc', sha256(Buffer.from('x')).toUpperCase(), `${'a'.repeat(63)}z`, '..%2F..%2Fetc%2Fpasswd']) {
      for (const method of ['GET', 'PUT']) {
        const res = await raw(method, `/blobs/${bad}`, method === 'PUT' ? Buffer.from('x') : undefined);
        assert.equal(res.status, 400, `${method} ${bad}`);
        assert.equal((JSON.parse(res.text) as ErrorBody).error.code, 'bad_hash');
      }
    }
    const c = client({ a: url });
    await assert.rejects(c.fetch('a', '../etc'), /not a chunk hash/);
  });

  it('refuses chunks over the size limit with 413', async () => {
    const data = randomBytes(CHUNK_BYTES_MAX + 1);
    const hash = sha256(data);
    const declared = await raw('PUT', `/blobs/${hash}`, data);
    assert.equal(declared.status, 413);
    assert.equal((JSON.parse(declared.text) as ErrorBody).error.code, 'too_large');
    // Without a Content-Length the limit is enforced while streaming.
    let streamedStatus: number;
    try {
      streamedStatus = (await raw('PUT', `/blobs/${hash}`, Readable.from([data.subarray(0, MiB), data.subarray(MiB)]))).status;
    } catch {
      streamedStatus = 413; // the server may cut the upload off before the client reads the answer
    }
    assert.equal(streamedStatus, 413);
    assert.equal(await store.has(hash), false);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  });

  it('answers 401 without the cluster secret', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    for (const headers of [{}, { [CLUSTER_SECRET_HEADER]: 'wrong' }]) {
      const res = await request(`${url}/blobs/${hash}`, { method: 'PUT', body: data, headers });
      assert.equal(res.statusCode, 401);
      assert.equal(((await res.body.json()) as ErrorBody).error.code, 'unauthorized');
    }
    const wrong = client({ a: url }, 'wrong');
    await assert.rejects(wrong.push('a', hash, data), (err: unknown) => err instanceof BlobRequestError && err.status === 401);
    await assert.rejects(wrong.fetch('a', hash), (err: unknown) => err instanceof BlobRequestError && err.status === 401);
    assert.equal(await store.has(hash), false);
  });

  it('answers 404 for a corrupt chunk, quarantines it, and takes a fresh copy', async () => {
    const c = client({ a: url });
    const data = randomBytes(256 * 1024);
    const hash = sha256(data);
    await c.push('a', hash, data);
    const path = join(dir, hash.slice(0, 2), hash.slice(2, 4), hash);
    const bad = Buffer.from(data);
    bad[12_345] ^= 0x80;
    await writeFile(path, bad);
    const quarantinedBefore = (await readdir(join(dir, 'quarantine'))).length;

    const res = await raw('GET', `/blobs/${hash}`);
    assert.equal(res.status, 404);
    assert.equal((JSON.parse(res.text) as ErrorBody).error.code, 'not_found');
    assert.equal(existsSync(path), false);
    assert.equal((await readdir(join(dir, 'quarantine'))).length, quarantinedBefore + 1);
    assert.equal(await c.fetch('a', hash), null);

    assert.equal(await c.push('a', hash, data), true, 'repaired by a fresh push');
    assert.deepEqual(await c.fetch('a', hash), data);
  });

  it('stores a chunk streamed in many small pieces, and nothing from a push cut short', async () => {
    const data = randomBytes(3 * MiB + 12345);
    const hash = sha256(data);
    // 16 KiB pieces: the store gathers them into batches; the bytes must come out the same.
    const pieces = Array.from({ length: Math.ceil(data.length / (16 * 1024)) }, (_, i) => data.subarray(i * 16 * 1024, (i + 1) * 16 * 1024));
    const ok = await raw('PUT', `/blobs/${hash}`, Readable.from(pieces), { 'content-length': String(data.length) });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(await store.readChunk(hash), data);

    const other = randomBytes(2 * MiB);
    const otherHash = sha256(other);
    // Half the declared body, then the connection drops.
    const cut = new Readable({ read() {} });
    cut.push(other.subarray(0, MiB));
    const sent = request(`${url}/blobs/${otherHash}`, {
      method: 'PUT',
      body: cut,
      headers: { [CLUSTER_SECRET_HEADER]: SECRET, 'content-length': String(other.length) },
    });
    setTimeout(() => cut.destroy(new Error('client gone')), 200);
    await assert.rejects(sent);
    const deadline = Date.now() + 30_000;
    while ((await readdir(join(dir, 'tmp'))).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'the cut push left a temp file');
    assert.equal(await store.has(otherHash), false);
    // The server still answers.
    assert.equal((await raw('HEAD', `/blobs/${hash}`)).status, 200);
  });

  it('refuses use of an unknown peer', async () => {
    const c = client({ a: url });
    await assert.rejects(c.fetch('nobody', sha256(Buffer.from('x'))), /unknown peer/);
  });
});
