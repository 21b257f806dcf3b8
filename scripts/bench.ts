// `npm run bench [-- --quick] [-- --only upload,raft]`: measures what users care about, each figure
// next to what the machine allows measured in the same run (shared machines drift; ratios within
// one run hold), prints a table and writes bench/results.json (machine, date, commit, settings,
// figures). Sections: upload, download, peak_rss, small_writes, small_reads (one cluster),
// failover, scale, raft, s3 (S3 against the native API on one large object), placement (5 nodes at
// replication 3: stored bytes per node, repair after a node loss). With an `etcd` binary on PATH, small_writes, small_reads and failover
// also measure a 3-member etcd under the same load (key `etcd`) and set each of our figures next
// to etcd's (key `versus_etcd`, ratio ours / etcd's); without one those ratios are null and say
// why. --quick shrinks every size for a smoke run of a minute or two; the full run stays under
// 15 minutes on 2 cores. --only runs some sections and writes
// bench/results.partial.tmp instead (results.json always holds a complete run).
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureFailoverPause } from '../gateway/bench/failover-bench.ts';
import { benchDataPath } from './bench/data-path-bench.ts';
import { benchEtcdSmallFiles, measureEtcdFailover } from './bench/etcd-bench.ts';
import { etcdSettingsText, findEtcd } from './bench/etcd-cluster.ts';
import { compareWithEtcd, comparisonMarkdown } from './bench/versus-etcd.ts';
import type { EtcdResults } from './bench/versus-etcd.ts';
import type { DataPathResults } from './bench/data-path-bench.ts';
import { errorText, GiB, loadAverage, MiB, round, Table } from './bench/common.ts';
import { benchProposeToCommit } from './bench/raft-cluster-bench.ts';
import { benchCoreCommits } from './bench/raft-core-bench.ts';
import { benchDurableAppends } from './bench/raft-storage-bench.ts';
import { benchScale } from './bench/scale-bench.ts';
import { rssLargeBytesDefault, rssLargeBytesQuick } from './bench/rss-bench.ts';
import { benchS3 } from './bench/s3-bench.ts';
import { benchPlacement } from './bench/placement-bench.ts';

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex < 0 ? null : new Set((process.argv[onlyIndex + 1] ?? '').split(',').filter(Boolean));
const sectionKeys = ['upload', 'download', 'small_writes', 'small_reads', 'failover', 'peak_rss', 'scale', 'raft', 's3', 'placement'] as const;
if (only !== null) {
  for (const key of only) if (!(sectionKeys as readonly string[]).includes(key)) throw new Error(`--only: no section "${key}" (sections: ${sectionKeys.join(', ')})`);
}
const wants = (...keys: string[]) => only === null || keys.some((k) => only.has(k));
const wantsEtcd = wants('small_writes', 'small_reads', 'failover');

const settings = {
  quick,
  upload: { bytes: quick ? 64 * MiB : 1 * GiB, rounds: quick ? 1 : 3 },
  download: { rounds: quick ? 1 : 3 },
  peak_rss: { second_file_bytes: quick ? rssLargeBytesQuick : rssLargeBytesDefault },
  small_writes: { seconds: quick ? 1 : 5, warm_up_seconds: quick ? 1 : 5, concurrency: [1, 16, 64], body_bytes: 4096 },
  small_reads: { seconds: quick ? 1 : 5, files: quick ? 200 : 1000, concurrency: 64 },
  failover: { kills: quick ? 2 : 5 },
  scale: { files: quick ? 2_000 : 100_000, content_every: 20, setup_concurrency: 128, list_tries: quick ? 5 : 20, restart_signals: quick ? ['SIGTERM'] : ['SIGTERM', 'SIGKILL'], catch_up_timeout_s: quick ? 120 : 300, stall_s: quick ? 10 : 30 },
  raft: { seconds: quick ? 1 : 5 },
  s3: { bytes: quick ? 64 * MiB : 1 * GiB, rounds: quick ? 1 : 3, part_bytes: 16 * MiB, queue_size: 4 },
  placement: { bytes: quick ? 128 * MiB : 1 * GiB, file_bytes: 64 * MiB, concurrency: 4, nodes: 5, replication: 3, dead_after_ms: 3000, clean_timeout_s: quick ? 120 : 300 },
  etcd: `when on PATH: ${etcdSettingsText}; the small_writes, small_reads and failover sizes above`,
  node_settings: 'as shipped (tick 50 ms, 4 MiB chunks, snapshot every 10000 entries), one gateway, all on 127.0.0.1',
};

