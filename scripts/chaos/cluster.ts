// The cluster under test: real storage-node processes and one gateway, each tracked by PID, with
// the controls the nemesis needs (kill, pause, resume, restart, wipe) and the status queries the
// checks need. With a namespace prefix each node runs in its own network namespace on its own
// address (`ip netns exec` execs, so the PID is the node's); otherwise all on 127.0.0.1.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, sleep } from '../../test/support/cluster.ts';
import { namespaceOf, nodeAddress } from './netns.ts';
import { programArgs } from '../programs.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Flags of every node in a chaos run: small chunks, few versions, frequent snapshots and GC. */
export const chaosNodeFlags: readonly string[] = [
  '--tick-ms', '50', '--election-ticks', '10',
  // Writes up to 4 KiB (most of the workload's) go inline, the larger ones into 16 KiB chunks:
  // both write paths under the same faults, and chunk faults have chunks to hit.
  '--chunk-size', '16KiB', '--inline-max', '4KiB', '--keep-versions', '3',
  '--snapshot-entries', '200',
  '--gc-grace-ms', '10000', '--gc-interval-ms', '3000',
  '--request-timeout-ms', '8000',
];

export const chaosGatewayFlags: readonly string[] = [
  '--failover-timeout', '8000', '--write-timeout', '12000', '--read-timeout', '8000',
];

export interface NodeStatus {
  id: string;
  state: string;
  is_leader: boolean;
  leader_id: string | null;
  term: number;
  commit_index: number;
  applied_index: number;
  /** Index of the config entry in effect on this node. */
  membership_index: number;
  /** This node learnt that it was removed from the cluster. */
  removed: boolean;
  /** The members as this node's log has them. */
  nodes: Array<{ id: string; voter: boolean; role: string }>;
}

/** How a process ended. */
export interface ExitOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChaosNode {
  readonly index: number;
  readonly id: string;
  readonly url: string;
  readonly clusterUrl: string;
  readonly dataDir: string;
  readonly logPath: string;
  child: ChildProcess | null;
  paused: boolean;
  starts: number;
  /**
   * A member's client URL to join through on the next start, once the node was removed and
   * wiped (replace-member); null: a founder (--peers). A node that joined keeps join.json in
   * its data dir and is started with neither flag after that.
   */
  joinVia: string | null;
  /** Times the replace-member fault removed it and it joined again. */
  replaced: number;
}

/** A process that exited without being told to: always a bug (or a machine out of memory). */
export interface CrashRecord {
  readonly name: string;
  readonly atIso: string;
  readonly exit: string;
  /** The end of its log before the exit: usually the stack trace. */
  readonly logTail: string;
}

export interface ChaosClusterOptions {
  readonly nodes: number;
  /**
   * Copies of each chunk: the replicated setting, set once through the membership's leader
   * before any write (the nodes' own default is 3, so it is set even when it is every node).
   * It lives in the Raft log and snapshots: a wiped or replaced node gets it from there.
   */
  readonly replication: number;
  /** The nodes' --dead-after-ms; null: their default. */
  readonly deadAfterMs: number | null;
  readonly dir: string;
  /** Run each node in its own namespace (we are inside the control namespace). */
  readonly netnsPrefix: string | null;
  readonly verbose: boolean;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    if (child.pid === undefined || child.exitCode !== null) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function stamp(): string {
  return new Date().toISOString();
}

/** The last lines a process logged before its exit, without our own markers. */
function logTail(path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    const lines = text.slice(-20_000).split('\n').filter((line) => line.trim() !== '' && !line.startsWith('--- '));
    return lines.slice(-12).join('\n');
  } catch {
    return '';
  }
}

