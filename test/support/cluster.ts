// Starts and controls a cluster of kv-node processes on free local ports, for integration tests
// and benchmarks. Every child is tracked by PID and killed on stopAll() (and on our own exit).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ClusterOptions {
  readonly size?: number;
  readonly tickMs?: number;
  readonly snapshotEntries?: number;
  /** Copy the children's stderr to ours (also on when DFS_TEST_VERBOSE is set). */
  readonly verbose?: boolean;
}

export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leaderId: string | null;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  snapshot: { index: number; term: number } | null;
  installedSnapshots: number;
  [field: string]: unknown;
}

export interface ProposeAnswer {
  index?: number;
  error?: { code: string; message: string };
  leaderId?: string | null;
}

export interface ClusterNode {
  readonly id: string;
  readonly clusterPort: number;
  readonly clientPort: number;
  /** Client API base URL. */
  readonly url: string;
  readonly clusterUrl: string;
  readonly dataDir: string;
  child: ChildProcess | null;
  /** Settles with the exit of the current child. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tail of the child's stderr, for error messages. */
  stderr: string;
}

/** Free ports, all held at once while picking so that none is handed out twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

const live = new Set<ChildProcess>();
// Last resort when a test process dies without stopAll(): never leave orphans behind.
process.once('exit', () => {
  for (const child of live) if (child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export class Cluster {
  readonly nodes = new Map<string, ClusterNode>();
  readonly secret = randomBytes(16).toString('hex');
  readonly #options: Required<ClusterOptions>;
  readonly #root: string;

  private constructor(options: ClusterOptions) {
    this.#options = {
      size: options.size ?? 3,
      tickMs: options.tickMs ?? 50,
      snapshotEntries: options.snapshotEntries ?? 1000,
      verbose: options.verbose ?? process.env.DFS_TEST_VERBOSE !== undefined,
    };
    this.#root = mkdtempSync(join(tmpdir(), 'raft-kv-cluster-'));
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      const size = cluster.#options.size;
      const ports = await freePorts(size * 2);
      const ids = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + i));
      ids.forEach((id, i) => {
        const clusterPort = ports[i];
        const clientPort = ports[size + i];
        cluster.nodes.set(id, {
          id,
          clusterPort,
          clientPort,
          url: `http://127.0.0.1:${clientPort}`,
          clusterUrl: `http://127.0.0.1:${clusterPort}`,
          dataDir: join(cluster.#root, id),
          child: null,
          exited: Promise.resolve({ code: null, signal: null }),
          stderr: '',
        });
      });
      await Promise.all(ids.map((id) => cluster.#spawn(id)));
      return cluster;
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
  }

  node(id: string): ClusterNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Ids of the nodes whose process is running. */
  liveIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.child !== null).map((n) => n.id);
  }

  async status(id: string): Promise<NodeStatus> {
    const res = await request(`${this.node(id).url}/status`, { headersTimeout: 2000, bodyTimeout: 2000 });
    if (res.statusCode !== 200) throw new Error(`${id} /status answered ${res.statusCode}`);
    return (await res.body.json()) as NodeStatus;
  }

  /** Statuses of the live nodes that answer. */
  async statuses(): Promise<NodeStatus[]> {
    const all = await Promise.all(this.liveIds().map((id) => this.status(id).catch(() => null)));
    return all.filter((s): s is NodeStatus => s !== null);
  }

  /** The leader of the highest term any live node knows, once every other live node follows it. */
  async waitForLeader(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await this.statuses();
      const maxTerm = Math.max(0, ...statuses.map((s) => s.term));
      const leaders = statuses.filter((s) => s.role === 'leader' && s.term === maxTerm);
      const live = this.liveIds().length;
      if (leaders.length === 1 && statuses.length === live && statuses.every((s) => s.leaderId === leaders[0].id)) {
        return leaders[0].id;
      }
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms: ${JSON.stringify(statuses.map(brief))}`);
      await sleep(50);
    }
  }

  /** POST /propose to one node; never throws on an HTTP status (network errors do throw). */
  async propose(id: string, key: string, value: string): Promise<{ status: number; body: ProposeAnswer }> {
    const res = await request(`${this.node(id).url}/propose?key=${encodeURIComponent(key)}`, {
      method: 'POST',
      body: value,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    return { status: res.statusCode, body: (await res.body.json()) as ProposeAnswer };
  }

  /** GET /read (linearizable) from one node. */
  async read(id: string, key: string): Promise<{ status: number; value: string | null; body: unknown }> {
    const res = await request(`${this.node(id).url}/read?key=${encodeURIComponent(key)}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = (await res.body.json()) as { value?: string | null };
    return { status: res.statusCode, value: body.value ?? null, body };
  }

  /** Sends `signal` to the node's process and waits for it to exit. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const node = this.node(id);
    if (node.child === null) throw new Error(`${id} is not running`);
    node.child.kill(signal);
    return node.exited;
  }

  /** Starts the node again on the same ports and data directory. */
  async restart(id: string): Promise<void> {
    if (this.node(id).child !== null) throw new Error(`${id} is still running`);
    await this.#spawn(id);
  }

  /** Ends every child (SIGTERM, then SIGKILL after 5 s) and removes the data directories. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map(async (node) => {
      const child = node.child;
      if (child === null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await node.exited;
      clearTimeout(timer);
    }));
    rmSync(this.#root, { recursive: true, force: true });
  }

  #spawn(id: string): Promise<void> {
    const node = this.node(id);
    const peers = [...this.nodes.values()].map((n) => `${n.id}=${n.clusterUrl}`).join(',');
    const args = [
      '--import', 'tsx', 'test/support/kv-node.ts',
      '--id', id,
      '--data-dir', node.dataDir,
      '--cluster-port', String(node.clusterPort),
      '--client-port', String(node.clientPort),
      '--peers', peers,
      '--secret', this.secret,
      '--tick-ms', String(this.#options.tickMs),
      '--snapshot-entries', String(this.#options.snapshotEntries),
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    node.child = child;
    node.stderr = '';
    node.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (node.child === child) node.child = null;
        resolve({ code, signal });
      });
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      node.stderr = (node.stderr + text).slice(-8192);
      if (this.#options.verbose) process.stderr.write(`[${id}] ${text}`);
    });
    return new Promise((resolve, reject) => {
      let out: string | null = '';
      const timer = setTimeout(() => reject(new Error(`${id} not ready in 20 s: ${node.stderr}`)), 20_000);
      // Keep draining stdout after `ready` so the child never blocks on a full pipe.
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        if (out === null) return;
        out += text;
        if (out.includes('ready\n')) {
          out = null;
          clearTimeout(timer);
          resolve();
        }
      });
      void node.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited (${code ?? signal}) before it was ready: ${node.stderr}`));
      });
    });
  }
}

function brief(s: NodeStatus) {
  return { id: s.id, role: s.role, term: s.term, leaderId: s.leaderId, commit: s.commit, applied: s.applied };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
