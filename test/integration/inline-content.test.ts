// Small content inline (issue 9, item 1) on real processes: bodies around --inline-max with and
// without Content-Length, dedup and collection of content shared by two names, versions and
// Range, Idempotency-Key fingerprints (issue 10, item 3), kill -9 of a follower and of the
// leader, a wiped follower that catches up through InstallSnapshot, and the upload memory budget.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { sleep } from '../support/cluster.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import { blobPath, metricValue, nodeStatus, snapshotFilesWritten, snapshotIndex } from '../support/node-probes.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const KiB = 1024;
const inlineMax = 16 * KiB;
const chunkSize = 64 * KiB;
const snapshotEntries = 20;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface FileJson {
  name: string;
  size: number;
  etag: string;
  version: number;
  chunks: string[];
}
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request, its whole answer; a 503 (an election under way) is retried when `retry` (reads: by default). */
async function call(url: string, options: { method?: string; body?: Buffer | string | AsyncIterable<Uint8Array>; headers?: Record<string, string>; retry?: boolean } = {}): Promise<Answer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const sent = options.body === undefined || typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : Readable.from(options.body);
    const res = await request(url, { method: (options.method ?? 'GET') as 'GET', body: sent, headers: options.headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = Buffer.from(await res.body.arrayBuffer());
    // Reads are always retried on a 503 (an election on a loaded machine); writes when asked.
    const retry = options.retry ?? ['GET', 'HEAD'].includes(options.method ?? 'GET');
    if (res.statusCode !== 503 || !retry || Date.now() > deadline) return { status: res.statusCode, headers: res.headers, body };
    await sleep(200);
  }
}

const json = <T>(answer: Answer): T => JSON.parse(answer.body.toString()) as T;


async function leaderOf(cluster: StorageCluster, timeoutMs = 30_000): Promise<StorageNodeHandle> {
  const deadline = Date.now() + timeoutMs;
  let seen: unknown = null;
  for (;;) {
    const alive = cluster.nodes.filter((n) => n.child !== null);
    const statuses = await Promise.all(alive.map(nodeStatus));
    seen = statuses.map((s) => s && [s.id, s.leader_id, s.term]);
    const leader = statuses.find((s) => s?.is_leader === true);
    if (leader !== undefined && leader !== null && statuses.every((s) => s !== null && s.leader_id === leader.id)) return cluster.node(leader.id);
    if (Date.now() > deadline) throw new Error(`no agreed leader: ${JSON.stringify(seen)}`);
    await sleep(100);
  }
}