// Clusters, the baseline server's copies and the Raft scratch files go on the repository's disk
// (a tmpfs /tmp would fake every fsync), and all of it is removed at the end.
const scratch = path.resolve('bench/scratch');
fs.rmSync(scratch, { recursive: true, force: true });
fs.mkdirSync(scratch, { recursive: true });
process.env.TMPDIR = scratch;
// Ctrl-C: exit through process.exit so the cluster helpers' exit hooks kill every child.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}, stopping`);
    process.exit(130);
  });
}
process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));

const table = new Table();
const failures: string[] = [];
const sectionLoad: Record<string, { start: number[]; end: number[]; seconds: number }> = {};

async function section<T>(name: string, run: () => Promise<T>): Promise<T | { error: string }> {
  const start = loadAverage();
  const t0 = performance.now();
  try {
    return await run();
  } catch (err) {
    failures.push(`${name}: ${errorText(err)}`);
    table.row(name, 'failed', errorText(err).slice(0, 200));
    return { error: errorText(err) };
  } finally {
    sectionLoad[name] = { start, end: loadAverage(), seconds: round((performance.now() - t0) / 1000, 1) };
  }
}

async function benchRaft(): Promise<Record<string, unknown>> {
  const seconds = settings.raft.seconds;
  const core1 = benchCoreCommits({ durationMs: seconds * 1000, proposalsPerRound: 1 });
  table.row('raft', 'pure core, 3 nodes in one process, 1 proposal per round', `${core1.committedPerSecond} commits/s`);
  const core64 = benchCoreCommits({ durationMs: seconds * 1000, proposalsPerRound: 64 });
  table.row('raft', 'pure core, 3 nodes in one process, 64 proposals per round', `${core64.committedPerSecond} commits/s`, `${round(core64.committedPerSecond / core1.committedPerSecond, 1)}× of 1 per round`);
  const durable1 = await benchDurableAppends({ batchSize: 1, durationMs: seconds * 1000, dir: scratch });
  table.row('raft', 'durable appends (one fsync\'d SQLite transaction per batch), batch 1', `${durable1.appendsPerSecond} appends/s`);
  const durable64 = await benchDurableAppends({ batchSize: 64, durationMs: seconds * 1000, dir: scratch });
  table.row('raft', 'durable appends, group commit, batch 64', `${durable64.appendsPerSecond} appends/s`, `${round(durable64.appendsPerSecond / durable1.appendsPerSecond, 1)}× of batch 1`);
  const cluster1 = await benchProposeToCommit({ seconds, concurrency: 1 });
  table.row('raft', 'real 3-process Raft cluster (kv harness), concurrency 1', `${cluster1.perSecond}/s, p50 ${cluster1.p50Ms} ms, p99 ${cluster1.p99Ms} ms`);
  const cluster16 = await benchProposeToCommit({ seconds, concurrency: 16 });
  table.row('raft', 'real 3-process Raft cluster (kv harness), concurrency 16', `${cluster16.perSecond}/s, p50 ${cluster16.p50Ms} ms, p99 ${cluster16.p99Ms} ms`);
  return {
    core_commits_per_second: { proposals_per_round_1: core1.committedPerSecond, proposals_per_round_64: core64.committedPerSecond },
    durable_appends_per_second: { batch_1: durable1.appendsPerSecond, batch_64: durable64.appendsPerSecond },
    durable_batches_per_second: { batch_1: durable1.batchesPerSecond, batch_64: durable64.batchesPerSecond },
    cluster_propose_to_commit: { concurrency_1: cluster1, concurrency_16: cluster16 },
  };
}

