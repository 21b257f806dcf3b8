// The storage node's care of its chunks on a real 3-node cluster (64 KiB chunks, a 1.5 s GC grace
// period, a snapshot every 5 entries): a missing chunk is fetched on read, a corrupt one is
// quarantined, never served and repaired, a node that missed writes (or lost a file) gets its
// chunks back in the background after a restart (through a snapshot), the collector deletes
// unreferenced and orphan chunks and never one in use. Also /metrics, /status's last_contact,
// leader reads from a follower and re-forwarded writes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sleep } from '../support/cluster.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import { blobPath } from '../support/node-probes.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const chunkSize = 64 * 1024;
const graceMs = 1500;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface FileJson {
  etag: string;
  chunks: string[];
}
interface Status {
  id: string;
  leader_id: string | null;
  is_leader: boolean;
  nodes: { id: string; last_contact: number | null }[];
}

const holds = (node: StorageNodeHandle, hash: string) => existsSync(blobPath(node, hash)) && sha256(readFileSync(blobPath(node, hash))) === hash;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(50);
  }
}

describe('storage node chunk repair, GC, metrics (3 real nodes)', () => {
  let cluster: StorageCluster;

  before(async () => {
    cluster = await StorageCluster.start({
      flags: ['--chunk-size', '64KiB', '--gc-grace-ms', String(graceMs), '--gc-interval-ms', '200', '--snapshot-entries', '5'],
    });
  });
  after(async () => {
    await cluster?.stopAll();
  });

  async function status(node: StorageNodeHandle): Promise<Status> {
    return (await (await fetch(`${node.url}/status`)).json()) as Status;
  }
  async function roles(): Promise<{ leader: StorageNodeHandle; followers: StorageNodeHandle[] }> {
    let leaderId: string | null = null;
    await until('a leader', async () => {
      leaderId = (await status(cluster.nodes[0]).catch(() => null))?.leader_id ?? null;
      return leaderId !== null;
    });
    return { leader: cluster.node(leaderId!), followers: cluster.nodes.filter((n) => n.id !== leaderId) };
  }
  /** PUT, retried on 503 as a client would (20 ms ticks: a loaded machine may see an election). */
  async function upload(node: StorageNodeHandle, name: string, data: Buffer<ArrayBuffer>): Promise<FileJson> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`${node.url}/files/${name}`, { method: 'PUT', body: data });
      if (res.status === 503 && Date.now() < deadline) {
        await res.arrayBuffer();
        await sleep(100);
        continue;
      }
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as FileJson;
    }
  }
  async function readVia(node: StorageNodeHandle, name: string, consistency = 'linearizable'): Promise<Response> {
    return fetch(`${node.url}/files/${name}?consistency=${consistency}`);
  }

  it('/metrics exposes Raft, storage, repair, GC and HTTP series in the Prometheus text format', async () => {
    const { leader } = await roles();
    await upload(leader, 'metrics/a.bin', randomBytes(2 * chunkSize));
    const res = await fetch(`${leader.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const series of [
      'dfs_raft_term ',
      'dfs_raft_commit_index ',
      'dfs_raft_applied_index ',
      'dfs_raft_role{role="leader"} 1',
      'dfs_raft_proposals_total{op="put"} ',
      'dfs_raft_proposals_failed_total{',
      'dfs_raft_apply_duration_seconds_bucket{',
      'dfs_blob_stored_bytes ',
      'dfs_blob_chunks ',
      'dfs_chunk_fetches_total{reason="repair",result="ok"}',
      'dfs_chunk_repairs_total{outcome="repaired"}',
      'dfs_gc_deleted_chunks_total ',
      'dfs_http_requests_total{api="client",route="/files/*",method="PUT",status="201"} ',
      'dfs_http_request_duration_seconds_bucket{',
      'process_resident_memory_bytes ',
    ]) {
      assert.ok(text.includes(series), `missing ${series}`);
    }
    assert.ok(!text.includes('route="/files/metrics/a.bin"'), 'routes are patterns, not raw paths');
    assert.ok(Number(/^dfs_blob_chunks (\d+)/m.exec(text)?.[1]) >= 2);
  });

  it('/status on the leader gives last_contact for every member', async () => {
    const { leader } = await roles();
    const s = await status(leader);
    assert.equal(s.is_leader, true);
    for (const node of s.nodes) {
      assert.equal(typeof node.last_contact, 'number', `${node.id}: ${node.last_contact}`);
      assert.ok(node.last_contact! < 1000, `${node.id} last heard ${node.last_contact} ms ago`);
    }
  });

  it('a chunk file deleted on a follower is fetched from a peer on read, and stored again', async () => {
    const { leader, followers } = await roles();
    const data = randomBytes(3 * chunkSize);
    const file = await upload(leader, 'repair/deleted.bin', data);
    const [follower] = followers;
    await until('the follower holds every chunk', () => file.chunks.every((h) => holds(follower, h)));
    await rm(blobPath(follower, file.chunks[1]));
    const res = await readVia(follower, 'repair/deleted.bin');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-dfs-node'), follower.id);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), file.etag);
    assert.ok(holds(follower, file.chunks[1]), 'the fetched copy is stored');
  });

  it('a corrupt chunk file is detected, never served, quarantined and repaired', async () => {
    const { leader, followers } = await roles();
    const data = randomBytes(2 * chunkSize + 10);
    const file = await upload(leader, 'repair/corrupt.bin', data);
    const follower = followers[1];
    await until('the follower holds every chunk', () => file.chunks.every((h) => holds(follower, h)));
    const bad = blobPath(follower, file.chunks[0]);
    await writeFile(bad, randomBytes(chunkSize)); // same size, other bytes
    const res = await readVia(follower, 'repair/corrupt.bin');
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
    assert.ok(holds(follower, file.chunks[0]), 'the good copy replaced the corrupt one');
    const quarantined = readdirSync(join(follower.dataDir, 'blobs', 'quarantine'));
    assert.ok(quarantined.some((name) => name.startsWith(file.chunks[0])), 'the corrupt copy is quarantined');
    const metrics = await (await fetch(`${follower.url}/metrics`)).text();
    assert.match(metrics, /^dfs_chunks_quarantined_total [1-9]/m);
    // A peer asking this node for the chunk gets good bytes too (the cluster route verifies).
    const peerRead = await readVia(leader, 'repair/corrupt.bin');
    assert.deepEqual(Buffer.from(await peerRead.arrayBuffer()), data);
  });

  it('after a restart, background repair fetches a chunk file lost while the node was down', async () => {
    const { leader, followers } = await roles();
    const file = await upload(leader, 'repair/lost.bin', randomBytes(2 * chunkSize));
    const [follower] = followers;
    await until('the follower holds every chunk', () => file.chunks.every((h) => holds(follower, h)));
    await cluster.stopNode(follower.id);
    try {
      await rm(blobPath(follower, file.chunks[0]));
    } finally {
      cluster.startNode(follower.id);
    }
    // Never read through the node: only the background repair may bring the file back.
    await until('the restarted node repaired the chunk', () => holds(follower, file.chunks[0]));
    await cluster.waitReady();
  });

  it('a node stopped while files were written gets their chunks in the background (through a snapshot)', async () => {
    const { leader, followers } = await roles();
    const down = followers[1];
    await cluster.stopNode(down.id);
    const files: FileJson[] = [];
    try {
      // More entries than --snapshot-entries: the leader compacts, the node catches up by snapshot.
      for (let i = 0; i < 8; i++) files.push(await upload(leader, `missed/${i}.bin`, randomBytes(chunkSize + 1000 * i)));
      assert.ok(files.flatMap((f) => f.chunks).every((h) => !existsSync(blobPath(down, h))), 'no push reached the stopped node');
    } finally {
      cluster.startNode(down.id);
    }
    const chunks = files.flatMap((f) => f.chunks);
    await until('the restarted node holds every chunk it missed', () => chunks.every((h) => holds(down, h)), 20_000);
    await cluster.waitReady();
  });

  it('GC deletes the chunks of a deleted file and orphan files after the grace period, never a chunk in use', async () => {
    const { leader } = await roles();
    const doomed = await upload(leader, 'gc/doomed.bin', randomBytes(2 * chunkSize));
    const kept = await upload(leader, 'gc/kept.bin', randomBytes(2 * chunkSize));
    // An orphan: a chunk no entry names (an upload that failed), its file older than the grace period.
    const orphanData = randomBytes(1000);
    const orphan = sha256(orphanData);
    const orphanNode = cluster.nodes[0];
    await mkdir(dirname(blobPath(orphanNode, orphan)), { recursive: true });
    await writeFile(blobPath(orphanNode, orphan), orphanData);
    const old = (Date.now() - 10 * graceMs) / 1000;
    await utimes(blobPath(orphanNode, orphan), old, old);
    await until('every node holds every chunk', () => cluster.nodes.every((n) => [...doomed.chunks, ...kept.chunks].every((h) => holds(n, h))));

    const beforeDelete = Date.now(); // the delete's HLC stamp is later (same machine, same clock)
    const del = await fetch(`${leader.url}/files/gc/doomed.bin`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await until('the deleted file\'s chunks are collected on every node', () => cluster.nodes.every((n) => doomed.chunks.every((h) => !existsSync(blobPath(n, h)))));
    const collectedAfterMs = Date.now() - beforeDelete;
    assert.ok(collectedAfterMs >= graceMs, `collected ${collectedAfterMs} ms after the delete, before the grace period`);
    await until('the orphan is collected', () => !existsSync(blobPath(orphanNode, orphan)));
    await sleep(3 * 200);
    for (const node of cluster.nodes) {
      assert.ok(kept.chunks.every((h) => holds(node, h)), `${node.id} still holds the kept file's chunks`);
      const res = await readVia(node, 'gc/kept.bin');
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), kept.etag);
    }
    const metrics = await (await fetch(`${orphanNode.url}/metrics`)).text();
    assert.match(metrics, /^dfs_gc_deleted_chunks_total [1-9]/m);
  });

  it('X-Consistency: leader on a follower is answered by the leader; on the leader by itself', async () => {
    const { leader, followers } = await roles();
    await upload(leader, 'leader-read.txt', Buffer.from('from the leader'));
    const viaFollower = await fetch(`${followers[0].url}/files/leader-read.txt`, { headers: { 'x-consistency': 'leader' } });
    assert.equal(viaFollower.status, 200);
    assert.equal(viaFollower.headers.get('x-dfs-node'), leader.id);
    assert.equal(await viaFollower.text(), 'from the leader');
    const list = await fetch(`${followers[1].url}/files?prefix=leader-read&consistency=leader`);
    assert.equal(list.headers.get('x-dfs-node'), leader.id);
    assert.deepEqual(((await list.json()) as { files: { name: string }[] }).files.map((f) => f.name), ['leader-read.txt']);
    const onLeader = await fetch(`${leader.url}/files/leader-read.txt?consistency=leader`, { method: 'HEAD' });
    assert.equal(onLeader.status, 200);
    assert.equal(onLeader.headers.get('x-dfs-node'), leader.id);
  });

  it('a write forwarded to a node that no longer leads is forwarded again, up to 2 hops; then 503 with Retry-After', async () => {
    const { leader, followers } = await roles();
    const [a, b] = followers;
    // As if `b` had forwarded it to `a` thinking `a` led: `a` passes it on to the leader.
    const again = await fetch(`${a.url}/files/reforwarded.txt`, { method: 'PUT', body: 'hop hop', headers: { 'x-dfs-forwarded-by': b.id } });
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('x-dfs-node'), leader.id);
    const tooFar = await fetch(`${a.url}/files/too-far.txt`, { method: 'PUT', body: 'x', headers: { 'x-dfs-forwarded-by': `${b.id},${leader.id}` } });
    assert.equal(tooFar.status, 503);
    assert.equal(tooFar.headers.get('retry-after'), '1');
    assert.equal(((await tooFar.json()) as { error: { code: string } }).error.code, 'no_leader');
  });
});
