// A real storage cluster (test/support/storage-cluster.ts) with one or more gateway processes
// (gateway/src/main.ts) in front, on free local ports. Every child is tracked by PID, stopped in
// stopAll(), and killed if the test process exits without it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePorts, sleep } from './cluster.ts';
import { StorageCluster } from './storage-cluster.ts';
import { programArgs } from '../../scripts/programs.ts';
import type { NodeStatus } from './node-probes.ts';
import type { StorageClusterOptions } from './storage-cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface GatewayClusterOptions {
  readonly storage?: StorageClusterOptions;
  /** Gateways to start (default 1). */
  readonly gateways?: number;
  /** Extra flags for every gateway. */
  readonly gatewayFlags?: readonly string[];
  /** Extra environment variables for every gateway. */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
}

export interface GatewayHandle {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  child: ChildProcess | null;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export class GatewayCluster {
  readonly gateways: GatewayHandle[] = [];
  readonly #options: GatewayClusterOptions;

  private constructor(readonly storage: StorageCluster, options: GatewayClusterOptions) {
    this.#options = options;
  }

  static async start(options: GatewayClusterOptions = {}): Promise<GatewayCluster> {
    const storage = await StorageCluster.start(options.storage);
    const cluster = new GatewayCluster(storage, options);
    cluster.#trackNodes();
    try {
      const ports = await freePorts(options.gateways ?? 1);
      ports.forEach((port, i) => cluster.gateways.push({ id: `gw${i + 1}`, port, url: `${storage.scheme}://127.0.0.1:${port}`, child: null }));
      for (const gateway of cluster.gateways) cluster.startGateway(gateway.id);
      for (const gateway of cluster.gateways) await cluster.waitGatewayReady(gateway.id);
    } catch (err) {
      await cluster.stopAll();
      throw err;
    }
    return cluster;
  }

  /** The first gateway's URL. */
  get url(): string {
    return this.gateways[0].url;
  }

  gateway(id: string): GatewayHandle {
    const gateway = this.gateways.find((g) => g.id === id);
    if (gateway === undefined) throw new Error(`no gateway ${id}`);
    return gateway;
  }

  /** Seeds: the first node only, so the rest must be learned from its /status. */
  startGateway(id: string, seeds: readonly string[] = [this.storage.nodes[0].url]): void {
    const gateway = this.gateway(id);
    const tls = this.#options.storage?.tls;
    const args = [
      ...programArgs('gateway'),
      '--id', id, '--host', '127.0.0.1', '--port', String(gateway.port), '--nodes', seeds.join(','),
      // With TLS the gateway serves HTTPS with the nodes' test certificate and trusts their CA.
      ...(tls === undefined ? [] : ['--tls-cert', tls.certPath, '--tls-key', tls.keyPath, '--tls-ca', tls.caPath]),
      ...(this.#options.gatewayFlags ?? []),
    ];
    const verbose = process.env.DFS_TEST_VERBOSE !== undefined;
    const env = { ...process.env, ...this.#options.gatewayEnv };
    const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', verbose ? 'inherit' : 'ignore', verbose ? 'inherit' : 'pipe'] });
    if (!verbose) child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${id}] ${d.toString()}`));
    gateway.child = child;
    live.add(child);
    child.on('exit', () => {
      live.delete(child);
      if (gateway.child === child) gateway.child = null;
    });
  }

  /** The gateway answers /ready (it knows a leader). */
  async waitGatewayReady(id: string, timeoutMs = 20_000): Promise<void> {
    const gateway = this.gateway(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gateway.child === null) throw new Error(`gateway ${id} exited`);
      const ok = await this.storage.fetch(`${gateway.url}/ready`).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`gateway ${id} not ready in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stopGateway(id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.gateway(id).child;
    if (child === null || child.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, signal);
    const timer = setTimeout(() => child.exitCode === null && child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** /status of every running node that answers. */
  async nodeStatuses(): Promise<NodeStatus[]> {
    const all = await Promise.all(this.storage.nodes.filter((n) => n.child !== null).map((n) =>
      this.storage.fetch(`${n.url}/status`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<NodeStatus>, () => null)));
    return all.filter((s): s is NodeStatus => s !== null);
  }

  /** The id of the leader every running node agrees on. */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await this.nodeStatuses();
      const running = this.storage.nodes.filter((n) => n.child !== null).length;
      const leaders = statuses.filter((s) => s.is_leader);
      if (leaders.length === 1 && statuses.length === running && statuses.every((s) => s.leader_id === leaders[0].id)) return leaders[0].id;
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Kills (SIGKILL) or stops a node and waits for its exit. */
  async killNode(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.storage.stopNode(id, signal);
  }

  /** Restarts a node and waits until every node is ready again. */
  async restartNode(id: string): Promise<void> {
    this.storage.startNode(id);
    this.#trackNodes();
    await this.storage.waitReady();
  }

  /** Starts a node that joins the running cluster (see StorageCluster.addNode). */
  async addNode(id: string, joinVia: string, flags: readonly string[] = []): Promise<void> {
    await this.storage.addNode(id, joinVia, flags);
    this.#trackNodes();
  }

  /** Starts every node that is not running and waits until all are ready. */
  async restartStoppedNodes(): Promise<void> {
    for (const n of this.storage.nodes) if (n.child === null) this.storage.startNode(n.id);
    this.#trackNodes();
    await this.storage.waitReady();
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.gateways.map((g) => this.stopGateway(g.id)));
    await this.storage.stopAll();
  }

  #trackNodes(): void {
    for (const node of this.storage.nodes) {
      const child = node.child;
      if (child === null || live.has(child)) continue;
      live.add(child);
      child.once('exit', () => live.delete(child));
    }
  }
}
