// Zones, draining and the disk high-water mark over real processes: 5 nodes in zones a/a/b/b/c
// at replication 3 keep each chunk's 3 copies in 3 zones (counted on disk); a drained node ends
// with no chunk file while every file reads back byte-exact and fsck is clean; undrained, it gets
// its share back; a node whose disk is past its --disk-high-water holds nothing new.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { blobPath } from '../support/node-probes.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';
import { waitFor } from '../support/wait-for.ts';

interface FsckReport {
  chunks: number;
  clean: boolean;
  under_replicated: number;
  misplaced: number;
  members: { id: string; reachable: boolean; chunks?: number; zone: string | null; draining: boolean; full: boolean }[];
}

interface MembersAnswer {
  members: { id: string; zone: string | null; draining: boolean; full: boolean; down: boolean; chunks?: number | null }[];
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const adminToken = randomBytes(12).toString('hex');
const chunkSize = 64 * 1024;
const zoneOf: Record<string, string> = { n1: 'a', n2: 'a', n3: 'b', n4: 'b', n5: 'c' };

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

describe('placement: zones, draining, disk high-water', () => {
  let cluster: StorageCluster;
  const files = new Map<string, { hash: string; chunks: string[] }>();
  const admin = () => ({ 'x-dfs-cluster-secret': cluster.secret });
  const running = () => cluster.nodes.filter((n) => n.child !== null);

  async function call<T>(node: StorageNodeHandle, method: string, path: string): Promise<{ status: number; json: T }> {
    const response = await fetch(`${node.url}${path}`, { method, headers: admin() });
    return { status: response.status, json: (await response.json()) as T };
  }

  async function fsckClean(what: string): Promise<FsckReport> {
    return waitFor(what, async (see) => {
      const report = (await call<FsckReport>(running()[0], 'GET', '/admin/fsck')).json;
      see(report);
      return report.clean ? report : undefined;
    }, 90_000);
  }

  async function writeFiles(prefix: string, count: number): Promise<string[]> {
    const written: string[] = [];
    for (let i = 0; i < count; i++) {
      const body = randomBytes(chunkSize * 3 + 777 * i);
      const name = `${prefix}/f${i}`;
      const response = await fetch(`${cluster.nodes[i % 5].url}/files/${name}`, { method: 'PUT', body });
      assert.equal(response.status, 201, await response.clone().text());
      const json = (await response.json()) as { chunks: string[] };
      files.set(name, { hash: sha256(body), chunks: json.chunks });
      written.push(...json.chunks);
    }
    return written;
  }

  const allChunks = () => [...new Set([...files.values()].flatMap((f) => f.chunks))];
  /** The running nodes that have `hash` on disk. */
  const onDisk = (hash: string) => running().filter((n) => existsSync(blobPath(n, hash))).map((n) => n.id);
  const chunksOn = (node: StorageNodeHandle) => allChunks().filter((hash) => existsSync(blobPath(node, hash))).length;

  /** Every chunk on exactly 3 nodes in 3 distinct zones; the offending chunks otherwise. */
  function zoneSpread(): string[] {
    return allChunks().flatMap((hash) => {
      const where = onDisk(hash);
      const zones = new Set(where.map((id) => zoneOf[id]));
      return where.length === 3 && zones.size === 3 ? [] : [`${hash.slice(0, 8)} on ${where.join(',')}`];
    });
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
    cluster = await StorageCluster.start({
      size: 5,
      flagsOf: (id) => ['--zone', zoneOf[id]],
      flags: ['--chunk-size', '64KiB', '--inline-max', '0', '--gc-interval-ms', '300', '--repair-concurrency', '8', '--admin-token', adminToken],
    });
  });
  after(async () => {
    await cluster?.stopAll();
  });

  test('zones a/a/b/b/c at replication 3: every chunk has its 3 copies in 3 zones', async () => {
    // Each node announces its --zone through the leader: the founders too.
    await waitFor('every member\u2019s zone replicated', async (see) => {
      const { members } = (await call<MembersAnswer>(cluster.nodes[2], 'GET', '/admin/members')).json;
      see(members);
      return members.every((m) => m.zone === zoneOf[m.id]) ? true : undefined;
    }, 30_000);
    await writeFiles('zoned', 10);
    const report = await fsckClean('fsck clean with zones');
    assert.equal(report.chunks, allChunks().length);
    assert.deepEqual(Object.fromEntries(report.members.map((m) => [m.id, m.zone])), zoneOf);
    await waitFor('each chunk on 3 zones on disk', async (see) => {
      const bad = zoneSpread();
      see(bad);
      return bad.length === 0 ? true : undefined;
    }, 60_000);
    // Zone c has one member: it holds every chunk.
    assert.equal(chunksOn(cluster.node('n5')), allChunks().length);
    const members = await dfs(cluster.nodes[0].url, 'members');
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, /cluster URL\s+zone\s+placement$/m);
    assert.match(members.stdout, /^n3\s.*\shttp:\S+\s+b$/m);
    await readsBackEverywhere();
  });

