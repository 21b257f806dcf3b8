// The sections that share one 3-node cluster with a gateway in front (default node settings):
//   upload       one big file through the gateway, against a plain Node server that hashes it and
//                writes three fsync'd copies on the same disk (scripts/bench/baseline-server.ts)
//   peak_rss     of each node and the gateway while `upload` and `download` run, and again while
//                a file of `rssLargeBytes` (4 GiB) goes up through the gateway and comes down from a
//                follower and through the gateway (scripts/bench/rss-bench.ts)
//   download     that file straight from a follower and through the gateway, against the plain
//                server streaming its copy
//   small_writes 4 KiB files at concurrency 1, 16 and 64, through the gateway and to the leader
//   small_reads  4 KiB files at concurrency 64: linearizable and local, one node, spread over the
//                three, and through the gateway
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { GatewayCluster } from '../../test/support/gateway-cluster.ts';
import { startBaselineServer } from './baseline-server.ts';
import type { BaselineServer } from './baseline-server.ts';
import { errorText, formatBytes, mbPerSecond, median, ratio, round, waitFor } from './common.ts';
import type { Table } from './common.ts';
import { closedLoop, getFile, keepAlivePool, putFile, statsJson, statsText } from './load.ts';
import type { LoadStats } from './load.ts';
import { RssSampler } from './rss-sampler.ts';
import type { PeakRss } from './rss-sampler.ts';
import { seededBuffer, seededBytes } from './seeded-bytes.ts';
import { benchLargeFileRss, gatewayRssLimitMiB, nodeRssLimitMiB, peakRssResult, processIds, sizeKey } from './rss-bench.ts';

export interface DataPathSettings {
  readonly uploadBytes: number;
  readonly uploadRounds: number;
  readonly downloadRounds: number;
  readonly smallWriteSeconds: number;
  /**
   * Load at concurrency 64 down each write path before its figures are taken (JIT): a fresh
   * process writes at about half its steady rate for its first seconds.
   */
  readonly smallWriteWarmUpSeconds: number;
  readonly smallReadSeconds: number;
  /** 4 KiB files written before the read runs. */
  readonly readFiles: number;
  /** Scratch directory on the repository's disk (the baseline server writes its copies here). */
  readonly dir: string;
  /** Size of the second peak_rss measurement (null: none); skipped with a reason when the disk is short. */
  readonly rssLargeBytes: number | null;
  /** The parts to run (peak_rss comes with upload; download needs the uploaded file). */
  readonly parts: ReadonlySet<'upload' | 'download' | 'small_writes' | 'small_reads'>;
}

/** A key per part that ran (upload brings peak_rss). */
export interface DataPathResults {
  upload?: unknown;
  download?: unknown;
  peak_rss?: unknown;
  small_writes?: unknown;
  small_reads?: unknown;
}

/** Node settings as shipped, except the test harness's fast tick, put back to the default. */
export const defaultNodeFlags = ['--tick-ms', '50'];
const smallBytes = 4096;
const round1 = (x: number) => round(x, 1);
const round2 = (x: number) => round(x, 2);
const transferTimeoutMs = 15 * 60_000;

interface Transfer {
  readonly ms: number;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly bytes: number;
}

