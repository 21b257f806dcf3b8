// The storage node's client API on a real 3-node cluster: the README quick start, round trips at
// chunk boundaries, ranges, names, conditional writes, deletes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { sleep } from '../support/cluster.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import { inlineMaxDefault } from '../../storage-node/src/node/config.ts';

const chunkSize = 64 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('storage node client API (3 real nodes)', () => {
  let cluster: StorageCluster;
  let urls: string[];

  before(async () => {
    cluster = await StorageCluster.start({ flags: ['--chunk-size', '64KiB'] });
    urls = cluster.nodes.map((n) => n.url);
  });
  after(async () => {
    await cluster?.stopAll();
  });

  it('quick start: status, upload via node 1, list on node 2, read on node 3', async () => {
    const statuses = await Promise.all(urls.map((u) => fetch(`${u}/status`).then((r) => r.json() as Promise<Record<string, unknown>>)));
    assert.equal(statuses.filter((s) => s.is_leader === true).length, 1);
    for (const s of statuses) assert.equal(typeof s.leader_id, 'string');

    const put = await fetch(`${urls[0]}/upload/my-first-file.txt`, { method: 'POST', body: 'hello, world\n', headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201);
    assert.ok(put.headers.get('x-dfs-node'));
    const file = (await put.json()) as { name: string; size: number; etag: string; version: number };
    assert.equal(file.name, 'my-first-file.txt');
    assert.equal(file.size, 13);
    assert.equal(file.etag, sha256(Buffer.from('hello, world\n')));

    const list = await fetch(`${urls[1]}/files`);
    assert.equal(list.status, 200);
    const page = (await list.json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(page.files.map((f) => f.name), ['my-first-file.txt']);
    assert.equal(page.next, null);

    const get = await fetch(`${urls[2]}/upload/my-first-file.txt`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('x-dfs-node'), cluster.nodes[2].id);
    assert.equal(get.headers.get('etag'), `"${file.etag}"`);
    assert.equal(get.headers.get('content-type'), 'text/plain');
    assert.equal(await get.text(), 'hello, world\n');
  });

  for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 7]) {
    it(`round trip of ${size} bytes`, async () => {
      const data = randomBytes(size);
      const name = `sizes/file-${size}.bin`;
      const put = await fetch(`${urls[1]}/files/${name}`, { method: 'PUT', body: data });
      assert.equal(put.status, 201, await put.clone().text());
      const file = (await put.json()) as { size: number; etag: string; chunks: string[] };
      assert.equal(file.size, size);
      // Up to --inline-max (64 KiB by default) the content is inline: no chunks.
      assert.equal(file.chunks.length, size <= inlineMaxDefault ? 0 : Math.ceil(size / chunkSize));
      for (const url of urls) {
        const get = await fetch(`${url}/files/${name}`);
        assert.equal(get.status, 200);
        assert.equal(get.headers.get('content-length'), String(size));
        const body = Buffer.from(await get.arrayBuffer());
        assert.equal(body.length, size);
        assert.equal(sha256(body), file.etag);
      }
    });
  }

  it('Range across a chunk boundary gives 206; past the end 416', async () => {
    const data = randomBytes(2 * chunkSize + 100);
    assert.equal((await fetch(`${urls[0]}/files/range.bin`, { method: 'PUT', body: data })).status, 201);
    const start = chunkSize - 10;
    const end = chunkSize + 20;
    const res = await fetch(`${urls[2]}/files/range.bin`, { headers: { range: `bytes=${start}-${end}` } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${data.length}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data.subarray(start, end + 1));
    const suffix = await fetch(`${urls[1]}/files/range.bin`, { headers: { range: 'bytes=-5' } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), data.subarray(data.length - 5));
    const bad = await fetch(`${urls[1]}/files/range.bin`, { headers: { range: `bytes=${data.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${data.length}`);
    await bad.arrayBuffer();
  });

  it('HEAD, If-None-Match 304 and local reads', async () => {
    const put = await fetch(`${urls[0]}/files/head.txt`, { method: 'PUT', body: 'abc' });
    const { etag } = (await put.json()) as { etag: string };
    const head = await fetch(`${urls[1]}/files/head.txt`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '3');
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    const cached = await fetch(`${urls[2]}/files/head.txt`, { headers: { 'if-none-match': `"${etag}"` } });
    assert.equal(cached.status, 304);
    const local = await fetch(`${urls[2]}/files/head.txt?consistency=local`);
    assert.ok(Number(local.headers.get('x-applied-index')) > 0);
    await local.arrayBuffer();
  });

  it('a bad name is 400 with a JSON error', async () => {
    for (const [i, url] of urls.entries()) {
      const bad = ['a//b', 'bad%01name', '/leading-slash'][i];
      const res = await fetch(`${url}/files/${bad}`, { method: 'PUT', body: 'x' });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'bad_name');
      assert.ok(body.error.message.length > 0);
    }
  });

  it('If-None-Match: * twice: the second is 412', async () => {
    const first = await fetch(`${urls[1]}/files/once.txt`, { method: 'PUT', body: 'one', headers: { 'if-none-match': '*' } });
    assert.equal(first.status, 201);
    const second = await fetch(`${urls[2]}/files/once.txt`, { method: 'PUT', body: 'two', headers: { 'if-none-match': '*' } });
    assert.equal(second.status, 412);
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'precondition_failed');
    assert.equal(await (await fetch(`${urls[0]}/files/once.txt`)).text(), 'one');
  });

  it('versions are listed newest first and readable with ?version=N', async () => {
    await fetch(`${urls[0]}/files/versioned.txt`, { method: 'PUT', body: 'v1' });
    await fetch(`${urls[0]}/files/versioned.txt`, { method: 'PUT', body: 'v2' });
    const list = (await (await fetch(`${urls[1]}/files/versioned.txt?versions`)).json()) as { versions: { version: number }[] };
    assert.deepEqual(list.versions.map((v) => v.version), [2, 1]);
    assert.equal(await (await fetch(`${urls[2]}/files/versioned.txt?version=1`)).text(), 'v1');
  });

  it('delete: 204, then 404', async () => {
    await fetch(`${urls[0]}/upload/doomed.txt`, { method: 'POST', body: 'bye' });
    const del = await fetch(`${urls[2]}/upload/doomed.txt`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await fetch(`${urls[1]}/files/doomed.txt`)).status, 404);
    const again = await fetch(`${urls[0]}/files/doomed.txt`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    await again.arrayBuffer();
  });

  it('a body cut short leaves no file (on the leader and via a follower)', async () => {
    for (const [i, url] of urls.entries()) {
      const { port } = new URL(url);
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(`PUT /files/cut-${i}.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n`);
      socket.write(randomBytes(100_000));
      await sleep(200);
      socket.destroy();
    }
    await sleep(300);
    for (const [i] of urls.entries()) {
      const res = await fetch(`${urls[0]}/files/cut-${i}.bin`);
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    }
  });

  it('a leader stopped with SIGTERM hands over; files stay readable', async () => {
    const status = (await (await fetch(`${urls[0]}/status`)).json()) as { leader_id: string };
    const leader = cluster.node(status.leader_id);
    await cluster.stopNode(leader.id);
    const others = cluster.nodes.filter((n) => n.id !== leader.id);
    const deadline = Date.now() + 30_000;
    let res: Response | null = null;
    while (Date.now() < deadline) {
      res = await fetch(`${others[0].url}/files/my-first-file.txt`).catch(() => null);
      if (res?.status === 200) break;
      await res?.arrayBuffer();
      await sleep(50);
    }
    assert.equal(res?.status, 200);
    assert.equal(await res!.text(), 'hello, world\n');
    const put = await fetch(`${others[1].url}/files/after-failover.txt`, { method: 'PUT', body: 'still here' });
    assert.equal(put.status, 201);
    cluster.startNode(leader.id);
    await cluster.waitReady();
  });

  it('replicas agree: every node reaches the same applied index with the same metadata digest', async () => {
    type Digest = { applied_index: number; digest: string; files: number };
    let digests: Digest[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      // A linearizable read first, so every node has applied everything written above.
      await Promise.all(urls.map((u) => fetch(`${u}/files?limit=1`).then((r) => r.arrayBuffer())));
      digests = await Promise.all(urls.map((u) => fetch(`${u}/admin/metadata-digest`, { headers: { 'x-dfs-cluster-secret': cluster.secret } }).then((r) => r.json() as Promise<Digest>)));
      if (new Set(digests.map((d) => d.applied_index)).size === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(new Set(digests.map((d) => d.applied_index)).size, 1, JSON.stringify(digests));
    assert.equal(new Set(digests.map((d) => d.digest)).size, 1, JSON.stringify(digests));
    assert.ok(digests[0].files > 0);
  });

  it('health and ready', async () => {
    for (const url of urls) {
      assert.deepEqual(await (await fetch(`${url}/health`)).json(), { ok: true });
      assert.equal((await fetch(`${url}/ready`)).status, 200);
    }
  });
});