  test('a drained member ends with no chunk file; fsck is clean and every file reads back; undrained, it gets its share back', async () => {
    const n1 = cluster.node('n1');
    const before = chunksOn(n1);
    assert.ok(before > 0, 'n1 holds its share before the drain');
    const drained = await dfs(cluster.nodes[3].url, 'cluster', 'drain', 'n1');
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /n1 is draining/);
    await waitFor('n1 emptied', async (see) => {
      const left = chunksOn(n1);
      see({ left, spread: zoneSpread().slice(0, 5) });
      return left === 0 ? true : undefined;
    }, 90_000);
    await fsckClean('fsck clean with n1 drained');
    // Zone a has one holder left (n2): every chunk still spans 3 zones on 3 nodes.
    assert.deepEqual(zoneSpread(), []);
    await readsBackEverywhere();
    // The drain's progress as an operator sees it: 0 chunks left.
    await waitFor('dfs members says n1 drained', async (see) => {
      const out = await dfs(cluster.nodes[1].url, 'members');
      see(out);
      return /^n1\s.*drained \(0 chunks left\)/m.test(out.stdout) ? true : undefined;
    }, 30_000);
    const status = await waitFor('n1\u2019s /status shows the drain done', async (see) => {
      const json = (await call<{ draining: boolean; drain?: { chunks_left: number | null }; repair_queue: Record<string, unknown> }>(n1, 'GET', '/status')).json;
      see(json);
      return json.draining && json.drain?.chunks_left === 0 ? json : undefined;
    }, 30_000);
    assert.deepEqual(Object.keys(status.repair_queue).sort(), ['fewest_survivors', 'inFlight', 'lost_copy', 'queued', 'rebalance', 'waiting']);
    const dfsStatus = await dfs(cluster.nodes[0].url, 'status');
    assert.equal(dfsStatus.code, 0, dfsStatus.stderr);
    assert.match(dfsStatus.stdout, /^n1\s.*\sa\s+drained \(0 chunks left\)/m);

    const undrained = await dfs(cluster.nodes[0].url, 'cluster', 'undrain', 'n1');
    assert.equal(undrained.code, 0, undrained.stderr);
    await waitFor('n1 holds its share again', async (see) => {
      const spread = zoneSpread();
      see({ n1: chunksOn(n1), spread: spread.slice(0, 5) });
      return chunksOn(n1) > 0 && spread.length === 0 ? true : undefined;
    }, 90_000);
    await fsckClean('fsck clean after the undrain');
    await readsBackEverywhere();
  });

  test('refuses to drain a non-member, or below the replication setting', async () => {
    const unknown = await call<{ error: { code: string } }>(cluster.nodes[0], 'POST', '/admin/members/n9/drain');
    assert.deepEqual([unknown.status, unknown.json.error.code], [404, 'not_member']);
    assert.equal((await call(cluster.nodes[0], 'POST', '/admin/members/n1/drain')).status, 200);
    assert.equal((await call(cluster.nodes[0], 'POST', '/admin/members/n2/drain')).status, 200);
    // Three members would be left up and not draining: a third drain would leave two for three copies.
    const third = await call<{ error: { code: string } }>(cluster.nodes[0], 'POST', '/admin/members/n3/drain');
    assert.deepEqual([third.status, third.json.error.code], [409, 'too_few_members']);
    for (const id of ['n1', 'n2']) assert.equal((await call(cluster.nodes[0], 'POST', `/admin/members/${id}/undrain`)).status, 200);
    await fsckClean('fsck clean after the drains are undone');
  });

  test('a node past its --disk-high-water holds nothing new', async () => {
    // Any disk in use is above 1%: the leader marks n6 full, so it holds no chunk, even as the
    // only member of zone d (which would otherwise make it a holder of almost every chunk).
    const n6 = await cluster.addNode('n6', cluster.nodes[0].url, ['--zone', 'd', '--disk-high-water', '1']);
    await waitFor('n6 marked full', async (see) => {
      const { members } = (await call<MembersAnswer>(cluster.nodes[0], 'GET', '/admin/members')).json;
      const member = members.find((m) => m.id === 'n6');
      see(member);
      return member?.full === true && member.zone === 'd' ? true : undefined;
    }, 60_000);
    const fresh = await writeFiles('after-full', 6);
    const report = await fsckClean('fsck clean with n6 full');
    const n6Report = report.members.find((m) => m.id === 'n6');
    assert.ok(n6Report?.full === true, JSON.stringify(report.members));
    assert.deepEqual(fresh.filter((hash) => existsSync(blobPath(n6, hash))), [], 'no new chunk on n6');
    // Whatever it fetched before the leader marked it full moved off it again.
    await waitFor('n6 stores no chunk', async (see) => {
      const stored = (await call<FsckReport>(cluster.nodes[0], 'GET', '/admin/fsck')).json.members.find((m) => m.id === 'n6')?.chunks;
      see(stored);
      return stored === 0 ? true : undefined;
    }, 60_000);
    await readsBackEverywhere();
  });

  test('a removed member\u2019s placement settings are cleared (an id joined again starts afresh)', async () => {
    assert.equal((await call(cluster.nodes[0], 'DELETE', '/admin/members/n6')).status, 200);
    await waitFor('n6\u2019s full flag and zone cleared', async (see) => {
      const settings = (await call<{ full: string[]; zones: Record<string, string | null> }>(cluster.nodes[1], 'GET', '/admin/settings')).json;
      see(settings);
      return !settings.full.includes('n6') && !('n6' in settings.zones) ? true : undefined;
    }, 30_000);
    await fsckClean('fsck clean without n6');
  });
});
