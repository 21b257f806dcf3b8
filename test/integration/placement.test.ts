// Placement over real processes: 5 nodes at replication 3 store each chunk on exactly its 3
// holders (counted on disk), fsck says so; the setting changes live (3 → 2 → 3); a node removed
// for good has its chunks re-made on the others; a new node receives its share; chunks corrupted
// or deleted behind the nodes' backs are found and repaired. Every file reads back byte-exact
// from every member throughout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { blobPath } from '../support/node-probes.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import { waitFor } from '../support/wait-for.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

interface FsckReport {
  replication: number;
  chunks: number;
  clean: boolean;
  under_replicated: number;
  over_replicated: number;
  misplaced: number;
  missing: number;
  members: { id: string; reachable: boolean; down: boolean; chunks?: number; bytes?: number }[];
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const adminToken = randomBytes(12).toString('hex');

/** Runs the real `dfs` command; resolves with its exit code and output. */
function dfs(endpoint: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/src/main.ts', '--endpoint', endpoint, ...args], {
      cwd: repoRoot,
      env: { ...process.env, DFS_ADMIN_TOKEN: adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
const chunkSize = 64 * 1024;

describe('placement: replication below the node count', () => {
  let cluster: StorageCluster;
  const files = new Map<string, { hash: string; chunks: string[] }>();
  const admin = () => ({ 'x-dfs-cluster-secret': cluster.secret });
  const running = () => cluster.nodes.filter((n) => n.child !== null);

  async function call<T>(node: StorageNodeHandle, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const response = await fetch(`${node.url}${path}`, { method, headers: { ...admin(), 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, json: (await response.json()) as T };
  }

  /** fsck through the first running node, until clean. */
  async function fsckClean(what: string, members?: number): Promise<FsckReport> {
    return waitFor(what, async (see) => {
      const report = (await call<FsckReport>(running()[0], 'GET', '/admin/fsck')).json;
      see(report);
      return report.clean && (members === undefined || report.members.length === members) ? report : undefined;
    }, 90_000);
  }

  /** How many running nodes have each file's chunks on disk. */
  function copiesOnDisk(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { chunks } of files.values()) for (const hash of chunks) counts.set(hash, running().filter((n) => existsSync(blobPath(n, hash))).length);
    return counts;
  }

  async function readsBackEverywhere(): Promise<void> {
    for (const node of running()) {
      for (const [name, { hash }] of files) {
        const response = await fetch(`${node.url}/files/${name}?consistency=local`);
        const body = new Uint8Array(await response.arrayBuffer());
        assert.equal(response.status, 200, `${node.id} ${name}`);
        assert.equal(sha256(body), hash, `${node.id} ${name}: bytes differ`);
      }
    }
  }

  before(async () => {
    cluster = await StorageCluster.start({ size: 5, flags: ['--chunk-size', '64KiB', '--inline-max', '0', '--gc-interval-ms', '300', '--repair-concurrency', '8', '--scrub-interval-ms', '300', '--scrub-rate', '64MiB', '--dead-after-ms', '3000', '--admin-token', adminToken] });
  });
  after(async () => {
    await cluster?.stopAll();
  });

  test('at replication 3 each chunk is on exactly its 3 holders, and fsck is clean', async () => {
    const set = await dfs(cluster.nodes[0].url, '--json', 'cluster', 'set', 'replication', '3');
    assert.equal(set.code, 0, set.stderr);
    const setting = JSON.parse(set.stdout) as { replication: number; effective_replication: number };
    assert.deepEqual([setting.replication, setting.effective_replication], [3, 3]);
    const usage = await dfs(cluster.nodes[0].url, 'cluster', 'set', 'replication', 'three');
    assert.equal(usage.code, 2, usage.stderr);
    for (let i = 0; i < 12; i++) {
      const body = randomBytes(chunkSize * 3 + 1000 * i);
      const response = await fetch(`${cluster.nodes[i % 5].url}/files/placed/f${i}`, { method: 'PUT', body });
      assert.equal(response.status, 201);
      const json = (await response.json()) as { chunks: string[] };
      files.set(`placed/f${i}`, { hash: sha256(body), chunks: json.chunks });
    }
    const report = await fsckClean('fsck clean at replication 3');
    assert.equal(report.replication, 3);
    const expected = new Set([...files.values()].flatMap((f) => f.chunks)).size;
    assert.equal(report.chunks, expected);
    for (const [hash, count] of copiesOnDisk()) assert.equal(count, 3, `chunk ${hash} on ${count} nodes`);
    const cli = await dfs(cluster.nodes[3].url, 'fsck');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^clean: \d+ chunks at replication 3/);
    const cliJson = await dfs(cluster.nodes[3].url, '--json', 'fsck');
    assert.equal((JSON.parse(cliJson.stdout) as FsckReport).chunks, report.chunks);
    // Each node stores about 3/5 of the chunks, not all of them.
    for (const member of report.members) assert.ok((member.chunks ?? 0) < report.chunks, `${member.id} holds ${member.chunks} of ${report.chunks}`);
    await readsBackEverywhere();
  });

  test('the setting changes live: 3 → 2 → 3', async () => {
    assert.equal((await call(cluster.nodes[1], 'PUT', '/admin/settings/replication', { replication: 2 })).status, 200);
    await fsckClean('fsck clean at replication 2');
    await waitFor('2 copies of each chunk on disk', async (see) => {
      const counts = [...copiesOnDisk().values()];
      see(counts);
      return counts.every((c) => c === 2) ? true : undefined;
    }, 90_000);
    await readsBackEverywhere();
    assert.equal((await call(cluster.nodes[2], 'PUT', '/admin/settings/replication', { replication: 3 })).status, 200);
    await fsckClean('fsck clean at replication 3 again');
    await waitFor('3 copies of each chunk on disk', async (see) => {
      const counts = [...copiesOnDisk().values()];
      see(counts);
      return counts.every((c) => c === 3) ? true : undefined;
    }, 90_000);
    const bad = await call<{ error: { code: string } }>(cluster.nodes[0], 'PUT', '/admin/settings/replication', { replication: 0 });
    assert.deepEqual([bad.status, bad.json.error.code], [400, 'bad_request']);
  });

  test('chunks deleted or corrupted behind the nodes\u2019 backs are found and repaired', async () => {
    const [firstFile] = files.values();
    const hash = firstFile.chunks[0];
    const holdersOnDisk = running().filter((n) => existsSync(blobPath(n, hash)));
    assert.equal(holdersOnDisk.length, 3);
    // The corrupt copy first, alone: nothing else reads it, so the scrubber (every 300 ms here) is
    // what must find it. (Had a copy been missing too, the repair's fetch could have met the
    // corrupt one first: a verified read quarantines it as well.)
    writeFileSync(blobPath(holdersOnDisk[1], hash), randomBytes(chunkSize));
    await waitFor('the scrubber finds the corrupt copy', async (see) => {
      const scrub = (await call<{ scrub: { corrupt_found: number; last_pass: unknown } }>(holdersOnDisk[1], 'GET', '/status')).json.scrub;
      see(scrub);
      return scrub.corrupt_found >= 1 && scrub.last_pass !== null ? true : undefined;
    }, 90_000);
    rmSync(blobPath(holdersOnDisk[0], hash));
    // (fsck may never catch the damage before it is repaired.)
    await fsckClean('fsck clean after repair');
    await waitFor('the deleted copy and the corrupt one replaced by good ones', async () => {
      const good = holdersOnDisk.filter((n) => existsSync(blobPath(n, hash)) && sha256(readFileSync(blobPath(n, hash))) === hash);
      return good.length === 3 ? true : undefined;
    }, 90_000);
    await readsBackEverywhere();
  });

  test('a node dead past --dead-after, then removed for good: its chunks are re-made on the others', async () => {
    const victim = cluster.nodes[4];
    await cluster.stopNode(victim.id, 'SIGKILL');
    // Marked down by the leader after --dead-after (3 s here): placement skips it, fsck is clean
    // again with it unreachable, and every chunk has 3 copies among the 4 left.
    const down = await fsckClean('fsck clean with the dead node marked down');
    assert.ok(down.members.some((m) => m.id === victim.id && !m.reachable && m.down), JSON.stringify(down.members));
    await waitFor('3 copies of each chunk on the 4 alive', async (see) => {
      const counts = [...copiesOnDisk().values()];
      see(counts);
      return counts.every((c) => c === 3) ? true : undefined;
    }, 90_000);
    const removed = await call(cluster.nodes[0], 'DELETE', `/admin/members/${victim.id}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.json));
    const report = await fsckClean('fsck clean after the removal');
    assert.equal(report.members.length, 4);
    await waitFor('3 copies of each chunk on the 4 left', async (see) => {
      const counts = [...copiesOnDisk().values()];
      see(counts);
      return counts.every((c) => c === 3) ? true : undefined;
    }, 90_000);
    await readsBackEverywhere();
  });

  test('a new node receives its share', async () => {
    await cluster.addNode('n6', cluster.nodes[0].url);
    // It joined without --learner: it asks to be promoted once it holds its share.
    await waitFor('n6 a voter', async () => {
      const status = (await call<{ nodes: { id: string; voter: boolean }[] }>(cluster.nodes[0], 'GET', '/status')).json;
      return status.nodes.some((n) => n.id === 'n6' && n.voter) ? true : undefined;
    }, 90_000);
    const report = await fsckClean('fsck clean with n6', 5);
    const n6 = report.members.find((m) => m.id === 'n6');
    assert.ok(n6 !== undefined && (n6.chunks ?? 0) > 0, `n6 stores its share: ${JSON.stringify(report.members)}`);
    await waitFor('3 copies of each chunk', async (see) => {
      const counts = [...copiesOnDisk().values()];
      see(counts);
      return counts.every((c) => c === 3) ? true : undefined;
    }, 90_000);
    await readsBackEverywhere();
  });
});
