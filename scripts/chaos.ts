// `npm run chaos -- --duration S --seed N [--nodes 3|5]`: the whole system under faults, on real
// processes, checked the way Jepsen checks etcd. See scripts/chaos/options.ts for the flags.
//
// As root with iproute2, the run builds network namespaces (scripts/chaos/netns.ts) and runs
// itself again inside the control one, so that its clients reach the nodes on their own
// addresses; the outer process only sets up, waits and tears down. Otherwise everything runs on
// 127.0.0.1 and a partition pauses its minority side instead (the report says so).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countOps, countTargets, unavailableWindows } from './chaos/analysis.ts';
import type { Violation } from './chaos/analysis.ts';
import { checkHistory, checkLostWrites, checkNodeState, finalReads, referencedChunks, waitConverged } from './chaos/checks.ts';
import type { Convergence } from './chaos/checks.ts';
import { ChaosClient } from './chaos/client.ts';
import { ChaosCluster } from './chaos/cluster.ts';
import { Nemesis } from './chaos/nemesis.ts';
import {
  controlNamespace, netnsUnavailableReason, prefixFor, setupNamespaces, sweepStaleNamespaces, teardownNamespaces,
} from './chaos/netns.ts';
import { innerArgs, parseChaosArgs, replayCommand, usage, UsageError } from './chaos/options.ts';
import type { ChaosOptions } from './chaos/options.ts';
import { Recorder } from './chaos/recorder.ts';
import { formatReport } from './chaos/report.ts';
import type { ChaosReport } from './chaos/report.ts';
import { buildSchedule } from './chaos/schedule.ts';
import { defaultWorkload, Workload } from './chaos/workload.ts';

const scriptPath = fileURLToPath(import.meta.url);
const unavailabilityThresholdMs = 1_000;
/** Longer than the nodes' --request-timeout-ms (8 s in a chaos cluster). */
const quietAfterHealMs = 10_000;

function log(message: string): void {
  process.stderr.write(`chaos: ${message}\n`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function makeOutDir(o: ChaosOptions): string {
  if (o.outDir !== null) {
    mkdirSync(o.outDir, { recursive: true });
    return o.outDir;
  }
  return mkdtempSync(join(tmpdir(), `dfs-chaos-seed${o.seed}-`));
}

/** Sets up the namespaces, runs the real work inside the control one, always tears them down. */
async function runOuter(o: ChaosOptions): Promise<number> {
  const stale = await sweepStaleNamespaces();
  if (stale.length > 0) log(`removed namespaces left by dead runs: ${stale.join(', ')}`);
  const prefix = prefixFor(process.pid);
  const outDir = makeOutDir(o);
  try {
    await setupNamespaces(prefix, o.nodes);
    const child = spawn('ip', ['netns', 'exec', controlNamespace(prefix), process.execPath, '--import', 'tsx', scriptPath, ...innerArgs(o, outDir, prefix)], {
      stdio: 'inherit',
    });
    const forward = (signal: NodeJS.Signals) => () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, signal);
    };
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    if (signal !== null) log(`the run inside the namespaces ended by ${signal}`);
    return code ?? 2;
  } finally {
    await teardownNamespaces(prefix);
  }
}

