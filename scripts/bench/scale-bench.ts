// `scale`: a 3-node cluster (default settings) holding many files. Set-up writes them straight to
// the leader at high concurrency; most are empty (metadata only) and every `contentEvery`-th has
// 4 KiB of its own, so the cluster also holds that many distinct chunks. Then:
//   - listing one page (1000 names): first page and one from the middle, from the leader and
//     through the gateway; and walking every name through the gateway;
//   - a follower's restart (SIGTERM, and kill -9) until /ready;
//   - a follower wiped (kill -9, data directory removed) and started again: until /ready, until
//     its metadata has caught up (snapshot + log) and until it holds every chunk again.
import fs from 'node:fs';
import path from 'node:path';
import { GatewayCluster } from '../../test/support/gateway-cluster.ts';
import { errorText, percentile, round, sleep } from './common.ts';
import type { Table } from './common.ts';
import { defaultNodeFlags } from './data-path-bench.ts';
import { keepAlivePool, putFile } from './load.ts';
import { seededBuffer } from './seeded-bytes.ts';

export interface ScaleSettings {
  readonly files: number;
  /** Every this many files has 4 KiB of content of its own; the rest are empty. */
  readonly contentEvery: number;
  readonly setupConcurrency: number;
  readonly listTries: number;
  readonly restartSignals: readonly NodeJS.Signals[];
  readonly catchUpTimeoutMs: number;
  /** The wiped node's catch-up is given up when it makes no progress for this long. */
  readonly stallMs: number;
}

const contentBytes = 4096;
const pageLimit = 1000;

function fileName(i: number): string {
  return `scale/${String(Math.floor(i / 1000)).padStart(3, '0')}/${String(i).padStart(6, '0')}`;
}

function chunkPath(dataDir: string, hash: string): string {
  return path.join(dataDir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
}

async function ok(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.ok;
    },
    () => false,
  );
}

async function statusOf(url: string): Promise<{ applied_index: number; commit_index: number; files: number; is_leader: boolean } | null> {
  return fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => (r.ok ? (r.json() as Promise<{ applied_index: number; commit_index: number; files: number; is_leader: boolean }>) : null),
    () => null,
  );
}

function largestSnapshotBytes(dataDir: string): number | null {
  try {
    const dir = path.join(dataDir, 'snapshots');
    const sizes = fs.readdirSync(dir).filter((f) => f.endsWith('.snap')).map((f) => fs.statSync(path.join(dir, f)).size);
    return sizes.length === 0 ? null : Math.max(...sizes);
  } catch {
    return null;
  }
}

async function metricValue(url: string, pattern: RegExp): Promise<number | null> {
  const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text(), () => '');
  const match = pattern.exec(text);
  return match === null ? null : Number(match[1]);
}

