// Starts a cluster of real storage-node processes (storage-node/src/main.ts) on free local ports
// in a temp dir, for integration tests. Every child is tracked by PID and stopped in stopAll().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import { freePorts, sleep } from './cluster.ts';
import { programArgs } from '../../scripts/programs.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface StorageClusterOptions {
  readonly size?: number;
  /** Extra flags for every node (e.g. ['--chunk-size', '64KiB']). */
  readonly flags?: readonly string[];
  /** Extra flags of one founding node (e.g. its --zone). */
  readonly flagsOf?: (id: string) => readonly string[];
  readonly verbose?: boolean;
  /** Extra environment variables for every node. */
  readonly env?: Readonly<Record<string, string>>;
  /** HTTPS on every port with this certificate (for 127.0.0.1), peers verified against the CA. */
  readonly tls?: TestTls;
}

/** PEM files of a test certificate and the CA that signed it. */
export interface TestTls {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
}

/** fetch that trusts the test CA when there is one (global fetch otherwise). */
export function fetchTrusting(tls: TestTls | undefined): typeof fetch {
  if (tls === undefined) return fetch;
  const dispatcher = new Agent({ connect: { ca: readFileSync(tls.caPath) } });
  return ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch;
}

export interface StorageNodeHandle {
  readonly id: string;
  readonly url: string;
  readonly clusterPort: number;
  readonly dataDir: string;
  child: ChildProcess | null;
  /** A node added at runtime: the member URL it asks to join through on its first start. */
  readonly joinVia?: string;
  /** Extra flags of this node only (e.g. ['--learner']). */
  readonly flags?: readonly string[];
  /** Exit code of its last process (null while running or killed by a signal). */
  exitCode?: number | null;
}

export class StorageCluster {
  readonly nodes: StorageNodeHandle[] = [];
  readonly dir: string;
  readonly secret = randomBytes(16).toString('hex');
  readonly #options: StorageClusterOptions;
  #peers = '';
  /** http or https, as the nodes serve. */
  readonly scheme: 'http' | 'https';
  /** fetch that trusts the nodes' certificates. */
  readonly fetch: typeof fetch;

  private constructor(options: StorageClusterOptions) {
    this.#options = options;
    this.scheme = options.tls === undefined ? 'http' : 'https';
    this.fetch = fetchTrusting(options.tls);
    this.dir = mkdtempSync(join(tmpdir(), 'dfs-storage-'));
  }

  static async start(options: StorageClusterOptions = {}): Promise<StorageCluster> {
    const cluster = new StorageCluster(options);
    const size = options.size ?? 3;
    const ports = await freePorts(size * 2);
    for (let i = 0; i < size; i++) {
      const id = `n${i + 1}`;
      cluster.nodes.push({ id, url: `${cluster.scheme}://127.0.0.1:${ports[2 * i]}`, clusterPort: ports[2 * i + 1], dataDir: join(cluster.dir, id), child: null, flags: options.flagsOf?.(id) ?? [] });
    }
    cluster.#peers = cluster.nodes.map((n) => `${n.id}=${n.url}=${cluster.scheme}://127.0.0.1:${n.clusterPort}`).join(',');
    try {
      for (const node of cluster.nodes) cluster.startNode(node.id);
      await cluster.waitReady();
    } catch (err) {
      await cluster.stopAll();
      throw err;
    }
    return cluster;
  }

  node(id: string): StorageNodeHandle {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  startNode(id: string): void {
    const node = this.node(id);
    const args = [
      ...programArgs('storage-node'),
      '--id', id, '--host', '127.0.0.1',
      '--client-port', String(new URL(node.url).port), '--cluster-port', String(node.clusterPort),
      '--data-dir', node.dataDir, '--cluster-secret', this.secret,
      // A joined node finds its cluster in its data directory after the first start.
      ...(node.joinVia === undefined ? ['--peers', this.#peers] : existsSync(join(node.dataDir, 'join.json')) ? [] : ['--join', node.joinVia]),
      ...(node.flags ?? []),
      '--tick-ms', '20',
      ...(this.#options.tls === undefined ? [] : ['--tls-cert', this.#options.tls.certPath, '--tls-key', this.#options.tls.keyPath, '--tls-ca', this.#options.tls.caPath]),
      ...(this.#options.flags ?? []),
    ];
    const verbose = this.#options.verbose === true || process.env.DFS_TEST_VERBOSE !== undefined;
    const env = { ...process.env, ...this.#options.env };
    const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', verbose ? 'inherit' : 'ignore', verbose ? 'inherit' : 'pipe'] });
    if (!verbose) child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${id}] ${d.toString()}`));
    node.child = child;
    node.exitCode = null;
    child.on('exit', (code) => {
      if (node.child === child) {
        node.child = null;
        node.exitCode = code;
      }
    });
  }

  /** Every node answers /ready with 200. */
  /**
   * Starts a new node that joins the running cluster through `joinVia` (a member's client URL),
   * on free ports, with a data directory of its own. `id` may be a removed member's.
   */
  async addNode(id: string, joinVia: string, flags: readonly string[] = []): Promise<StorageNodeHandle> {
    const [clientPort, clusterPort] = await freePorts(2);
    const index = this.nodes.findIndex((n) => n.id === id);
    if (index >= 0 && this.nodes[index].child !== null) throw new Error(`node ${id} still runs`);
    const handle: StorageNodeHandle = {
      id,
      url: `${this.scheme}://127.0.0.1:${clientPort}`,
      clusterPort,
      dataDir: join(this.dir, `${id}-${Date.now().toString(36)}`),
      child: null,
      joinVia,
      flags,
    };
    if (index >= 0) this.nodes[index] = handle;
    else this.nodes.push(handle);
    this.startNode(id);
    return handle;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      for (;;) {
        if (node.child === null) throw new Error(`node ${node.id} exited`);
        const ok = await this.fetch(`${node.url}/ready`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`node ${node.id} not ready in ${timeoutMs} ms`);
        await sleep(100);
      }
    }
  }

  async stopNode(id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const node = this.node(id);
    const child = node.child;
    if (child === null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, signal);
    const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n.id)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