export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  readonly secret = randomBytes(16).toString('hex');
  readonly gatewayUrl: string;
  readonly gatewayLogPath: string;
  gateway: ChildProcess | null = null;
  readonly crashes: CrashRecord[] = [];
  /** Children we signalled to end (or are ending all): their exit is no crash. */
  readonly #expectedExits = new WeakSet<ChildProcess>();
  readonly #options: ChaosClusterOptions;
  readonly #peers: string;
  readonly #gatewayPort: number;

  private constructor(options: ChaosClusterOptions, ports: number[]) {
    this.#options = options;
    const netns = options.netnsPrefix !== null;
    for (let i = 0; i < options.nodes; i++) {
      const id = `n${i + 1}`;
      const host = netns ? nodeAddress(i) : '127.0.0.1';
      const clientPort = netns ? 8081 : ports[2 * i + 1];
      const clusterPort = netns ? 3030 : ports[2 * i + 2];
      this.nodes.push({
        index: i, id, url: `http://${host}:${clientPort}`, clusterUrl: `http://${host}:${clusterPort}`,
        dataDir: join(options.dir, 'data', id), logPath: join(options.dir, `${id}.log`),
        child: null, paused: false, starts: 0, joinVia: null, replaced: 0,
      });
    }
    this.#peers = this.nodes.map((n) => `${n.id}=${n.url}=${n.clusterUrl}`).join(',');
    this.#gatewayPort = ports[0];
    this.gatewayUrl = `http://127.0.0.1:${ports[0]}`;
    this.gatewayLogPath = join(options.dir, 'gateway.log');
  }

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    const cluster = new ChaosCluster(options, await freePorts(1 + 2 * options.nodes));
    try {
      for (const node of cluster.nodes) cluster.startNode(node.index);
      await cluster.waitReady(90_000);
      await cluster.setReplication(options.replication, 60_000);
      cluster.startGateway();
      await cluster.waitGatewayReady(60_000);
    } catch (err) {
      await cluster.stopAll();
      throw err;
    }
    return cluster;
  }

  get replication(): number {
    return this.#options.replication;
  }

  /** The headers that open a node's /admin routes. */
  get adminHeaders(): Record<string, string> {
    return { 'x-dfs-cluster-secret': this.secret };
  }

  /**
   * PUT /admin/settings/replication (a follower forwards it to the leader) until one answers 200,
   * then waits until every node applied it (its GET /admin/settings says so).
   */
  async setReplication(replication: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`could not set replication ${replication} in ${timeoutMs} ms (last: ${last})`);
      const node = this.nodes[attempt % this.nodes.length];
      try {
        const res = await fetch(`${node.url}/admin/settings/replication`, {
          method: 'PUT', headers: { ...this.adminHeaders, 'content-type': 'application/json' },
          body: JSON.stringify({ replication }), signal: AbortSignal.timeout(10_000),
        });
        last = `${node.id} answered ${res.status} ${(await res.text()).slice(0, 300)}`;
        if (res.ok) break;
      } catch (err) {
        last = `${node.id}: ${(err as Error).message}`;
      }
      await sleep(300);
    }
    for (const node of this.nodes) {
      for (;;) {
        const settings = await fetch(`${node.url}/admin/settings`, { headers: this.adminHeaders, signal: AbortSignal.timeout(5_000) })
          .then((r) => (r.ok ? (r.json() as Promise<{ replication: number; effective_replication: number }>) : null), () => null);
        if (settings !== null && settings.replication === replication && settings.effective_replication === replication) break;
        if (Date.now() > deadline) throw new Error(`${node.id} did not apply replication ${replication} in ${timeoutMs} ms (it says ${JSON.stringify(settings)})`);
        await sleep(200);
      }
    }
  }

  #spawn(name: string, logPath: string, args: readonly string[], netns: string | null): ChildProcess {
    const fd = openSync(logPath, 'a');
    writeSync(fd, `--- ${stamp()} chaos: starting ${name}\n`);
    const stdio = this.#options.verbose ? (['ignore', 'pipe', 'pipe'] as const) : (['ignore', fd, fd] as const);
    const command = netns === null ? process.execPath : 'ip';
    const argv = netns === null ? args : ['netns', 'exec', netns, process.execPath, ...args];
    const child = spawn(command, argv, { cwd: repoRoot, stdio: [...stdio] });
    if (this.#options.verbose) {
      const copy = (d: Buffer) => {
        writeSync(fd, d);
        process.stderr.write(`[${name}] ${d.toString()}`);
      };
      child.stdout?.on('data', copy);
      child.stderr?.on('data', copy);
    }
    live.add(child);
    child.once('exit', () => live.delete(child));
    child.once('close', (code, signal) => {
      const exit = signal ?? `code ${code}`;
      try {
        writeSync(fd, `--- ${stamp()} chaos: ${name} exited (${exit})\n`);
      } finally {
        closeSync(fd);
      }
      if (!this.#expectedExits.has(child)) this.crashes.push({ name, atIso: stamp(), exit, logTail: logTail(logPath) });
    });
    return child;
  }

  startNode(index: number): void {
    const node = this.nodes[index];
    if (node.child !== null) throw new Error(`node ${node.id} is already running`);
    const url = new URL(node.url);
    const args = [
      ...programArgs('storage-node'),
      '--id', node.id, '--host', url.hostname,
      '--client-port', url.port, '--cluster-port', new URL(node.clusterUrl).port,
      '--data-dir', node.dataDir, ...this.#entryFlags(node), '--cluster-secret', this.secret,
      ...chaosNodeFlags,
      ...(this.#options.deadAfterMs === null ? [] : ['--dead-after-ms', String(this.#options.deadAfterMs)]),
    ];
    const ns = this.#options.netnsPrefix === null ? null : namespaceOf(this.#options.netnsPrefix, index);
    const child = this.#spawn(node.id, node.logPath, args, ns);
    node.child = child;
    node.paused = false;
    node.starts++;
    child.once('exit', () => {
      if (node.child === child) {
        node.child = null;
        node.paused = false;
      }
    });
  }

  /** How the node comes into the cluster: as it joined before, by joining now, or as a founder. */
  #entryFlags(node: ChaosNode): string[] {
    if (existsSync(join(node.dataDir, 'join.json'))) return [];
    if (node.joinVia !== null) return ['--join', node.joinVia];
    return ['--peers', this.#peers];
  }

  /**
   * The node's current process is going to exit on its own (it was removed from the cluster):
   * not a crash. Resolves with how it ended; null when no process runs.
   */
  expectExit(index: number): Promise<ExitOutcome> | null {
    const child = this.nodes[index].child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return null;
    this.#expectedExits.add(child);
    return new Promise<ExitOutcome>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  startGateway(): void {
    if (this.gateway !== null) throw new Error('the gateway is already running');
    const args = [
      ...programArgs('gateway'), '--id', 'gw', '--host', '127.0.0.1', '--port', String(this.#gatewayPort),
      '--nodes', this.nodes.map((n) => n.url).join(','), ...chaosGatewayFlags,
    ];
    const child = this.#spawn('gateway', this.gatewayLogPath, args, null);
    this.gateway = child;
    child.once('exit', () => {
      if (this.gateway === child) this.gateway = null;
    });
  }

  running(): ChaosNode[] {
    return this.nodes.filter((n) => n.child !== null);
  }

  /** Sends a signal and, for SIGKILL/SIGTERM, waits for the exit (SIGKILL after 15 s of SIGTERM). */
  async signal(index: number, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): Promise<boolean> {
    const node = this.nodes[index];
    const child = node.child;
    if (child === null || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      process.kill(child.pid, signal);
      node.paused = signal === 'SIGSTOP';
      return true;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#expectedExits.add(child);
    if (node.paused && signal === 'SIGTERM') process.kill(child.pid, 'SIGCONT');
    process.kill(child.pid, signal);
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 15_000);
    await exited;
    clearTimeout(timer);
    return true;
  }

  /**
   * Kills the node and deletes its data dir: it comes back empty, with the same id, as a founder
   * (--peers) unless `joinVia` is given (it was removed and joins again).
   */
  async wipe(index: number, joinVia: string | null = null): Promise<void> {
    await this.signal(index, 'SIGKILL');
    rmSync(this.nodes[index].dataDir, { recursive: true, force: true });
    this.nodes[index].joinVia = joinVia;
  }

  async killGateway(): Promise<boolean> {
    const child = this.gateway;
    if (child === null || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#expectedExits.add(child);
    process.kill(child.pid, 'SIGKILL');
    await exited;
    return true;
  }

  async status(index: number, timeoutMs = 2_000): Promise<NodeStatus | null> {
    const node = this.nodes[index];
    if (node.child === null || node.paused) return null;
    try {
      const res = await fetch(`${node.url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return null;
      return (await res.json()) as NodeStatus;
    } catch {
      return null;
    }
  }

  async statuses(timeoutMs = 2_000): Promise<(NodeStatus | null)[]> {
    return Promise.all(this.nodes.map((n) => this.status(n.index, timeoutMs)));
  }

  /** The index of the node that says it leads in the highest term, or null. */
  async leader(): Promise<number | null> {
    const all = await this.statuses();
    let best: number | null = null;
    all.forEach((s, i) => {
      if (s?.is_leader && (best === null || s.term > all[best]!.term)) best = i;
    });
    return best;
  }

  /** Every node answers /ready with 200. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      for (;;) {
        if (node.child === null) throw new Error(`node ${node.id} exited (see ${node.logPath})`);
        const ok = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`node ${node.id} not ready in ${timeoutMs} ms (see ${node.logPath})`);
        await sleep(200);
      }
    }
  }

  async waitGatewayReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.gateway === null) throw new Error(`the gateway exited (see ${this.gatewayLogPath})`);
      const ok = await fetch(`${this.gatewayUrl}/ready`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the gateway was not ready in ${timeoutMs} ms (see ${this.gatewayLogPath})`);
      await sleep(200);
    }
  }

  async stopAll(): Promise<void> {
    const children = [this.gateway, ...this.nodes.map((n) => n.child)].filter((c): c is ChildProcess => c !== null);
    await Promise.all(children.map(async (child) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      this.#expectedExits.add(child);
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        return;
      }
      await exited;
    }));
  }
}