/** Waits until `node` has applied the leader's commit index in the leader's term. */
async function waitCaughtUp(cluster: StorageCluster, node: StorageNodeHandle, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const leader = await leaderOf(cluster);
    const [l, own] = await Promise.all([nodeStatus(leader), nodeStatus(node)]);
    if (l !== null && own !== null) {
      last = `leader ${leader.id} term ${l.term} commit ${l.commit_index}; ${node.id} term ${own.term} applied ${own.applied_index}`;
      if (own.term === l.term && own.leader_id === leader.id && own.applied_index >= l.commit_index) return;
    }
    if (Date.now() > deadline) throw new Error(`${node.id} did not catch up in ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}


/** A node's inline_contents row for `hash` (read-only, beside the running node). */
function inlineRow(node: StorageNodeHandle, hash: string): { refcount: number; length: number } | null {
  const db = new Database(join(node.dataDir, 'meta.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT refcount, length(content) AS length FROM inline_contents WHERE hash = ?').get(hash) as { refcount: number; length: number } | undefined;
    return row ?? null;
  } finally {
    db.close();
  }
}


/** A body sent without Content-Length (chunked transfer encoding), in pieces of `pieceBytes`. */
async function* streamed(data: Buffer, pieceBytes: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += pieceBytes) {
    yield data.subarray(offset, offset + pieceBytes);
    await sleep(1);
  }
}

/** Every node serves `data` under `name`, byte-exact, with local and linearizable reads. */
async function assertServedEverywhere(cluster: StorageCluster, name: string, data: Buffer): Promise<void> {
  for (const node of cluster.nodes) {
    // Linearizable first: after it the node has applied the write, so a local read must see it.
    for (const consistency of ['linearizable', 'local']) {
      const got = await call(`${node.url}/files/${name}?consistency=${consistency}`, { retry: true });
      assert.equal(got.status, 200, `${node.id} ${consistency} ${name}: ${got.body.toString().slice(0, 200)}`);
      assert.equal(got.headers.etag, `"${sha256(data)}"`, `${node.id} ${name}`);
      assert.equal(got.headers['content-length'], String(data.length));
      assert.ok(got.body.equals(data), `${node.id} ${consistency} ${name}: different bytes`);
    }
  }
}

describe(`inline content (3 real nodes, --inline-max ${inlineMax}, --chunk-size ${chunkSize}, --snapshot-entries ${snapshotEntries})`, () => {
  let cluster: StorageCluster;
  let leader: StorageNodeHandle;
  let followers: StorageNodeHandle[];
  /** Every file acknowledged so far and its bytes: all must survive everything below. */
  const acked = new Map<string, Buffer>();

  before(async () => {
    cluster = await StorageCluster.start({
      flags: ['--chunk-size', '64KiB', '--inline-max', String(inlineMax), '--snapshot-entries', String(snapshotEntries)],
    });
    leader = await leaderOf(cluster);
    followers = cluster.nodes.filter((n) => n !== leader);
  });
  after(async () => {
    if (cluster === undefined) return;
    await Promise.all(cluster.nodes.map((n) => cluster.stopNode(n.id, 'SIGKILL')));
    await cluster.stopAll();
  });

  /** Leadership may move under load: look again before a test that cares who leads. */
  async function refreshRoles(): Promise<void> {
    leader = await leaderOf(cluster);
    followers = cluster.nodes.filter((n) => n !== leader);
  }

  async function put(node: StorageNodeHandle, name: string, data: Buffer | AsyncIterable<Uint8Array>, content: Buffer, headers: Record<string, string> = {}): Promise<FileJson> {
    // A streamed body cannot be sent twice; a Buffer is retried on a 503 (a leader change).
    const res = await call(`${node.url}/files/${name}`, { method: 'PUT', body: data, headers, retry: Buffer.isBuffer(data) });
    assert.equal(res.status, 201, `PUT ${name}: ${res.body.toString().slice(0, 300)}`);
    const file = json<FileJson>(res);
    assert.equal(file.size, content.length);
    assert.equal(file.etag, sha256(content));
    acked.set(name, content);
    return file;
  }

  it('bodies of limit-1 and limit bytes are inline (no chunks, no blob file anywhere); limit+1 is chunked', async () => {
    for (const size of [inlineMax - 1, inlineMax, inlineMax + 1]) {
      const data = randomBytes(size);
      const name = `limits/${size}.bin`;
      const file = await put(followers[0], name, data, data, { 'content-type': 'application/x-test' });
      if (size <= inlineMax) {
        assert.deepEqual(file.chunks, [], `${size} bytes`);
        for (const node of cluster.nodes) assert.equal(existsSync(blobPath(node, file.etag)), false, `${node.id} has a blob for ${size} bytes`);
      } else {
        assert.equal(file.chunks.length, 1);
        assert.equal(file.chunks[0], sha256(data));
        assert.ok(existsSync(blobPath(leader, file.chunks[0])), 'the chunked file has its chunk on the leader');
      }
      await assertServedEverywhere(cluster, name, data);
      const head = await call(`${followers[1].url}/files/${name}`, { method: 'HEAD' });
      assert.equal(head.headers['content-type'], 'application/x-test');
      assert.equal(head.headers['content-length'], String(size));
    }
  });

  it('a body without Content-Length is inline up to the limit; past it, it goes down the chunk path', async () => {
    const cases = [
      { size: inlineMax - 10, piece: 1000, chunks: 0 },
      { size: inlineMax, piece: 4096, chunks: 0 },
      { size: inlineMax + 1, piece: 1000, chunks: 1 },
      { size: 3 * chunkSize + 5, piece: 7000, chunks: 4 },
      { size: 0, piece: 1, chunks: 0 },
    ];
    for (const { size, piece, chunks } of cases) {
      const data = randomBytes(size);
      const name = `streamed/${size}.bin`;
      const file = await put(leader, name, streamed(data, piece), data);
      assert.equal(file.chunks.length, chunks, `${size} bytes streamed`);
      await assertServedEverywhere(cluster, name, data);
    }
  });

  it('x-amz-content-sha256 on a PUT: a body that does not hash to it is 400 and stored nowhere, inline or chunked; one that does is stored', async () => {
    for (const size of [100, 3 * chunkSize + 5]) {
      const data = randomBytes(size);
      const name = `declared/${size}.bin`;
      for (const node of [leader, followers[0]]) {
        const wrong = await call(`${node.url}/files/${name}`, { method: 'PUT', body: data, headers: { 'x-amz-content-sha256': sha256(Buffer.concat([data, Buffer.from('x')])) } });
        assert.equal(wrong.status, 400, wrong.body.toString());
        assert.equal(json<{ error: { code: string } }>(wrong).error.code, 'x_amz_content_sha256_mismatch');
        assert.equal((await call(`${node.url}/files/${name}`, { method: 'HEAD', headers: { 'x-consistency': 'linearizable' } })).status, 404, `${size} bytes through ${node.id}`);
      }
      await put(followers[1], name, data, data, { 'x-amz-content-sha256': sha256(data) });
      await assertServedEverywhere(cluster, name, data);
    }
  });

  it('identical inline content under two names is stored once; deleting one keeps it, deleting both removes it', async () => {
    const data = randomBytes(5000);
    const hash = sha256(data);
    await put(leader, 'dedup/a.bin', data, data);
    await put(followers[1], 'dedup/b.bin', data, data);
    await Promise.all(cluster.nodes.map((n) => waitCaughtUp(cluster, n)));
    for (const node of cluster.nodes) assert.deepEqual(inlineRow(node, hash), { refcount: 2, length: 5000 }, node.id);

    assert.equal((await call(`${followers[0].url}/files/dedup/a.bin`, { method: 'DELETE', retry: true })).status, 204);
    acked.delete('dedup/a.bin');
    await Promise.all(cluster.nodes.map((n) => waitCaughtUp(cluster, n)));
    for (const node of cluster.nodes) assert.deepEqual(inlineRow(node, hash), { refcount: 1, length: 5000 }, node.id);
    await assertServedEverywhere(cluster, 'dedup/b.bin', data);

    assert.equal((await call(`${leader.url}/files/dedup/b.bin`, { method: 'DELETE', retry: true })).status, 204);
    acked.delete('dedup/b.bin');
    await Promise.all(cluster.nodes.map((n) => waitCaughtUp(cluster, n)));
    for (const node of cluster.nodes) assert.equal(inlineRow(node, hash), null, `${node.id} still has the content`);
    for (const node of cluster.nodes) assert.equal((await call(`${node.url}/files/dedup/b.bin`)).status, 404);
  });

  it('versions, Range, If-None-Match and ?version= on inline files', async () => {
    const name = 'versions/doc.txt';
    const v1 = Buffer.from('version one: 0123456789');
    const v2 = Buffer.from('version two is a little longer: abcdefghijklmnopqrstuvwxyz');
    const v3 = randomBytes(inlineMax + 100); // chunked
    await put(leader, name, v1, v1);
    await put(followers[0], name, v2, v2);
    await put(leader, name, v3, v3);
    const versions = json<{ versions: FileJson[] }>(await call(`${followers[1].url}/files/${name}?versions`));
    assert.deepEqual(versions.versions.map((v) => [v.version, v.etag, v.chunks.length]), [
      [3, sha256(v3), 1],
      [2, sha256(v2), 0],
      [1, sha256(v1), 0],
    ]);
    for (const node of cluster.nodes) {
      const old = await call(`${node.url}/files/${name}?version=1&consistency=local`, { headers: { range: 'bytes=9-13' } });
      assert.equal(old.status, 206, node.id);
      assert.equal(old.headers['content-range'], `bytes 9-13/${v1.length}`);
      assert.equal(old.body.toString(), v1.subarray(9, 14).toString());
      assert.equal(old.headers['x-dfs-version'], '1');
      const suffix = await call(`${node.url}/files/${name}?version=2`, { headers: { range: 'bytes=-26' } });
      assert.equal(suffix.status, 206);
      assert.equal(suffix.body.toString(), 'abcdefghijklmnopqrstuvwxyz');
      const open = await call(`${node.url}/files/${name}?version=2`, { headers: { range: 'bytes=40-' } });
      assert.deepEqual(open.body, v2.subarray(40));
      const past = await call(`${node.url}/files/${name}?version=2`, { headers: { range: `bytes=${v2.length}-` } });
      assert.equal(past.status, 416);
      assert.equal(past.headers['content-range'], `bytes */${v2.length}`);
      const cached = await call(`${node.url}/files/${name}?version=2`, { headers: { 'if-none-match': `"${sha256(v2)}"` } });
      assert.equal(cached.status, 304);
      assert.equal(cached.body.length, 0);
    }
    // Conditional writes against an inline version's etag.
    const wrong = await call(`${leader.url}/files/${name}`, { method: 'PUT', body: 'x', headers: { 'if-match': `"${sha256(v2)}"` }, retry: true });
    assert.equal(wrong.status, 412);
    const v4 = Buffer.from('v4');
    await put(leader, name, v4, v4, { 'if-match': `"${sha256(v3)}"` });
    const v5 = Buffer.from('v5');
    await put(leader, name, v5, v5, { 'if-match': `"${sha256(v4)}"` });
  });

  it('an Idempotency-Key reused for a different PUT or DELETE is 422 idempotency_key_mismatch and changes nothing; the same request again gets the first answer', async () => {
    await refreshRoles();
    const key = `key-${randomBytes(8).toString('hex')}`;
    const first = await call(`${leader.url}/files/idem/a.txt`, { method: 'PUT', body: 'for a', headers: { 'idempotency-key': key }, retry: true });
    assert.equal(first.status, 201);
    acked.set('idem/a.txt', Buffer.from('for a'));
    for (const node of cluster.nodes) {
      const other = await call(`${node.url}/files/idem/b.txt`, { method: 'PUT', body: 'for a', headers: { 'idempotency-key': key }, retry: true });
      assert.equal(other.status, 422, `${node.id}: ${other.body.toString()}`);
      assert.equal(json<{ error: { code: string } }>(other).error.code, 'idempotency_key_mismatch');
      const otherContent = await call(`${node.url}/files/idem/a.txt`, { method: 'PUT', body: 'changed', headers: { 'idempotency-key': key }, retry: true });
      assert.equal(otherContent.status, 422);
      const asDelete = await call(`${node.url}/files/idem/a.txt`, { method: 'DELETE', headers: { 'idempotency-key': key }, retry: true });
      assert.equal(asDelete.status, 422);
      assert.equal(json<{ error: { code: string } }>(asDelete).error.code, 'idempotency_key_mismatch');
    }
    assert.equal((await call(`${followers[0].url}/files/idem/b.txt`, { retry: true })).status, 404);
    const versions = json<{ versions: FileJson[] }>(await call(`${leader.url}/files/idem/a.txt?versions`));
    assert.deepEqual(versions.versions.map((v) => v.version), [1]);
    await assertServedEverywhere(cluster, 'idem/a.txt', Buffer.from('for a'));
    const again = await call(`${followers[1].url}/files/idem/a.txt`, { method: 'PUT', body: 'for a', headers: { 'idempotency-key': key }, retry: true });
    assert.equal(again.status, 201);
    assert.deepEqual(json<FileJson>(again), json<FileJson>(first));

    const deleteKey = `del-${randomBytes(8).toString('hex')}`;
    await put(leader, 'idem/doomed.txt', Buffer.from('doomed'), Buffer.from('doomed'));
    assert.equal((await call(`${leader.url}/files/idem/doomed.txt`, { method: 'DELETE', headers: { 'idempotency-key': deleteKey }, retry: true })).status, 204);
    acked.delete('idem/doomed.txt');
    assert.equal((await call(`${followers[0].url}/files/idem/doomed.txt`, { method: 'DELETE', headers: { 'idempotency-key': deleteKey }, retry: true })).status, 204);
    const deleteOther = await call(`${leader.url}/files/idem/a.txt`, { method: 'DELETE', headers: { 'idempotency-key': deleteKey }, retry: true });
    assert.equal(deleteOther.status, 422);
    assert.equal((await call(`${leader.url}/files/idem/a.txt`)).status, 200);
  });

  it('acknowledged inline files survive kill -9 of a follower, then of the leader, and are served by every node after restart', async () => {
    await refreshRoles();
    const follower = followers[0];
    await cluster.stopNode(follower.id, 'SIGKILL');
    for (let i = 0; i < 10; i++) {
      const data = randomBytes(100 + i * 500);
      await put(leader, `crash/while-follower-down-${i}.bin`, data, data);
    }
    cluster.startNode(follower.id);
    await waitCaughtUp(cluster, follower);

    const oldLeader = await leaderOf(cluster);
    // Its log was cut in place, with no snapshot file: the restart below comes back from meta.db.
    const cutAt = await snapshotIndex(oldLeader);
    assert.ok(cutAt > 0, `${oldLeader.id} never compacted its log (--snapshot-entries ${snapshotEntries})`);
    await cluster.stopNode(oldLeader.id, 'SIGKILL');
    const survivor = cluster.nodes.find((n) => n !== oldLeader && n.child !== null)!;
    for (let i = 0; i < 10; i++) {
      const data = randomBytes(200 + i * 300);
      const name = `crash/after-leader-kill-${i}.bin`;
      const res = await call(`${survivor.url}/files/${name}`, { method: 'PUT', body: data, retry: true });
      assert.equal(res.status, 201, res.body.toString());
      acked.set(name, data);
    }
    cluster.startNode(oldLeader.id);
    for (const node of cluster.nodes) await waitCaughtUp(cluster, node);
    assert.ok((await snapshotIndex(oldLeader)) >= cutAt, `${oldLeader.id} restarted with its log before the cut at ${cutAt}`);
    for (const [name, data] of acked) await assertServedEverywhere(cluster, name, data);
  });

  it('a wiped follower catches up through InstallSnapshot and serves every inline file from its own meta.db', async () => {
    leader = await leaderOf(cluster);
    const wiped = cluster.nodes.find((n) => n !== leader)!;
    await cluster.stopNode(wiped.id, 'SIGKILL');
    rmSync(wiped.dataDir, { recursive: true, force: true });
    // Enough entries that the leader's log no longer starts at 1: only a snapshot can help.
    const snapshotBefore = await snapshotIndex(leader);
    const filesBefore = await snapshotFilesWritten(leader);
    for (let i = 0, at = snapshotBefore; at <= snapshotBefore + snapshotEntries || i < 2 * snapshotEntries; i++, at = await snapshotIndex(leader)) {
      assert.ok(i < 20 * snapshotEntries, `the leader did not compact its log again (at ${at})`);
      const data = randomBytes(300 + (i % 50) * 100);
      await put(leader, `snap/${i}.bin`, data, data);
    }
    // The live follower holds every committed entry: the leader cut its log in place, no file.
    assert.equal(await snapshotFilesWritten(leader), filesBefore, 'a snapshot file was written while no follower needed one');
    const files = readdirSync(join(leader.dataDir, 'snapshots')).filter((f) => f.endsWith('.snap'));
    assert.deepEqual(files, [], 'snapshot files outlived the log compaction that replaced them');
    cluster.startNode(wiped.id);
    await waitCaughtUp(cluster, wiped);
    assert.ok((await snapshotIndex(wiped)) > 0, `${wiped.id} has no snapshot: it did not catch up through InstallSnapshot`);
    assert.ok((await snapshotFilesWritten(leader)) > filesBefore, `${leader.id} wrote no snapshot file for ${wiped.id}`);
    for (const [name, data] of acked) {
      const got = await call(`${wiped.url}/files/${name}?consistency=local`);
      assert.equal(got.status, 200, `${name}: ${got.body.toString().slice(0, 200)}`);
      assert.ok(got.body.equals(data), `${name}: different bytes`);
      if (data.length > 0 && data.length <= inlineMax) {
        assert.equal(inlineRow(wiped, sha256(data))?.length, data.length, `${name} is not inline on ${wiped.id}`);
        assert.equal(existsSync(blobPath(wiped, sha256(data))), false);
      }
    }
  });
});

describe('upload memory budget (1 node, --upload-memory-max 64KiB, --chunk-size 64KiB)', () => {
  let cluster: StorageCluster;
  let url: string;

  before(async () => {
    cluster = await StorageCluster.start({ size: 1, flags: ['--chunk-size', '64KiB', '--inline-max', '16KiB', '--upload-memory-max', '64KiB'] });
    url = cluster.nodes[0].url;
  });
  after(async () => {
    await cluster?.stopAll();
  });

  const memoryInUse = () => metricValue({ url }, 'dfs_upload_memory_bytes');

  it('an upload holding the whole budget makes the next ones 503 busy with Retry-After; after it ends they succeed', async () => {
    const data = randomBytes(200 * KiB);
    let releaseRest!: () => void;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    async function* slowBody(): AsyncGenerator<Uint8Array> {
      yield data.subarray(0, 1000);
      await rest;
      yield data.subarray(1000);
    }
    // Declared length > chunk size: it reserves a whole chunk buffer, all of the budget.
    const holding = call(`${url}/files/budget/big.bin`, { method: 'PUT', body: slowBody(), headers: { 'content-length': String(data.length) } });
    const deadline = Date.now() + 30_000;
    while ((await memoryInUse()) < 64 * KiB) {
      assert.ok(Date.now() < deadline, 'the held upload never reserved its buffer');
      await sleep(50);
    }
    for (const body of ['small', randomBytes(100 * KiB)]) {
      const refused = await call(`${url}/files/budget/refused.bin`, { method: 'PUT', body });
      assert.equal(refused.status, 503, refused.body.toString());
      assert.equal(json<{ error: { code: string } }>(refused).error.code, 'busy');
      assert.ok(refused.headers['retry-after'] !== undefined, 'no Retry-After');
    }
    assert.match((await call(`${url}/metrics`)).body.toString(), /^dfs_uploads_refused_total\{reason="busy"\} 2$/m);
    releaseRest();
    const done = await holding;
    assert.equal(done.status, 201, done.body.toString());
    assert.equal(json<FileJson>(done).etag, sha256(data));
    assert.equal(await memoryInUse(), 0);
    const after = await call(`${url}/files/budget/after.bin`, { method: 'PUT', body: 'now it fits' });
    assert.equal(after.status, 201);
    assert.equal((await call(`${url}/files/budget/big.bin`)).body.equals(data), true);
  });
});