export async function benchScale(settings: ScaleSettings, table: Table): Promise<Record<string, unknown>> {
  const cluster = await GatewayCluster.start({ storage: { flags: defaultNodeFlags } });
  try {
    const result: Record<string, unknown> = { files: settings.files, files_with_content: 0, content_bytes: contentBytes };
    const leaderId = await cluster.waitForLeader();
    const leader = cluster.storage.node(leaderId);

    // Set-up: every file straight to the leader, retried a few times if a write fails.
    const chunks = new Set<string>();
    let withContent = 0;
    let retried = 0;
    const pool = keepAlivePool(leader.url, settings.setupConcurrency);
    const setupStarted = performance.now();
    try {
      let next = 0;
      await Promise.all(Array.from({ length: settings.setupConcurrency }, async () => {
        for (let i = next++; i < settings.files; i = next++) {
          const hasContent = i % settings.contentEvery === 0;
          const body = hasContent ? seededBuffer(`scale ${i}`, contentBytes) : new Uint8Array(0);
          for (let attempt = 1; ; attempt++) {
            try {
              const file = (await putFile(pool, `/files/${fileName(i)}`, body)) as { chunks: string[] };
              for (const hash of file.chunks) chunks.add(hash);
              break;
            } catch (err) {
              if (attempt >= 5) throw new Error(`set-up write ${i} failed ${attempt} times: ${errorText(err)}`);
              retried++;
              await sleep(200 * attempt);
            }
          }
          if (hasContent) withContent++;
        }
      }));
    } finally {
      await pool.close();
    }
    const setupMs = performance.now() - setupStarted;
    result.files_with_content = withContent;
    result.distinct_chunks = chunks.size;
    result.setup = { seconds: round(setupMs / 1000, 1), files_per_second: Math.round(settings.files / (setupMs / 1000)), concurrency: settings.setupConcurrency, retried_writes: retried };
    table.row('scale', `set-up: ${settings.files} files (${withContent} with 4 KiB), c${settings.setupConcurrency} to the leader`, `${Math.round(settings.files / (setupMs / 1000))} files/s (${round(setupMs / 1000, 1)} s)`);

    // Every node applied everything and holds every chunk before anything is measured.
    const settled = await (async () => {
      const deadline = performance.now() + 180_000;
      for (;;) {
        const statuses = await Promise.all(cluster.storage.nodes.map((n) => statusOf(n.url)));
        const lead = statuses.find((s) => s?.is_leader === true) ?? null;
        if (lead !== null && statuses.every((s) => s !== null && s.applied_index >= lead.commit_index && s.files === settings.files)) {
          const hashes = [...chunks];
          if (cluster.storage.nodes.every((n) => hashes.every((h) => fs.existsSync(chunkPath(n.dataDir, h))))) return true;
        }
        if (performance.now() > deadline) return false;
        await sleep(500);
      }
    })();
    result.settled_before_measuring = settled;

    result.list_page = await benchListing(cluster, leader.url, settings, table);
    result.restart = await benchRestart(cluster, settings, table);
    result.wiped_catch_up = await benchWipe(cluster, [...chunks].sort(), settings, table);
    return result;
  } finally {
    await cluster.stopAll();
  }
}