/** PUT a seeded stream of `size` bytes; the time until the whole answer is in. */
export async function streamUpload(url: string, seed: string, size: number): Promise<Transfer> {
  const agent = new Agent({ connections: 1, headersTimeout: transferTimeoutMs, bodyTimeout: transferTimeoutMs });
  try {
    const t0 = performance.now();
    const res = await request(url, {
      method: 'PUT',
      dispatcher: agent,
      body: Readable.from(seededBytes(seed, size), { objectMode: false }),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    const text = await res.body.text();
    return { ms: performance.now() - t0, status: res.statusCode, headers: res.headers, text, bytes: size };
  } finally {
    await agent.close();
  }
}

/** GET, counting the bytes and dropping them; the time until the last byte. */
export async function streamDownload(url: string, headers: Record<string, string> = {}): Promise<Transfer> {
  const agent = new Agent({ connections: 1, headersTimeout: transferTimeoutMs, bodyTimeout: transferTimeoutMs });
  try {
    const t0 = performance.now();
    const res = await request(url, { method: 'GET', dispatcher: agent, headers });
    let bytes = 0;
    let text = '';
    if (res.statusCode === 200) for await (const piece of res.body) bytes += (piece as Buffer).length;
    else text = await res.body.text();
    return { ms: performance.now() - t0, status: res.statusCode, headers: res.headers, text, bytes };
  } finally {
    await agent.close();
  }
}

export function chunkPath(dataDir: string, hash: string): string {
  return path.join(dataDir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
}

async function waitAllApplied(cluster: GatewayCluster, timeoutMs: number): Promise<boolean> {
  return waitFor(async () => {
    const statuses = await cluster.nodeStatuses();
    const leader = statuses.find((s) => s.is_leader);
    return leader !== undefined && statuses.length === cluster.storage.nodes.length && statuses.every((s) => s.applied_index >= leader.commit_index);
  }, timeoutMs, 100);
}

interface UploadedFile {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  readonly chunks: readonly string[];
}

export async function benchDataPath(settings: DataPathSettings, table: Table): Promise<DataPathResults> {
  const results: DataPathResults = {};
  const parts = settings.parts;
  const cluster = await GatewayCluster.start({ storage: { flags: defaultNodeFlags } });
  let baseline: BaselineServer | null = null;
  try {
    if (parts.has('upload') || parts.has('download')) {
      baseline = await startBaselineServer(path.join(settings.dir, 'baseline'));
      let uploaded: UploadedFile | null = null;
      // Peak memory over the upload and the download together: a node's must not grow with the file.
      const sampler = new RssSampler(processIds(cluster, baseline));
      sampler.start(100);
      let peaks: Record<string, PeakRss> = {};
      try {
        try {
          const up = await benchUpload(cluster, baseline, settings, table);
          results.upload = up.upload;
          uploaded = up.file;
        } catch (err) {
          results.upload = { error: errorText(err) };
          table.row('upload', 'failed', errorText(err));
        }
        if (parts.has('download')) {
          try {
            if (uploaded === null) throw new Error('no uploaded file to download');
            results.download = await benchDownload(cluster, baseline, uploaded, settings, table);
          } catch (err) {
            results.download = { error: errorText(err) };
            table.row('download', 'failed', errorText(err));
          }
        }
      } finally {
        peaks = sampler.stop();
      }
      const during = parts.has('download') ? 'upload and download' : 'upload';
      const rss: Record<string, unknown> = { [sizeKey(settings.uploadBytes)]: peakRssResult(cluster, peaks, during, settings.uploadBytes, table) };
      await baseline.stop();
      baseline = null;
      if (settings.rssLargeBytes !== null) {
        try {
          rss[sizeKey(settings.rssLargeBytes)] = await benchLargeFileRss(cluster, settings.rssLargeBytes, settings.dir, table);
        } catch (err) {
          rss[sizeKey(settings.rssLargeBytes)] = { error: errorText(err) };
          table.row('peak_rss', `${formatBytes(settings.rssLargeBytes)} file`, 'failed', errorText(err));
        }
      }
      results.peak_rss = {
        limits_mib: { node: nodeRssLimitMiB, gateway: gatewayRssLimitMiB },
        ...rss,
      };
    }
    if (parts.has('small_writes')) {
      try {
        results.small_writes = await benchSmallWrites(cluster, settings, table);
      } catch (err) {
        results.small_writes = { error: errorText(err) };
        table.row('small_writes', 'failed', errorText(err));
      }
    }
    if (parts.has('small_reads')) {
      try {
        results.small_reads = await benchSmallReads(cluster, settings, table);
      } catch (err) {
        results.small_reads = { error: errorText(err) };
        table.row('small_reads', 'failed', errorText(err));
      }
    }
  } finally {
    await baseline?.stop();
    await cluster.stopAll();
  }
  return results;
}

async function benchUpload(cluster: GatewayCluster, baseline: BaselineServer, settings: DataPathSettings, table: Table) {
  const size = settings.uploadBytes;
  const rounds: Array<{ gatewayMBs: number; leaderMBs: number; baselineMBs: number; ratio: number; leaderRatio: number; gatewayMs: number; leaderMs: number; baselineMs: number }> = [];
  let first: UploadedFile | null = null;
  const leaderId = await cluster.waitForLeader();
  const leaderUrl = cluster.storage.node(leaderId).url;
  {
    for (let round = 1; round <= settings.uploadRounds; round++) {
      const seed = `raft-dfs bench upload ${round}`;
      const name = `upload-${round}.bin`;
      let baselineSha = '';
      const ms = { baseline: 0, gateway: 0, leader: 0 };
      const stored: { file: { etag: string; size: number } | null } = { file: null };
      const runs = {
        baseline: async () => {
          const t = await streamUpload(`${baseline.url}/upload/${name}`, seed, size);
          if (t.status !== 201) throw new Error(`baseline upload answered ${t.status}: ${t.text.slice(0, 200)}`);
          baselineSha = (JSON.parse(t.text) as { sha256: string }).sha256;
          ms.baseline = t.ms;
        },
        gateway: async () => {
          const t = await streamUpload(`${cluster.url}/files/bench/${name}`, seed, size);
          if (t.status !== 201) throw new Error(`upload through the gateway answered ${t.status}: ${t.text.slice(0, 300)}`);
          const file = JSON.parse(t.text) as { etag: string; chunks: string[]; size: number };
          ms.gateway = t.ms;
          first ??= { name: `bench/${name}`, size, sha256: file.etag, chunks: file.chunks };
          stored.file = file;
        },
        // The same size straight to the leader, other bytes (the same ones would be deduplicated):
        // splits the gateway's share of the cost from the nodes'.
        leader: async () => {
          const t = await streamUpload(`${leaderUrl}/files/bench/leader-${name}`, `${seed} leader`, size);
          if (t.status !== 201) throw new Error(`upload straight to the leader answered ${t.status}: ${t.text.slice(0, 300)}`);
          ms.leader = t.ms;
        },
      };
      // Rotate the order: the disk's writeback of the one before weighs on the next.
      const order = (['baseline', 'gateway', 'leader'] as const).map((_, k, all) => all[(k + round - 1) % all.length]);
      for (const which of order) await runs[which]();
      if (stored.file === null || stored.file.etag !== baselineSha || stored.file.size !== size) {
        throw new Error(`the cluster stored a different file: etag ${stored.file?.etag}, size ${stored.file?.size}; expected ${baselineSha}, ${size}`);
      }
      if (round > 1) await fetch(`${baseline.url}/files/${name}`, { method: 'DELETE' }); // keep disk use down
      const gatewayMBs = mbPerSecond(size, ms.gateway);
      const leaderMBs = mbPerSecond(size, ms.leader);
      const baselineMBs = mbPerSecond(size, ms.baseline);
      rounds.push({ gatewayMBs, leaderMBs, baselineMBs, ratio: ratio(gatewayMBs, baselineMBs), leaderRatio: ratio(leaderMBs, baselineMBs), gatewayMs: Math.round(ms.gateway), leaderMs: Math.round(ms.leader), baselineMs: Math.round(ms.baseline) });
    }
  }
  // Medians over the rounds; each ratio is taken within its round first (the disk drifts).
  const gatewayMBs = round1(median(rounds.map((r) => r.gatewayMBs)));
  const leaderMBs = round1(median(rounds.map((r) => r.leaderMBs)));
  const baselineMBs = round1(median(rounds.map((r) => r.baselineMBs)));
  const uploadRatio = round2(median(rounds.map((r) => r.ratio)));
  const leaderRatio = round2(median(rounds.map((r) => r.leaderRatio)));
  const gatewayOfLeader = round2(median(rounds.map((r) => r.gatewayMBs / r.leaderMBs)));
  table.row('upload', `${formatBytes(size)} through the gateway to 3 nodes`, `${gatewayMBs} MB/s`, `${uploadRatio}× of plain server (SHA-256 + 3 fsync'd copies): ${baselineMBs} MB/s`);
  table.row('upload', `${formatBytes(size)} straight to the leader (other bytes)`, `${leaderMBs} MB/s`, `${leaderRatio}× of plain server; the gateway gets ${gatewayOfLeader}× of this`);
  return {
    upload: {
      bytes: size,
      rounds: rounds.length,
      mb_per_second: gatewayMBs,
      baseline_mb_per_second: baselineMBs,
      ratio: uploadRatio,
      straight_to_leader_mb_per_second: leaderMBs,
      straight_to_leader_ratio: leaderRatio,
      gateway_of_straight_to_leader: gatewayOfLeader,
      baseline: 'plain Node HTTP server in its own process: SHA-256 of the stream once, three copies written at once in 4 MiB batches (one writev each, the next batch filling meanwhile), each fsync\'d with its directory before the answer',
      etag_verified: 'the gateway upload\'s ETag equals the SHA-256 the plain server computed of the same bytes',
      chunk_bytes: 4 * 1024 * 1024,
      per_round: rounds,
    },
    file: first!,
  };
}

async function benchDownload(cluster: GatewayCluster, baseline: BaselineServer, file: UploadedFile, settings: DataPathSettings, table: Table) {
  const leaderId = await cluster.waitForLeader();
  const follower = cluster.storage.nodes.find((n) => n.id !== leaderId && n.child !== null);
  if (follower === undefined) throw new Error('no follower running');
  // Serve what is stored there, not a fetch from a peer: wait for the follower to hold every chunk.
  const allHeld = await waitFor(() => file.chunks.every((h) => fs.existsSync(chunkPath(follower.dataDir, h))), 120_000, 200);
  const baseName = path.basename(file.name);
  const targets = {
    baseline: `${baseline.url}/files/${baseName}`,
    follower: `${follower.url}/files/${file.name}`,
    gateway: `${cluster.url}/files/${file.name}`,
  } as const;
  type Target = keyof typeof targets;
  const order: Target[] = ['baseline', 'follower', 'gateway'];
  // Warm-up, not measured: a small file down each path (connections, JIT, the first-read paths).
  const warmSize = 8 * 1024 * 1024;
  const warmBaseline = await streamUpload(`${baseline.url}/upload/warm.bin`, 'warm-up', warmSize);
  const warmCluster = await streamUpload(`${cluster.url}/files/bench/warm.bin`, 'warm-up', warmSize);
  if (warmBaseline.status !== 201 || warmCluster.status !== 201) throw new Error(`warm-up upload answered ${warmBaseline.status} / ${warmCluster.status}`);
  for (const url of [`${baseline.url}/files/warm.bin`, `${follower.url}/files/bench/warm.bin`, `${cluster.url}/files/bench/warm.bin`]) {
    const t = await streamDownload(url);
    if (t.status !== 200) throw new Error(`warm-up download of ${url} answered ${t.status}`);
  }
  const mbs: Record<Target, number[]> = { baseline: [], follower: [], gateway: [] };
  const servedBy: string[] = [];
  for (let round = 0; round < settings.downloadRounds; round++) {
    for (let k = 0; k < order.length; k++) {
      const target = order[(k + round) % order.length];
      const t = await streamDownload(targets[target]);
      if (t.status !== 200) throw new Error(`download from ${target} answered ${t.status}: ${t.text.slice(0, 300)}`);
      if (t.bytes !== file.size) throw new Error(`download from ${target} gave ${t.bytes} bytes of ${file.size}`);
      if (target !== 'baseline' && t.headers.etag !== `"${file.sha256}"`) throw new Error(`download from ${target}: ETag ${String(t.headers.etag)}`);
      if (target === 'gateway') servedBy.push(String(t.headers['x-dfs-node']));
      mbs[target].push(mbPerSecond(t.bytes, t.ms));
    }
  }
  // Medians over the rounds; each ratio is taken within its round first (the machine drifts).
  const baselineMBs = round1(median(mbs.baseline));
  const followerMBs = round1(median(mbs.follower));
  const gatewayMBs = round1(median(mbs.gateway));
  const followerRatio = round2(median(mbs.follower.map((x, i) => x / mbs.baseline[i])));
  const gatewayRatio = round2(median(mbs.gateway.map((x, i) => x / mbs.baseline[i])));
  const versus = (r: number) => `${r}× of plain file server: ${baselineMBs} MB/s`;
  table.row('download', `${formatBytes(file.size)} straight from a follower (${follower.id})`, `${followerMBs} MB/s`, versus(followerRatio));
  table.row('download', `${formatBytes(file.size)} through the gateway (served by ${[...new Set(servedBy)].join(', ')})`, `${gatewayMBs} MB/s`, versus(gatewayRatio));
  return {
    bytes: file.size,
    rounds: settings.downloadRounds,
    consistency: 'linearizable (the default)',
    warm_up: 'one 8 MiB download down each path first, not counted; then the three alternate, in rotating order',
    follower: { node: follower.id, mb_per_second: followerMBs, ratio: followerRatio, held_every_chunk: allHeld },
    gateway: { mb_per_second: gatewayMBs, ratio: gatewayRatio, served_by: servedBy },
    baseline_mb_per_second: baselineMBs,
    baseline: 'plain Node HTTP server streaming its copy of the same bytes: fs.createReadStream (4 MiB reads) piped into the response',
    per_round_mb_per_second: mbs,
  };
}

async function writeLoad(origin: string, concurrency: number, seconds: number, prefix: string, bodyBytes: number) {
  const pool = keepAlivePool(origin, concurrency);
  try {
    let n = 0;
    return await closedLoop({
      concurrency,
      durationMs: seconds * 1000,
      op: async (seq) => {
        // Fresh bytes every time: the same content would only be stored once.
        await putFile(pool, `/files/${prefix}/${seq}`, bodyBytes === 0 ? new Uint8Array(0) : seededBuffer(`${prefix} ${n++}`, bodyBytes));
      },
    });
  } finally {
    await pool.close();
  }
}

async function benchSmallWrites(cluster: GatewayCluster, settings: DataPathSettings, table: Table) {
  const leaderUrl = cluster.storage.node(await cluster.waitForLeader()).url;
  const origins = { leader: leaderUrl, gateway: cluster.url } as const;
  // Warm up both paths (JIT, connections): the figures are of processes that have run a while.
  await writeLoad(leaderUrl, 64, settings.smallWriteWarmUpSeconds, 'sw-warmup-leader', smallBytes);
  await writeLoad(cluster.url, 64, settings.smallWriteWarmUpSeconds, 'sw-warmup-gateway', smallBytes);
  const leader: Record<string, unknown> = {};
  const gateway: Record<string, unknown> = {};
  const gatewayOfLeader: Record<string, number> = {};
  for (const [i, concurrency] of [1, 16, 64].entries()) {
    const order = i % 2 === 0 ? (['leader', 'gateway'] as const) : (['gateway', 'leader'] as const);
    const got: Partial<Record<'leader' | 'gateway', LoadStats>> = {};
    for (const target of order) got[target] = await writeLoad(origins[target], concurrency, settings.smallWriteSeconds, `sw-${target}-c${concurrency}`, smallBytes);
    const l = got.leader!;
    const g = got.gateway!;
    leader[`concurrency_${concurrency}`] = statsJson(l);
    gateway[`concurrency_${concurrency}`] = statsJson(g);
    gatewayOfLeader[`concurrency_${concurrency}`] = ratio(g.perSecond, l.perSecond);
    table.row('small_writes', `4 KiB, concurrency ${concurrency}, straight to the leader`, statsText(l));
    table.row('small_writes', `4 KiB, concurrency ${concurrency}, through the gateway`, statsText(g), `${ratio(g.perSecond, l.perSecond)}× of straight to the leader`);
  }
  // What the metadata path alone allows: the same writes with no bytes (no chunk to store).
  const empty = await writeLoad(leaderUrl, 64, settings.smallWriteSeconds, 'sw-empty-c64', 0);
  const fourK = (leader.concurrency_64 as { writes_or_reads_per_second: number }).writes_or_reads_per_second;
  table.row('small_writes', '0 bytes (metadata only), concurrency 64, to the leader', statsText(empty), `${ratio(empty.perSecond, fourK)}× of 4 KiB writes at c64 to the leader`);
  return {
    body_bytes: smallBytes,
    seconds_per_measurement: settings.smallWriteSeconds,
    warm_up: `${settings.smallWriteWarmUpSeconds} s at concurrency 64 down each path first, not counted`,
    straight_to_leader: leader,
    through_gateway: gateway,
    /** Writes per second through the gateway / straight to the leader, each concurrency. */
    gateway_of_straight_to_leader: gatewayOfLeader,
    reference_empty_body_to_leader_concurrency_64: statsJson(empty),
    /** 0-byte writes per second / 4 KiB writes per second, both at concurrency 64 to the leader. */
    empty_body_of_4kib_concurrency_64: ratio(empty.perSecond, fourK),
  };
}

async function benchSmallReads(cluster: GatewayCluster, settings: DataPathSettings, table: Table) {
  const concurrency = 64;
  const leaderId = await cluster.waitForLeader();
  const leaderUrl = cluster.storage.node(leaderId).url;
  // The files to read, written at concurrency 64 straight to the leader.
  const writer = keepAlivePool(leaderUrl, 64);
  try {
    let next = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < settings.readFiles; i = next++) {
        try {
          await putFile(writer, `/files/sr/${i}`, seededBuffer(`small read ${i}`, smallBytes));
        } catch (err) {
          failures.push(errorText(err));
        }
      }
    }));
    if (failures.length > 0) throw new Error(`${failures.length} of ${settings.readFiles} files to read were not written: ${failures[0]}`);
  } finally {
    await writer.close();
  }
  // Local reads on followers must find the files (and their chunks) there.
  await waitAllApplied(cluster, 30_000);
  const nodeUrls = cluster.storage.nodes.map((n) => n.url);
  const read = async (origins: readonly string[], consistency: string) => {
    const perPool = Math.ceil(concurrency / origins.length);
    const pools = origins.map((o) => keepAlivePool(o, perPool));
    try {
      const headers = { 'x-consistency': consistency };
      // Warm up: connections and JIT.
      await closedLoop({ concurrency, durationMs: 300, op: (seq) => getFile(pools[seq % pools.length], `/files/sr/${seq % settings.readFiles}`, headers).then(() => undefined) });
      return await closedLoop({
        concurrency,
        durationMs: settings.smallReadSeconds * 1000,
        op: async (seq) => {
          const bytes = await getFile(pools[seq % pools.length], `/files/sr/${(seq * 7919) % settings.readFiles}`, headers);
          if (bytes !== smallBytes) throw new Error(`read ${bytes} bytes of ${smallBytes}`);
        },
      });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  };
  const out: Record<string, unknown> = {};
  for (const consistency of ['linearizable', 'local']) {
    const one = await read([leaderUrl], consistency);
    const spread = await read(nodeUrls, consistency);
    const gateway = await read([cluster.url], consistency);
    out[consistency] = {
      one_node: statsJson(one),
      spread: statsJson(spread),
      gateway: statsJson(gateway),
      spread_of_one_node: ratio(spread.perSecond, one.perSecond),
      gateway_of_spread: ratio(gateway.perSecond, spread.perSecond),
      gateway_of_one_node: ratio(gateway.perSecond, one.perSecond),
    };
    table.row('small_reads', `4 KiB, c64, ${consistency}, one node (the leader)`, statsText(one));
    table.row('small_reads', `4 KiB, c64, ${consistency}, spread over the 3 nodes`, statsText(spread), `${ratio(spread.perSecond, one.perSecond)}× of one node`);
    table.row('small_reads', `4 KiB, c64, ${consistency}, through the gateway`, statsText(gateway), `${ratio(gateway.perSecond, spread.perSecond)}× of spread by the client`);
  }
  return {
    concurrency,
    files: settings.readFiles,
    body_bytes: smallBytes,
    seconds_per_measurement: settings.smallReadSeconds,
    one_node_is: `the leader (${leaderId})`,
    spread_is: 'the client sends request i to node i mod 3, straight to the nodes',
    ...out,
  };
}
