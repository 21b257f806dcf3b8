// Durability on real processes: kill -9 of the leader while clients upload (to the leader and to
// followers), with and without the restarted node's log position compacted away; and uploads cut
// off mid-body. DESIGN.md, "Write path" and "Guarantees": an acknowledged write survives the loss
// of a minority, kill -9 included; a body that ends early leaves no file and no version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { sleep } from '../support/cluster.ts';
import { StorageCluster } from '../support/storage-cluster.ts';
import { blobPath, nodeStatus, snapshotFilesWritten, snapshotIndex } from '../support/node-probes.ts';
import type { NodeStatus } from '../support/node-probes.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const KiB = 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface FileJson {
  name: string;
  size: number;
  etag: string;
  version: number;
  chunks: string[];
}
interface ListPage {
  files: { name: string; size: number; etag: string; version: number }[];
  next: string | null;
}

/** A read as a client makes it: a 503 (an election under way) is retried after a pause. */
async function readRetrying(url: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await request(url, { headersTimeout: 30_000, bodyTimeout: 30_000 });
    if (res.statusCode !== 503 || Date.now() > deadline) return res;
    await res.body.dump();
    await sleep(200);
  }
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await readRetrying(url);
  return { status: res.statusCode, body: (await res.body.json()) as T };
}


/** The leader that every given live node agrees on. */
async function agreedLeader(cluster: StorageCluster, among: readonly StorageNodeHandle[], timeoutMs = 20_000): Promise<StorageNodeHandle> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(among.map(nodeStatus));
    const leaderId = statuses[0]?.leader_id ?? null;
    if (leaderId !== null && statuses.every((s) => s !== null && s.leader_id === leaderId)) {
      const leader = cluster.node(leaderId);
      const own = await nodeStatus(leader);
      if (own?.is_leader === true) return leader;
    }
    if (Date.now() > deadline) throw new Error(`no agreed leader among ${among.map((n) => n.id)}: ${JSON.stringify(statuses.map((s) => s && [s.id, s.state, s.leader_id, s.term]))}`);
    await sleep(100);
  }
}

/** Streams a GET and hashes it. */
async function fetchHash(url: string): Promise<{ status: number; sha: string; length: number; node: string | undefined }> {
  const res = await readRetrying(url);
  const hash = createHash('sha256');
  let length = 0;
  for await (const piece of res.body) {
    hash.update(piece as Buffer);
    length += (piece as Buffer).length;
  }
  return { status: res.statusCode, sha: hash.digest('hex'), length, node: res.headers['x-dfs-node'] as string | undefined };
}

async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

async function listAll(node: StorageNodeHandle, prefix: string): Promise<ListPage['files']> {
  const files: ListPage['files'] = [];
  let after: string | null = null;
  for (;;) {
    const query = new URLSearchParams({ prefix, limit: '1000' });
    if (after !== null) query.set('after', after);
    const { status: code, body } = await getJson<ListPage>(`${node.url}/files?${query}`);
    assert.equal(code, 200);
    files.push(...body.files);
    if (body.next === null) return files;
    after = body.next;
  }
}

interface Attempt {
  readonly name: string;
  readonly sha: string;
  readonly size: number;
  readonly via: string;
  status?: number;
  error?: string;
  ackedAt?: number;
  file?: FileJson;
}

/** Records node processes that exit without being killed by the test (we only ever send SIGKILL). */
class CrashWatch {
  readonly crashes: string[] = [];

  watch(...nodes: StorageNodeHandle[]): void {
    for (const node of nodes) {
      node.child?.once('exit', (code, signal) => {
        if (signal === null) this.crashes.push(`${node.id} exited by itself with code ${code} (see its stderr above)`);
      });
    }
  }

  assertNone(): void {
    assert.deepEqual(this.crashes, [], 'a node process crashed');
  }
}