async function benchListing(cluster: GatewayCluster, leaderUrl: string, settings: ScaleSettings, table: Table) {
  const leaderPool = keepAlivePool(leaderUrl, 1);
  const gatewayPool = keepAlivePool(cluster.url, 1);
  const expectedPage = Math.min(pageLimit, settings.files);
  const listPage = async (pool: ReturnType<typeof keepAlivePool>, query: string): Promise<{ names: string[]; next: string | null }> => {
    const res = await pool.request({ method: 'GET', path: `/files?${query}` });
    if (res.statusCode !== 200) throw new Error(`GET /files?${query} answered ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
    const page = (await res.body.json()) as { files: Array<{ name: string }>; next: string | null };
    return { names: page.files.map((f) => f.name), next: page.next };
  };
  const timePages = async (pool: ReturnType<typeof keepAlivePool>, query: string, expected: number) => {
    const ms: number[] = [];
    await listPage(pool, query); // warm-up
    for (let i = 0; i < settings.listTries; i++) {
      const t0 = performance.now();
      const page = await listPage(pool, query);
      ms.push(performance.now() - t0);
      if (page.names.length !== expected) throw new Error(`GET /files?${query} gave ${page.names.length} names, expected ${expected}`);
    }
    ms.sort((a, b) => a - b);
    return { p50_ms: round(percentile(ms, 50), 1), p99_ms: round(percentile(ms, 99), 1), tries: ms.length };
  };
  try {
    const middleAfter = fileName(Math.floor(settings.files / 2));
    const middleExpected = Math.min(pageLimit, settings.files - Math.floor(settings.files / 2) - 1);
    const first = await timePages(leaderPool, `limit=${pageLimit}`, expectedPage);
    const middle = await timePages(leaderPool, `limit=${pageLimit}&after=${encodeURIComponent(middleAfter)}`, middleExpected);
    const viaGateway = await timePages(gatewayPool, `limit=${pageLimit}`, expectedPage);
    // Every name, a page at a time, through the gateway.
    const walkStarted = performance.now();
    let names = 0;
    let pages = 0;
    let after: string | null = null;
    do {
      const page = await listPage(gatewayPool, `limit=${pageLimit}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`);
      names += page.names.length;
      pages++;
      after = page.next;
      if (pages > settings.files) throw new Error('the listing does not end');
    } while (after !== null);
    const walkMs = performance.now() - walkStarted;
    if (names !== settings.files) throw new Error(`walking the listing gave ${names} names, expected ${settings.files}`);
    table.row('scale', `list a page of ${pageLimit}, first, from the leader`, `p50 ${first.p50_ms} ms, p99 ${first.p99_ms} ms`);
    table.row('scale', `list a page of ${pageLimit}, from the middle, from the leader`, `p50 ${middle.p50_ms} ms, p99 ${middle.p99_ms} ms`);
    table.row('scale', `list a page of ${pageLimit}, first, through the gateway`, `p50 ${viaGateway.p50_ms} ms, p99 ${viaGateway.p99_ms} ms`);
    table.row('scale', `list all ${settings.files} names through the gateway`, `${round(walkMs / 1000, 2)} s (${Math.round(names / (walkMs / 1000))} names/s)`);
    return {
      limit: pageLimit,
      consistency: 'linearizable (the default)',
      first_page_from_leader: first,
      middle_page_from_leader: middle,
      first_page_through_gateway: viaGateway,
      every_name_through_gateway: { pages, names, seconds: round(walkMs / 1000, 2) },
    };
  } finally {
    await leaderPool.close();
    await gatewayPool.close();
  }
}

/** Starts node `id` again and times /health and /ready, polling every 20 ms. */
async function timeStart(cluster: GatewayCluster, id: string, timeoutMs: number) {
  const node = cluster.storage.node(id);
  const t0 = performance.now();
  // Spawns at once; its own readiness wait (30 s) may give up on a slow catch-up: we poll on.
  const restarting = cluster.restartNode(id).catch((err: unknown) => err);
  let healthMs: number | null = null;
  let readyMs: number | null = null;
  const deadline = t0 + timeoutMs;
  while (performance.now() < deadline) {
    if (node.child === null) throw new Error(`node ${id} exited while starting`);
    if (healthMs === null && (await ok(`${node.url}/health`))) healthMs = performance.now() - t0;
    if (healthMs !== null && readyMs === null && (await ok(`${node.url}/ready`))) readyMs = performance.now() - t0;
    if (readyMs !== null) break;
    await sleep(20);
  }
  await restarting;
  return { t0, healthMs, readyMs };
}

async function benchRestart(cluster: GatewayCluster, settings: ScaleSettings, table: Table) {
  const tries: Array<{ signal: string; node: string; process_up_ms: number | null; ready_ms: number | null }> = [];
  for (const signal of settings.restartSignals) {
    const leaderId = await cluster.waitForLeader();
    const follower = cluster.storage.nodes.find((n) => n.id !== leaderId)!;
    await cluster.killNode(follower.id, signal);
    const t = await timeStart(cluster, follower.id, 120_000);
    tries.push({ signal, node: follower.id, process_up_ms: t.healthMs === null ? null : Math.round(t.healthMs), ready_ms: t.readyMs === null ? null : Math.round(t.readyMs) });
    const last = tries[tries.length - 1];
    table.row('scale', `follower restart after ${signal === 'SIGKILL' ? 'kill -9' : signal} to /ready`, last.ready_ms === null ? 'not ready in 120 s' : `${last.ready_ms} ms`, `process up (/health) at ${last.process_up_ms} ms`);
    await cluster.storage.waitReady(60_000);
  }
  return { node_is: 'a follower', what: 'from spawning the process to the first 200 from /ready (and from /health)', tries };
}

async function benchWipe(cluster: GatewayCluster, hashes: readonly string[], settings: ScaleSettings, table: Table) {
  const leaderId = await cluster.waitForLeader();
  const leader = cluster.storage.node(leaderId);
  const follower = cluster.storage.nodes.find((n) => n.id !== leaderId)!;
  const leaderStatus = await statusOf(leader.url);
  if (leaderStatus === null) throw new Error('the leader does not answer /status');
  await cluster.killNode(follower.id, 'SIGKILL');
  fs.rmSync(follower.dataDir, { recursive: true, force: true });
  // Chunks in hash order (the repair scan's order): check the missing ones, a few misses at a time.
  let missing = [...hashes];
  let chunksMs: number | null = null;
  const chunksHeld = () => {
    const still: string[] = [];
    let misses = 0;
    for (const hash of missing) {
      if (misses >= 64 || !fs.existsSync(chunkPath(follower.dataDir, hash))) {
        still.push(hash);
        misses++;
      }
    }
    missing = still;
    return missing.length === 0;
  };
  const t = await timeStart(cluster, follower.id, settings.catchUpTimeoutMs);
  // Then until the metadata has caught up and every chunk is back, giving up early when nothing
  // moves for `stallMs` (a node that does not catch up at all must not eat the whole run).
  const deadline = t.t0 + settings.catchUpTimeoutMs;
  let caughtUpMs: number | null = null;
  let lastApplied = -1;
  let lastMissing = missing.length;
  let lastProgress = performance.now();
  let stalled: string | null = null;
  let nextChunkCheck = 0;
  let appliedNow: number | null = null;
  let filesNow: number | null = null;
  while (performance.now() < deadline) {
    const now = performance.now();
    if (caughtUpMs === null) {
      const st = await statusOf(follower.url);
      if (st !== null) {
        appliedNow = st.applied_index;
        filesNow = st.files;
        if (st.applied_index !== lastApplied) {
          lastApplied = st.applied_index;
          lastProgress = now;
        }
        if (st.applied_index >= leaderStatus.commit_index && st.files === settings.files) caughtUpMs = performance.now() - t.t0;
      }
    }
    if (now >= nextChunkCheck) {
      nextChunkCheck = now + 250;
      if (chunksHeld() && chunksMs === null) chunksMs = performance.now() - t.t0;
      if (missing.length < lastMissing) {
        lastMissing = missing.length;
        lastProgress = now;
      }
    }
    if (caughtUpMs !== null && chunksMs !== null) break;
    if (now - lastProgress > settings.stallMs) {
      stalled = `no progress for ${settings.stallMs / 1000} s: applied index ${appliedNow} of ${leaderStatus.commit_index}, ${filesNow} of ${settings.files} files, ${missing.length} of ${hashes.length} chunks missing`;
      break;
    }
    await sleep(50);
  }
  const repaired = await metricValue(follower.url, /^dfs_chunk_repairs_total\{outcome="repaired"\} (\d+)/m);
  // The leader cuts its log in place and writes a snapshot file only for a follower that needs
  // one: this follower's, written during the catch-up timed above.
  const snapshotBytes = largestSnapshotBytes(leader.dataDir);
  const ms = (x: number | null) => (x === null ? null : Math.round(x));
  const s = (x: number | null) => (x === null ? (stalled !== null ? 'stuck' : `over ${settings.catchUpTimeoutMs / 1000} s`) : `${round(x / 1000, 2)} s`);
  table.row(
    'scale',
    `wiped follower: /ready / metadata caught up / every chunk (${hashes.length})`,
    `${s(t.readyMs)} / ${s(caughtUpMs)} / ${s(chunksMs)}`,
    stalled ?? `process up at ${s(t.healthMs)}; the snapshot file the leader wrote for it: ${snapshotBytes === null ? 'none' : `${round(snapshotBytes / 1024 / 1024, 1)} MiB`}`,
  );
  return {
    node: follower.id,
    leader_commit_index_at_wipe: leaderStatus.commit_index,
    leader_snapshot_bytes: snapshotBytes,
    process_up_ms: ms(t.healthMs),
    ready_ms: ms(t.readyMs),
    metadata_caught_up_ms: ms(caughtUpMs),
    every_chunk_ms: ms(chunksMs),
    chunks: hashes.length,
    chunks_missing_at_end: missing.length,
    chunks_repaired_metric: repaired,
    stalled,
    what: 'from spawning the wiped node: first 200 from /ready; applied index ≥ the leader\'s commit index at the wipe and every file listed; every chunk file present',
  };
}