function git(command: string): string | null {
  try {
    return execSync(`git ${command}`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function diskOf(dir: string): string | null {
  try {
    const lines = execSync(`df -PT ${JSON.stringify(dir)}`, { encoding: 'utf8' }).trim().split('\n');
    const [device, type] = lines[lines.length - 1].split(/\s+/);
    return `${device} (${type})`;
  } catch {
    return null;
  }
}

const startedAt = new Date();
const runStarted = performance.now();
const machine = {
  hostname: os.hostname(),
  cpus: os.cpus().length,
  cpu_model: os.cpus()[0]?.model ?? null,
  memory_gib: Math.round(os.totalmem() / GiB),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  disk: diskOf(scratch),
  load_average_at_start: loadAverage(),
};
console.log(`bench: ${quick ? 'quick' : 'full'} run on ${machine.cpus} × ${machine.cpu_model}, ${machine.memory_gib} GiB, ${machine.node}, load average ${machine.load_average_at_start.join(' ')}\n`);

const results: Record<string, unknown> = {};
if (wants('raft')) results.raft = await section('raft', benchRaft);
if (wants('upload', 'download', 'small_writes', 'small_reads', 'peak_rss')) {
  const data = await section('data path', () =>
    benchDataPath(
      {
        uploadBytes: settings.upload.bytes,
        uploadRounds: settings.upload.rounds,
        downloadRounds: settings.download.rounds,
        smallWriteSeconds: settings.small_writes.seconds,
        smallWriteWarmUpSeconds: settings.small_writes.warm_up_seconds,
        smallReadSeconds: settings.small_reads.seconds,
        readFiles: settings.small_reads.files,
        dir: scratch,
        rssLargeBytes: wants('peak_rss') ? settings.peak_rss.second_file_bytes : null,
        parts: new Set((['upload', 'download', 'small_writes', 'small_reads'] as const).filter((k) => wants(k) || (k === 'upload' && wants('peak_rss')))),
      },
      table,
    ),
  );
  for (const key of ['upload', 'download', 'small_writes', 'small_reads', 'peak_rss'] as const) {
    if (!('error' in data) && !(key in data)) continue; // not asked for
    const value = 'error' in data ? data : (data as DataPathResults)[key];
    if (value !== null && typeof value === 'object' && 'error' in value && !('error' in data)) failures.push(`${key}: ${(value as { error: string }).error}`);
    results[key] = value;
  }
}

// etcd under the same load, right after our small-file sections (nothing else running), then its
// failover right after ours. A fresh cluster for each, data under the scratch folder.
const etcdFound = wantsEtcd ? findEtcd() : null;
const etcd: EtcdResults = etcdFound === null
  ? { available: false, reason: 'etcd not installed (apt-get install etcd-server)' }
  : { available: true, binary: etcdFound.binary, version: etcdFound.version, settings: etcdSettingsText, api: 'v3 HTTP/JSON gateway, base64 keys and values' };
if (etcdFound === null && wantsEtcd) table.row('etcd', 'not measured', 'etcd not installed', 'apt-get install etcd-server');
if (etcd.available && wants('small_writes', 'small_reads')) {
  const plan = {
    ...(wants('small_writes') ? { puts: { seconds: settings.small_writes.seconds, warmUpSeconds: settings.small_writes.warm_up_seconds, concurrency: settings.small_writes.concurrency } } : {}),
    ...(wants('small_reads') ? { range: { seconds: settings.small_reads.seconds, keys: settings.small_reads.files, concurrency: settings.small_reads.concurrency } } : {}),
  };
  const got = await section('etcd', () => benchEtcdSmallFiles(etcdFound!.binary, path.join(scratch, 'etcd'), plan, table));
  for (const part of ['puts', 'range'] as const) {
    if (!(part in plan)) continue;
    // A cluster that did not start fails every part it was for.
    const value = 'error' in got ? got : got[part];
    etcd[part] = value;
    if ('error' in got) continue; // section() counted it already
    if (value !== null && typeof value === 'object' && 'error' in value) failures.push(`etcd ${part}: ${(value as { error: string }).error}`);
  }
  if (!('error' in got)) etcd.api_prefix = got.api_prefix;
}
if (wants('failover')) {
  results.failover = await section('failover', async () => {
    const r = await measureFailoverPause({ kills: settings.failover.kills });
    table.row('failover', `kill -9 of the leader under 4 writers through the gateway, ${r.kills} tries`, `p50 ${r.p50Ms} ms, max ${r.maxMs} ms`, `${r.failedWrites} of ${r.ackedWrites + r.failedWrites} writes failed`);
    return {
      tries: r.kills,
      p50_ms: r.p50Ms,
      max_ms: r.maxMs,
      pauses_ms: r.pausesMs,
      acked_writes: r.ackedWrites,
      failed_writes: r.failedWrites,
      what: 'SIGKILL of the leader while 4 clients write 1-4 KiB files through the gateway: from the kill to the first write acknowledged after the process is gone',
    };
  });
  if (etcd.available) {
    const failover = await section('etcd failover', () => measureEtcdFailover(etcdFound!.binary, path.join(scratch, 'etcd-failover'), { kills: settings.failover.kills }, table));
    etcd.failover = failover;
  }
}
if (wantsEtcd) {
  results.etcd = etcd;
  results.versus_etcd = {
    ratio_is: 'ours / etcd\'s, both measured in this run: for writes and reads of writes or reads per second (tail_ratio: of the p99 latency); for the failover of the p50 pause (tail_ratio: of the longest). A null ratio says why it is absent.',
    comparisons: compareWithEtcd(results, etcd),
  };
}
if (wants('scale')) {
  results.scale = await section('scale', () =>
    benchScale(
      {
        files: settings.scale.files,
        contentEvery: settings.scale.content_every,
        setupConcurrency: settings.scale.setup_concurrency,
        listTries: settings.scale.list_tries,
        restartSignals: settings.scale.restart_signals as NodeJS.Signals[],
        catchUpTimeoutMs: settings.scale.catch_up_timeout_s * 1000,
        stallMs: settings.scale.stall_s * 1000,
      },
      table,
    ),
  );
}

if (wants('s3')) {
  results.s3 = await section('s3', () =>
    benchS3({ bytes: settings.s3.bytes, rounds: settings.s3.rounds, partBytes: settings.s3.part_bytes, queueSize: settings.s3.queue_size }, table),
  );
}

if (wants('placement')) {
  const p = settings.placement;
  results.placement = await section('placement', () =>
    benchPlacement(
      { bytes: p.bytes, fileBytes: p.file_bytes, concurrency: p.concurrency, nodes: p.nodes, replication: p.replication, deadAfterMs: p.dead_after_ms, cleanTimeoutMs: p.clean_timeout_s * 1000 },
      table,
    ),
  );
}

const output = {
  machine: { ...machine, load_average_at_end: loadAverage() },
  date: startedAt.toISOString(),
  commit: git('rev-parse --short HEAD') ?? 'unknown',
  // Uncommitted changes in the tree measured (others work in it at the same time).
  dirty: (git('status --porcelain') ?? '') !== '',
  settings,
  seconds: round((performance.now() - runStarted) / 1000, 1),
  section_load: sectionLoad,
  ...Object.fromEntries([...sectionKeys, 'etcd', 'versus_etcd'].filter((k) => k in results).map((k) => [k, results[k]])),
  table: table.rows,
};
const target = only === null ? 'bench/results.json' : 'bench/results.partial.tmp';
fs.mkdirSync('bench', { recursive: true });
fs.writeFileSync(target, JSON.stringify(output, null, 2) + '\n');
console.log(`\n${table.markdown()}\n`);
if (wantsEtcd) console.log(`Side by side with etcd (same run):\n\n${comparisonMarkdown((results.versus_etcd as { comparisons: Parameters<typeof comparisonMarkdown>[0] }).comparisons)}\n`);
console.log(`wrote ${target} (${quick ? 'quick' : 'full'} run, ${output.seconds} s, load average at the end ${output.machine.load_average_at_end.join(' ')})`);
if (failures.length > 0) {
  console.error(`bench: ${failures.length} section(s) failed:\n  ${failures.join('\n  ')}`);
  process.exitCode = 1;
}