/** The run itself: cluster, workload and nemesis, heal, convergence, checks, report. */
async function runChaos(o: ChaosOptions, networkNote: string | null): Promise<number> {
  const netns = o.netnsPrefix !== null;
  const outDir = makeOutDir(o);
  const started = performance.now();
  log(`seed ${o.seed}, ${o.nodes} nodes at replication ${o.replication}${o.deadAfterMs === null ? '' : ` (dead after ${o.deadAfterMs} ms)`}, ${o.durationS} s, ${o.clients} clients, network ${netns ? 'netns' : 'loopback'}${networkNote === null ? '' : ` (${networkNote})`}; output in ${outDir}`);
  const cluster = await ChaosCluster.start({ nodes: o.nodes, replication: o.replication, deadAfterMs: o.deadAfterMs, dir: outDir, netnsPrefix: o.netnsPrefix, verbose: o.verbose });
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log('interrupted: stopping the cluster');
    void cluster.stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const client = new ChaosClient();
  try {
    log(`cluster up in ${((performance.now() - started) / 1000).toFixed(1)} s: ${cluster.nodes.map((n) => `${n.id} ${n.url}`).join(', ')}, gateway ${cluster.gatewayUrl}`);
    const recorder = new Recorder();
    const targets = [{ name: 'gateway', url: cluster.gatewayUrl }, ...cluster.nodes.map((n) => ({ name: n.id, url: n.url }))];
    const workload = new Workload(
      { seed: o.seed, clients: o.clients, unsafeLocalReads: o.unsafeLocalReads, ...defaultWorkload },
      recorder, client, () => targets,
    );
    const durationMs = o.durationS * 1000;
    const schedule = o.noFaults ? [] : buildSchedule({ seed: o.seed, durationMs, nodes: o.nodes, netns, ...(o.faults === null ? {} : { kinds: o.faults }) });
    // The chunks the kept versions need, as the leader has them (null when it cannot tell).
    const neededChunks = async (): Promise<ReadonlySet<string> | null> => {
      const leader = await cluster.leader();
      if (leader === null) return null;
      return referencedChunks(client, cluster.nodes[leader].url, workload.keys.all).catch(() => null);
    };
    const nemesis = new Nemesis(cluster, { nodes: o.nodes, replication: o.replication, netnsPrefix: o.netnsPrefix }, recorder, () => workload.currentEtags(), neededChunks);
    const planned = new Map<string, number>();
    for (const e of schedule) planned.set(e.kind, (planned.get(e.kind) ?? 0) + 1);
    log(`workload running; ${schedule.length} faults scheduled${schedule.length === 0 ? '' : `: ${[...planned].map(([k, n]) => `${k} ${n}`).join(', ')}`}`);
    workload.start();
    const nemesisDone = nemesis.run(schedule);
    const progress = setInterval(() => log(`${(recorder.now() / 1000).toFixed(0)} s: ${recorder.ops.length} ops, ${nemesis.faults.length} faults`), 10_000);
    await sleep(durationMs);
    clearInterval(progress);
    nemesis.stop();
    await nemesisDone;
    await nemesis.healAll();
    const healedAt = performance.now();
    await workload.stop();
    const workloadEndMs = durationMs;
    log(`workload stopped after ${recorder.ops.length} ops; healed everything, waiting for convergence`);
    // A request held up in a paused node may still reach the leader after the heal; past the
    // nodes' request deadline none can, and the final state stays put while it is read.
    await sleep(Math.max(0, healedAt + quietAfterHealMs - performance.now()));

    const violations: Violation[] = [...nemesis.violations];
    const notes: string[] = [];
    if (networkNote !== null) notes.push(`no network namespaces (${networkNote}): partitions were made by pausing the minority side`);
    const convergence: Convergence = await waitConverged(cluster, o.convergeTimeoutS * 1000);
    if (!convergence.converged) {
      violations.push({ kind: 'convergence', message: `the healed cluster did not converge in ${o.convergeTimeoutS} s: ${convergence.detail}` });
    }
    await cluster.waitGatewayReady(30_000).catch((err: Error) => violations.push({ kind: 'convergence', message: err.message }));
    log(`${convergence.converged ? 'converged' : 'NOT converged'} (${convergence.detail}); reading back ${workload.keys.all.length} names`);
    const finals = await finalReads(workload, cluster, o.clients);
    // A node or gateway that exited on its own crashed: one violation per process, with its log.
    const crashed = new Map<string, typeof cluster.crashes>();
    for (const c of cluster.crashes) crashed.set(c.name, [...(crashed.get(c.name) ?? []), c]);
    for (const [name, list] of crashed) {
      const first = list[0];
      violations.push({
        kind: 'crash', node: name,
        message: `${name} exited on its own ${list.length} time(s), first at ${first.atIso} (${first.exit}); its log then ended with:\n${first.logTail}`,
      });
    }
    log('checking the history');
    const history = checkHistory(recorder, o.checkTimeoutS * 1000);
    violations.push(...history.violations);
    if (history.timedOut.length > 0) notes.push(`linearizability unknown for ${history.timedOut.length} key(s): the search timed out (${history.timedOut.slice(0, 5).join(', ')})`);
    violations.push(...checkLostWrites(recorder, finals));
    for (const p of workload.integrity) violations.push({ kind: 'integrity', key: p.key, node: p.servedBy ?? p.target, message: `op ${p.opId} (sent to ${p.target}): ${p.message}` });
    log('checking metadata and chunks on every node');
    const state = await checkNodeState(client, cluster, workload, finals, nemesis.chunkFaults);
    violations.push(...state.violations);
    notes.push(...state.notes);

    const historyPath = join(outDir, 'history.json');
    const reportPath = join(outDir, 'report.json');
    const opsPath = join(outDir, 'ops.jsonl');
    writeFileSync(historyPath, `[\n${recorder.events.map((e) => JSON.stringify(e)).join(',\n')}\n]\n`);
    // Every operation with where it went, who served it and why it failed: for digging into a run.
    writeFileSync(opsPath, recorder.ops.map((op) => JSON.stringify(op)).join('\n') + '\n');
    const byKind: Record<string, number> = {};
    for (const f of nemesis.faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    const workloadOps = recorder.ops.filter((op) => !op.final);
    const availability = (via: 'gateway' | 'all') => {
      const writeWindows = unavailableWindows(recorder.ops, 'write', workloadEndMs, unavailabilityThresholdMs, via);
      const readWindows = unavailableWindows(recorder.ops, 'read', workloadEndMs, unavailabilityThresholdMs, via);
      const longest = (ws: { durationMs: number }[]) => ws.reduce((m, w) => Math.max(m, w.durationMs), 0);
      return { longestWriteMs: longest(writeWindows), longestReadMs: longest(readWindows), writeWindows, readWindows };
    };
    const report: ChaosReport = {
      seed: o.seed, nodes: o.nodes, replication: o.replication, durationS: o.durationS, clients: o.clients,
      network: {
        mode: netns ? 'netns' : 'loopback',
        partitions: nemesis.partitionMethod === 'netns' ? 'links cut (ip neigh, silent drop)' : 'minority paused (SIGSTOP)',
        note: networkNote,
      },
      unsafeLocalReads: o.unsafeLocalReads,
      elapsedS: (performance.now() - started) / 1000,
      ops: { total: workloadOps.length, byKind: countOps(recorder.ops), byTarget: countTargets(recorder.ops), finalReads: recorder.ops.length - workloadOps.length },
      faults: { total: nemesis.faults.length, byKind, list: [...nemesis.faults].sort((a, b) => a.index - b.index) },
      unavailability: { thresholdMs: unavailabilityThresholdMs, gateway: availability('gateway'), all: availability('all') },
      convergence,
      checks: {
        keys: history.keys, timedOutKeys: history.timedOut, versionsReadBack: state.versionsChecked,
        chunkCopiesVerified: state.chunksChecked, metadataDigests: state.digests,
        nodeDigests: state.nodeDigests, fsck: state.fsck, strayCopies: state.strayCopies,
      },
      notes,
      violations,
      files: { dir: outDir, report: reportPath, history: historyPath, ops: opsPath, logs: [...cluster.nodes.map((n) => n.logPath), cluster.gatewayLogPath] },
      replay: replayCommand(o),
    };
    writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${formatReport(report)}\n`);
    return violations.length > 0 ? 1 : 0;
  } finally {
    stopping = true;
    await client.close();
    await cluster.stopAll();
  }
}

async function main(): Promise<number> {
  let o: ChaosOptions | 'help';
  try {
    o = parseChaosArgs(process.argv.slice(2), () => Math.floor(Math.random() * 2 ** 31));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`chaos: ${err.message}\n\n${usage}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const options = o;
  let networkNote: string | null = null;
  if (options.netnsPrefix === null && options.network !== 'loopback') {
    const reason = await netnsUnavailableReason();
    if (reason === null) return runOuter(options);
    if (options.network === 'netns') {
      process.stderr.write(`chaos: --network netns: ${reason}\n`);
      return 2;
    }
    networkNote = reason;
  } else if (options.network === 'loopback') {
    networkNote = '--network loopback';
  }
  try {
    return await runChaos(options, networkNote);
  } catch (err) {
    process.stderr.write(`chaos: the run failed: ${(err as Error).stack ?? err}\n`);
    process.stdout.write(`replay: ${replayCommand(options)}\nchaos: error (seed ${options.seed}): ${(err as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main();