/** Clients uploading files of a few hundred KB with unique content, round-robin over every node. */
class Uploads {
  readonly attempts = new Map<string, Attempt>();
  readonly problems: string[] = [];
  #stopped = false;
  #running: Promise<void>[] = [];

  constructor(
    readonly cluster: StorageCluster,
    readonly prefix: string,
    readonly crashWatch: CrashWatch,
  ) {}

  start(workers: number): void {
    for (let w = 0; w < workers; w++) this.#running.push(this.#worker(w));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  acked(): Attempt[] {
    return [...this.attempts.values()].filter((a) => a.ackedAt !== undefined);
  }

  async waitAcked(predicate: (acked: Attempt[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.acked())) {
      this.crashWatch.assertNone();
      if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms (${this.acked().length} acked, ${this.attempts.size} attempts)`);
      await sleep(50);
    }
  }

  /** One upload; true if it was acknowledged. */
  async put(node: StorageNodeHandle, name: string, data: Buffer): Promise<boolean> {
    const attempt: Attempt = { name, sha: sha256(data), size: data.length, via: node.id };
    this.attempts.set(name, attempt);
    try {
      const res = await request(`${node.url}/files/${name}`, { method: 'PUT', body: data, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const text = await res.body.text();
      attempt.status = res.statusCode;
      if (res.statusCode !== 201) {
        attempt.error = text.slice(0, 200);
        return false;
      }
      const file = JSON.parse(text) as FileJson;
      if (file.etag !== attempt.sha || file.size !== attempt.size || file.name !== name) this.problems.push(`${name}: the 201 describes other content: ${text.slice(0, 200)}`);
      attempt.file = file;
      attempt.ackedAt = Date.now();
      return true;
    } catch (err) {
      attempt.error = (err as Error).message;
      return false;
    }
  }

  async #worker(w: number): Promise<void> {
    for (let n = 0; !this.#stopped; n++) {
      const node = this.cluster.nodes[(w + n) % this.cluster.nodes.length];
      const data = randomBytes(100 * KiB + randomInt(300 * KiB));
      const ok = await this.put(node, `${this.prefix}/w${w}-${n}.bin`, data);
      if (!ok) await sleep(100);
    }
  }
}

/** Every acknowledged file is served byte-exact by `node`, which says it served it. */
async function checkServes(node: StorageNodeHandle, acked: readonly Attempt[], query = ''): Promise<void> {
  const wrong: string[] = [];
  await pool(acked, 6, async (a) => {
    const got = await fetchHash(`${node.url}/files/${a.name}${query}`);
    if (got.status !== 200 || got.sha !== a.sha || got.length !== a.size || got.node !== node.id) {
      wrong.push(`${a.name}: status ${got.status}, ${got.length}/${a.size} bytes, sha ${got.sha === a.sha ? 'ok' : 'WRONG'}, served by ${got.node}`);
    }
  });
  assert.deepEqual(wrong, [], `${node.id} did not serve ${wrong.length} of ${acked.length} acknowledged files`);
}

/** Every listed file is one a client sent, with that content; every acknowledged one is listed. */
async function checkListing(node: StorageNodeHandle, uploads: Uploads): Promise<void> {
  const listed = await listAll(node, `${uploads.prefix}/`);
  const names = new Set(listed.map((f) => f.name));
  for (const f of listed) {
    const attempt = uploads.attempts.get(f.name);
    assert.ok(attempt !== undefined, `${node.id} lists ${f.name}, which no client sent`);
    assert.equal(f.etag, attempt.sha, `${node.id}: ${f.name} has content no client sent`);
    assert.equal(f.size, attempt.size);
    assert.equal(f.version, 1);
  }
  const missing = uploads.acked().filter((a) => !names.has(a.name));
  assert.deepEqual(missing.map((a) => a.name), [], `${node.id} does not list acknowledged files`);
}

/** Polls until `node` has the leader's term and has applied what the leader had committed. */
async function waitCaughtUp(cluster: StorageCluster, node: StorageNodeHandle, timeoutMs = 30_000): Promise<{ leader: NodeStatus; node: NodeStatus }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const leader = await agreedLeader(cluster, cluster.nodes.filter((n) => n.child !== null), Math.max(1000, deadline - Date.now()));
    const leaderStatus = await nodeStatus(leader);
    const own = await nodeStatus(node);
    if (leaderStatus !== null && own !== null) {
      last = `leader ${leader.id} term ${leaderStatus.term} commit ${leaderStatus.commit_index}; ${node.id} term ${own.term} applied ${own.applied_index}`;
      if (own.term === leaderStatus.term && own.leader_id === leader.id && own.applied_index >= leaderStatus.commit_index) return { leader: leaderStatus, node: own };
    }
    if (Date.now() > deadline) throw new Error(`${node.id} did not catch up in ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}


/**
 * Background repair may take a while on a loaded machine: waited for with a generous deadline,
 * and a failure says how far it got and what the node's repair metrics showed.
 */
const chunksHeldTimeoutMs = 90_000;

/** DESIGN step 4: a replica fetches the chunks of applied entries it lacks, in the background. */
async function waitChunksHeld(node: StorageNodeHandle, acked: readonly Attempt[], timeoutMs: number): Promise<void> {
  const hashes = new Set(acked.flatMap((a) => a.file?.chunks ?? []));
  const started = Date.now();
  const deadline = started + timeoutMs;
  let missing: string[] = [];
  const seen: string[] = [];
  for (;;) {
    missing = [...hashes].filter((h) => !existsSync(blobPath(node, h)));
    if (seen.length === 0 || !seen[seen.length - 1]?.endsWith(` ${missing.length} missing`)) seen.push(`${Date.now() - started} ms: ${missing.length} missing`);
    if (missing.length === 0 || Date.now() > deadline) break;
    await sleep(200);
  }
  if (missing.length === 0) return;
  const metrics = await fetch(`${node.url}/metrics`).then((r) => r.text(), (err: unknown) => `metrics unavailable: ${String(err)}`);
  const repair = metrics.split('\n').filter((line) => /^dfs_(repair_queue_chunks|chunk_repairs_total|chunk_fetches_total)/.test(line));
  assert.fail(`${node.id} still lacks ${missing.length} of ${hashes.size} chunks of acknowledged files ${timeoutMs} ms after catching up; progress: ${seen.join(', ')}; repair metrics: ${repair.join('; ')}`);
}


async function killAll(cluster: StorageCluster | undefined): Promise<void> {
  if (cluster === undefined) return;
  await Promise.all(cluster.nodes.map((n) => cluster.stopNode(n.id, 'SIGKILL')));
  await cluster.stopAll();
}

type CutMode = 'destroy, Content-Length' | 'destroy, chunked' | 'half-close, short of Content-Length' | 'half-close, chunked without the last chunk';

/** Sends a PUT whose body never completes; resolves with whatever the server answered. */
async function cutOffUpload(node: StorageNodeHandle, name: string, mode: CutMode): Promise<string> {
  const socket = connect(Number(new URL(node.url).port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const part = randomBytes(150_000); // two full 64 KiB chunks and some: replication has started
  const chunked = mode.includes('chunked');
  socket.write(`PUT /files/${name} HTTP/1.1\r\nHost: 127.0.0.1\r\n${chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 300000'}\r\n\r\n`);
  if (chunked) socket.write(`${part.length.toString(16)}\r\n`);
  socket.write(part);
  if (chunked) socket.write('\r\n');
  await sleep(300);
  if (mode.startsWith('destroy')) socket.destroy();
  else socket.end();
  await Promise.race([closed, sleep(5000)]);
  socket.destroy();
  return answer;
}

/** Sends a whole PUT, then hangs up before the answer, after `waitMs`. */
async function hangUpAfterBody(node: StorageNodeHandle, name: string, data: Buffer, waitMs: number): Promise<void> {
  const socket = connect(Number(new URL(node.url).port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.write(`PUT /files/${name} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${data.length}\r\n\r\n`);
  socket.write(data);
  await sleep(waitMs);
  socket.destroy();
}

describe('uploads cut off mid-body, then kill -9 of the leader during uploads (3 real nodes)', () => {
  let cluster: StorageCluster;
  let uploads: Uploads;
  let killed: StorageNodeHandle;
  let survivors: StorageNodeHandle[];
  const crashes = new CrashWatch();

  before(async () => {
    cluster = await StorageCluster.start({ flags: ['--chunk-size', '64KiB'] });
  });
  after(() => killAll(cluster));

  describe('a cut-off upload leaves no file and no version, on the leader and via a follower', () => {
    const modes: CutMode[] = ['destroy, Content-Length', 'destroy, chunked', 'half-close, short of Content-Length', 'half-close, chunked without the last chunk'];
    const cut: string[] = [];
    let existing: FileJson;
    const existingData = randomBytes(100_000);

    before(async () => {
      const leader = await agreedLeader(cluster, cluster.nodes);
      const follower = cluster.nodes.find((n) => n !== leader)!;
      const put = await request(`${leader.url}/files/cut/existing.bin`, { method: 'PUT', body: existingData });
      assert.equal(put.statusCode, 201);
      existing = (await put.body.json()) as FileJson;
      const cases: [string, StorageNodeHandle, string, CutMode][] = [];
      for (const [role, node] of [['leader', leader], ['follower', follower]] as const) {
        for (const [i, mode] of modes.entries()) cases.push([role, node, `cut/${role}-${i}.bin`, mode]);
      }
      cut.push(...cases.map(([, , name]) => name));
      // An overwrite cut short must leave the current version alone.
      cases.push(['leader', leader, 'cut/existing.bin', 'destroy, Content-Length'], ['follower', follower, 'cut/existing.bin', 'half-close, chunked without the last chunk']);
      await Promise.all(
        cases.map(async ([role, node, name, mode]) => {
          const answer = await cutOffUpload(node, name, mode);
          assert.doesNotMatch(answer, /^HTTP\/1\.1 2\d\d/, `${role}, ${mode}: answered ${answer.slice(0, 100)}`);
        }),
      );
      await sleep(1500); // anything a cut-off upload wrongly committed would have shown up by now
    });

    it('no cut-off name has a file or a version, on any node', async () => {
      for (const node of cluster.nodes) {
        for (const name of cut) {
          const got = await fetchHash(`${node.url}/files/${name}`);
          assert.equal(got.status, 404, `${node.id} serves ${name}`);
          const versions = await getJson<{ versions?: unknown[] }>(`${node.url}/files/${name}?versions`);
          assert.ok(versions.status === 404 || (versions.body.versions ?? []).length === 0, `${node.id} has versions of ${name}: ${JSON.stringify(versions.body)}`);
        }
      }
    });

    it('the overwritten file keeps its one version and its content; the listing holds only it', async () => {
      for (const node of cluster.nodes) {
        const got = await fetchHash(`${node.url}/files/cut/existing.bin`);
        assert.equal(got.status, 200);
        assert.equal(got.sha, sha256(existingData));
        const versions = await getJson<{ versions: FileJson[] }>(`${node.url}/files/cut/existing.bin?versions`);
        assert.deepEqual(versions.body.versions.map((v) => v.version), [existing.version]);
        const listed = await listAll(node, 'cut/');
        assert.deepEqual(listed.map((f) => [f.name, f.version, f.etag]), [['cut/existing.bin', 1, existing.etag]]);
      }
    });
  });

  describe('a client that hangs up before the answer', () => {
    it('crashes no node, via a follower or on the leader; the file is then either absent or byte-exact', async () => {
      const watch = new CrashWatch();
      watch.watch(...cluster.nodes);
      const leader = await agreedLeader(cluster, cluster.nodes);
      const follower = cluster.nodes.find((n) => n !== leader)!;
      const sent = new Map<string, string>();
      try {
        for (let i = 0; i < 20; i++) {
          watch.assertNone();
          const name = `hangup/${i}.bin`;
          const data = randomBytes(1000 + i * 5000);
          sent.set(name, sha256(data));
          await hangUpAfterBody(i % 2 === 0 ? follower : leader, name, data, (i % 5) * 5);
          await sleep(100);
        }
        await sleep(1000);
        watch.assertNone();
        for (const node of cluster.nodes) assert.equal((await getJson<{ ok: boolean }>(`${node.url}/health`)).status, 200);
        for (const [name, sha] of sent) {
          const got = await fetchHash(`${leader.url}/files/${name}`);
          assert.ok(got.status === 404 || (got.status === 200 && got.sha === sha), `${name}: ${got.status}, sha ${got.sha === sha ? 'ok' : 'WRONG'}`);
        }
      } finally {
        // Bring back whatever crashed, so that the tests after this one start from 3 nodes.
        const crashed = cluster.nodes.filter((n) => n.child === null);
        for (const node of crashed) cluster.startNode(node.id);
        if (crashed.length > 0) await cluster.waitReady();
      }
    });
  });

  describe('kill -9 of the leader while clients upload', () => {
    it('uploads go on being acknowledged around the kill', async () => {
      crashes.watch(...cluster.nodes);
      uploads = new Uploads(cluster, 'dur', crashes);
      uploads.start(8);
      let killTime = Infinity;
      try {
        await uploads.waitAcked((a) => a.length >= 12, 30_000, 'acks before the kill');
        killed = await agreedLeader(cluster, cluster.nodes);
        killTime = Date.now();
        await cluster.stopNode(killed.id, 'SIGKILL');
        survivors = cluster.nodes.filter((n) => n !== killed);
        await uploads.waitAcked((a) => a.filter((x) => x.ackedAt! > killTime).length >= 12, 30_000, 'acks after the kill');
      } finally {
        await uploads.stop();
      }
      crashes.assertNone();
    assert.deepEqual(uploads.problems, []);
      const beforeKill = uploads.acked().filter((a) => a.ackedAt! <= killTime);
      assert.ok(beforeKill.some((a) => a.via === killed.id), 'some uploads to the leader were acknowledged before the kill');
      assert.ok(beforeKill.some((a) => a.via !== killed.id), 'some uploads through followers were acknowledged before the kill');
    });

    it('every acknowledged file is served byte-exact by every survivor', async () => {
      await agreedLeader(cluster, survivors);
      for (const node of survivors) await checkServes(node, uploads.acked());
    });

    it('every listed file is one a client sent, byte-exact; every acknowledged file is listed', async () => {
      for (const node of survivors) await checkListing(node, uploads);
    });

    it('the killed node restarts and catches up (term, applied index)', async () => {
      cluster.startNode(killed.id);
      crashes.watch(killed);
      await waitCaughtUp(cluster, killed);
    });

    it('the restarted node fetches the chunks it missed, in the background', async () => {
      await waitChunksHeld(killed, uploads.acked(), chunksHeldTimeoutMs);
    });

    it('the restarted node serves every acknowledged file byte-exact (linearizable and local reads)', async () => {
      await checkServes(killed, uploads.acked());
      await checkServes(killed, uploads.acked(), '?consistency=local');
      await checkListing(killed, uploads);
      crashes.assertNone();
    });
  });
});

describe('kill -9 of the leader; the restarted node catches up through InstallSnapshot (--snapshot-entries 20)', () => {
  const snapshotEntries = 20;
  let cluster: StorageCluster;
  let uploads: Uploads;
  let killed: StorageNodeHandle;
  let survivors: StorageNodeHandle[];
  const crashes = new CrashWatch();
  /** At least the last index of the killed node's log. */
  let killedLastIndexBound = 0;
  let leaderSnapshotAtRestart = 0;

  before(async () => {
    cluster = await StorageCluster.start({ flags: ['--chunk-size', '64KiB', '--snapshot-entries', String(snapshotEntries)] });
    crashes.watch(...cluster.nodes);
  });
  after(() => killAll(cluster));

  it('uploads go on being acknowledged around the kill', async () => {
    uploads = new Uploads(cluster, 'snap', crashes);
    uploads.start(8);
    try {
      await uploads.waitAcked((a) => a.length >= 12, 30_000, 'acks before the kill');
      killed = await agreedLeader(cluster, cluster.nodes);
      const before = await nodeStatus(killed);
      assert.ok(before !== null);
      const killTime = Date.now();
      await cluster.stopNode(killed.id, 'SIGKILL');
      // Its own match index is its last log index; a few more entries may have been appended
      // between the status and the kill (each needs an upload to finish): a wide margin.
      killedLastIndexBound = (before.nodes.find((n) => n.id === killed.id)?.match_index ?? before.commit_index) + 50;
      survivors = cluster.nodes.filter((n) => n !== killed);
      await uploads.waitAcked((a) => a.filter((x) => x.ackedAt! > killTime).length >= 12, 30_000, 'acks after the kill');
    } finally {
      await uploads.stop();
    }
    crashes.assertNone();
    assert.deepEqual(uploads.problems, []);
  });

  it('while it is down, the leader compacts its log past the killed node\'s last entry', async () => {
    const leader = await agreedLeader(cluster, survivors);
    const deadline = Date.now() + 30_000;
    let n = 0;
    for (let at = await snapshotIndex(leader); at <= killedLastIndexBound; at = await snapshotIndex(leader)) {
      assert.ok(Date.now() < deadline, `leader log compacted at ${at}, needs > ${killedLastIndexBound}`);
      const batch = Array.from({ length: 16 }, () => n++);
      await pool(batch, 8, async (i) => {
        await uploads.put(survivors[i % 2], `snap/small-${i}.bin`, randomBytes(1000 + randomInt(3000)));
      });
    }
    leaderSnapshotAtRestart = await snapshotIndex(leader);
    assert.ok(leaderSnapshotAtRestart > killedLastIndexBound);
  });

  it('every acknowledged file is served byte-exact by every survivor', async () => {
    for (const node of survivors) await checkServes(node, uploads.acked());
    for (const node of survivors) await checkListing(node, uploads);
  });

  it('the killed node restarts and reaches the leader\'s term and applied index through InstallSnapshot', async () => {
    cluster.startNode(killed.id);
    crashes.watch(killed);
    const { leader, node } = await waitCaughtUp(cluster, killed);
    assert.equal(node.term, leader.term);
    assert.ok(node.applied_index >= leaderSnapshotAtRestart);
    // Its log ended before the leader's first entry, so only an installed snapshot (or one it
    // took after installing it) can be here.
    const killedAt = await snapshotIndex(killed);
    assert.ok(killedAt >= leaderSnapshotAtRestart, `${killed.id} has no snapshot at or past ${leaderSnapshotAtRestart} (has ${killedAt})`);
    // The leaders cut their logs in place and wrote a snapshot file only for this follower.
    let files = 0;
    for (const survivor of survivors) files += await snapshotFilesWritten(survivor);
    assert.ok(files >= 1, `no survivor wrote a snapshot file for ${killed.id}`);
  });

  it('the restarted node fetches the chunks it missed, in the background', async () => {
    await waitChunksHeld(killed, uploads.acked(), chunksHeldTimeoutMs);
  });

  it('the restarted node serves every acknowledged file byte-exact, those written while it was down included', async () => {
    await checkServes(killed, uploads.acked());
    await checkServes(killed, uploads.acked(), '?consistency=local');
    await checkListing(killed, uploads);
    crashes.assertNone();
  });
});
