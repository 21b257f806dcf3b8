// `npm run bench [-- --quick]`: measures the system and writes bench/results.json (machine, date,
// commit, settings, figures). Sections fill in as the system grows; each prints a table row.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchProposeToCommit } from './bench/raft-cluster-bench.ts';
import { benchCoreCommits } from './bench/raft-core-bench.ts';
import { benchDurableAppends } from './bench/raft-storage-bench.ts';

const quick = process.argv.includes('--quick');
const seconds = quick ? 1 : 5;
const scratch = path.resolve('bench/scratch');
fs.mkdirSync(scratch, { recursive: true });

const rows: string[][] = [];
function row(section: string, what: string, figure: string): void {
  rows.push([section, what, figure]);
  console.log(`${section.padEnd(8)} ${what.padEnd(52)} ${figure}`);
}

async function benchRaft(): Promise<Record<string, unknown>> {
  const core1 = benchCoreCommits({ durationMs: seconds * 1000, proposalsPerRound: 1 });
  row('raft', 'pure core, 3 nodes, 1 proposal per round: commits/s', String(core1.committedPerSecond));
  const core64 = benchCoreCommits({ durationMs: seconds * 1000, proposalsPerRound: 64 });
  row('raft', 'pure core, 3 nodes, 64 proposals per round: commits/s', String(core64.committedPerSecond));
  const durable1 = await benchDurableAppends({ batchSize: 1, durationMs: seconds * 1000, dir: scratch });
  row('raft', 'durable appends/s (fsync per batch), batch 1', String(durable1.appendsPerSecond));
  const durable64 = await benchDurableAppends({ batchSize: 64, durationMs: seconds * 1000, dir: scratch });
  row('raft', 'durable appends/s (fsync per batch), batch 64', String(durable64.appendsPerSecond));
  const cluster1 = await benchProposeToCommit({ seconds, concurrency: 1 });
  row('raft', 'real 3-node cluster, concurrency 1: propose→commit p50/p99 ms', `${cluster1.p50Ms} / ${cluster1.p99Ms}`);
  const cluster16 = await benchProposeToCommit({ seconds, concurrency: 16 });
  row('raft', 'real 3-node cluster, concurrency 16: commits/s (p50 ms)', `${cluster16.perSecond} (${cluster16.p50Ms})`);
  return {
    core_commits_per_second: { proposals_per_round_1: core1.committedPerSecond, proposals_per_round_64: core64.committedPerSecond },
    durable_appends_per_second: { batch_1: durable1.appendsPerSecond, batch_64: durable64.appendsPerSecond },
    cluster_propose_to_commit: { concurrency_1: cluster1, concurrency_16: cluster16 },
  };
}

function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const results = {
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
  date: new Date().toISOString(),
  commit: commit(),
  settings: { quick, secondsPerMeasurement: seconds },
  raft: await benchRaft(),
};
fs.mkdirSync('bench', { recursive: true });
fs.writeFileSync('bench/results.json', JSON.stringify(results, null, 2) + '\n');
fs.rmSync(scratch, { recursive: true, force: true });
console.log(`\nwrote bench/results.json (${quick ? 'quick' : 'full'} run)`);
