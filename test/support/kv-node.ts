// One Raft member in its own process, on the real stack (SQLite log, snapshot files, HTTP
// transport, cluster auth), replicating a tiny in-memory key-value map. A harness for testing and
// benchmarking the consensus layer with real processes, signals and kill -9; not the product.
//
//   node --import tsx test/support/kv-node.ts --id a --data-dir /tmp/a --cluster-port 3030 \
//     --client-port 8081 --peers a=http://127.0.0.1:3030,b=http://127.0.0.1:3031 --secret s
import { randomInt } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { defaultRaftConfig } from '../../storage-node/src/raft/config.ts';
import type { Entry, SnapshotMeta } from '../../storage-node/src/raft/types.ts';
import { NotLeaderError, ProposalLostError, RaftTimeoutError } from '../../storage-node/src/raft-node/errors.ts';
import { RaftNode } from '../../storage-node/src/raft-node/raft-node.ts';
import { SnapshotFiles } from '../../storage-node/src/raft-node/snapshot-files.ts';
import type { StateMachine } from '../../storage-node/src/raft-node/state-machine.ts';
import { SqliteRaftLogStore } from '../../storage-node/src/raft-storage/raft-log-store.ts';
import { clusterAuth } from '../../storage-node/src/transport/cluster-auth.ts';
import { startClusterServer } from '../../storage-node/src/transport/cluster-server.ts';
import { HttpTransport } from '../../storage-node/src/transport/http-transport.ts';
import { raftRoutes } from '../../storage-node/src/transport/raft-routes.ts';

/**
 * The map lives in memory only: after a restart appliedIndex() is 0, RaftNode restores the latest
 * snapshot file, and the core replays the committed log after it.
 */
class KvStateMachine implements StateMachine {
  map = new Map<string, string>();
  #applied = 0;
  /** Snapshots restored while running (from a leader's InstallSnapshot), not at startup. */
  installedSnapshots = 0;
  running = false;

  appliedIndex(): number {
    return this.#applied;
  }

  apply(entries: readonly Entry[]): unknown[] {
    const results = entries.map((entry) => {
      if (entry.type !== 'normal') return undefined;
      const { key, value } = JSON.parse(entry.data) as { key: string; value: string };
      this.map.set(key, value);
      return entry.index;
    });
    this.#applied = entries[entries.length - 1].index;
    return results;
  }

  writeSnapshot(path: string): void {
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, JSON.stringify({ index: this.#applied, entries: [...this.map] }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  restoreSnapshot(path: string, meta: SnapshotMeta): void {
    const snapshot = JSON.parse(readFileSync(path, 'utf8')) as { index: number; entries: [string, string][] };
    if (snapshot.index !== meta.index) throw new Error(`snapshot file holds index ${snapshot.index}, meta says ${meta.index}`);
    this.map = new Map(snapshot.entries);
    this.#applied = meta.index;
    if (this.running) this.installedSnapshots++;
  }
}

function parseFlags() {
  const { values } = parseArgs({
    options: {
      id: { type: 'string' },
      'data-dir': { type: 'string' },
      'cluster-port': { type: 'string' },
      'client-port': { type: 'string' },
      peers: { type: 'string' },
      secret: { type: 'string' },
      'tick-ms': { type: 'string', default: '50' },
      'snapshot-entries': { type: 'string', default: '1000' },
      'request-timeout-ms': { type: 'string', default: '5000' },
    },
  });
  const required = ['id', 'data-dir', 'cluster-port', 'client-port', 'peers', 'secret'] as const;
  for (const name of required) if (values[name] === undefined) throw new Error(`--${name} is required`);
  const peers = new Map<string, string>();
  for (const pair of values.peers!.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--peers: "${pair}" is not id=url`);
    peers.set(pair.slice(0, at), pair.slice(at + 1));
  }
  if (!peers.has(values.id!)) throw new Error('--peers must include this node');
  return {
    id: values.id!,
    dataDir: values['data-dir']!,
    clusterPort: Number(values['cluster-port']),
    clientPort: Number(values['client-port']),
    peers,
    secret: values.secret!,
    tickMs: Number(values['tick-ms']),
    snapshotEntries: Number(values['snapshot-entries']),
    requestTimeoutMs: Number(values['request-timeout-ms']),
  };
}

function fail(c: Context, status: ContentfulStatusCode, code: string, message: string, leaderId?: string | null): Response {
  if (status === 503) c.header('Retry-After', '1');
  return c.json({ error: { code, message }, ...(leaderId !== undefined ? { leaderId } : {}) }, status);
}

function failFromRaft(c: Context, error: unknown): Response {
  if (error instanceof NotLeaderError) return fail(c, 503, error.reason, error.message, error.leaderId);
  // The proposal definitely did not happen: safe to retry.
  if (error instanceof ProposalLostError) return fail(c, 503, 'proposal_lost', error.message, null);
  if (error instanceof RaftTimeoutError) return fail(c, 504, 'timeout', error.message);
  throw error;
}

const flags = parseFlags();
const stateMachine = new KvStateMachine();
const store = SqliteRaftLogStore.open(join(flags.dataDir, 'meta.db'));
const snapshots = new SnapshotFiles(join(flags.dataDir, 'snapshots'));
let raft: RaftNode | undefined;
const transport = new HttpTransport({
  selfId: flags.id,
  secret: flags.secret,
  peers: flags.peers,
  onUnreachable: (peer) => raft?.reportUnreachable(peer),
});
raft = new RaftNode({
  config: { ...defaultRaftConfig, id: flags.id, randomInt: (n) => randomInt(n) },
  membership: { voters: [...flags.peers.keys()] },
  store,
  stateMachine,
  snapshots,
  transport,
  tickMs: flags.tickMs,
  snapshotEntriesThreshold: flags.snapshotEntries,
  requestTimeoutMs: flags.requestTimeoutMs,
});
const node: RaftNode = raft;

const clusterApp = new Hono();
clusterApp.use('*', clusterAuth({ secret: flags.secret }));
clusterApp.route(
  '/',
  raftRoutes({
    selfId: flags.id,
    isMember: (id) => flags.peers.has(id),
    // The kv harness's snapshots are its own JSON, trusted as they come.
    snapshotProblem: () => null,
    deliver: (message, snapshotPath) => node.deliver(message, snapshotPath),
    snapshotSink: (message) => ({ path: snapshots.incomingPath(message.snapshot) }),
  }),
);

const clientApp = new Hono();
clientApp.post('/propose', async (c) => {
  const key = c.req.query('key');
  if (key === undefined || key === '') return fail(c, 400, 'bad_request', '?key= is required');
  const value = await c.req.text();
  try {
    const index = await node.propose(JSON.stringify({ key, value }));
    return c.json({ index });
  } catch (error) {
    return failFromRaft(c, error);
  }
});
clientApp.get('/read', async (c) => {
  const key = c.req.query('key');
  if (key === undefined || key === '') return fail(c, 400, 'bad_request', '?key= is required');
  try {
    const index = await node.readBarrier();
    const value = stateMachine.map.get(key);
    if (value === undefined) return c.json({ key, value: null, index }, 404);
    return c.json({ key, value, index });
  } catch (error) {
    return failFromRaft(c, error);
  }
});
clientApp.get('/status', (c) =>
  c.json({
    ...node.status(),
    applied: stateMachine.appliedIndex(),
    keys: stateMachine.map.size,
    installedSnapshots: stateMachine.installedSnapshots,
    transport: transport.stats(),
  }),
);

node.start();
stateMachine.running = true;
const clusterServer = await startClusterServer({ port: flags.clusterPort, app: clusterApp });
const clientServer = await new Promise<Server>((resolve, reject) => {
  const server = serve({ fetch: clientApp.fetch, port: flags.clientPort, hostname: '127.0.0.1' }, () => {
    server.off('error', reject);
    resolve(server);
  }) as Server;
  server.once('error', reject);
});
process.stdout.write('ready\n');

let shuttingDown = false;
process.on('SIGTERM', () => {
  if (shuttingDown) return;
  shuttingDown = true;
  // Never hang the caller: whatever is still open after this is cut by the exit.
  setTimeout(() => process.exit(0), 5000).unref();
  void shutdown().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('shutdown failed:', error);
      process.exit(1);
    },
  );
});

async function shutdown(): Promise<void> {
  // Graceful leader exit: hand over first, so the cluster does not wait out an election timeout.
  // bestTransferTarget() is null for a moment after each check-quorum round clears recentActive,
  // so keep asking until a follower answers again.
  const deadline = Date.now() + 1000;
  let transferring = false;
  while (node.status().role === 'leader' && Date.now() < deadline) {
    if (!transferring || node.status().transferTarget === null) {
      const target = node.bestTransferTarget();
      transferring = target !== null && (await node.transferLeadership(target));
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  node.stop();
  clientServer.closeIdleConnections();
  await Promise.all([
    new Promise<void>((resolve) => clientServer.close(() => resolve())),
    clusterServer.close(),
    transport.close(),
  ]);
  store.close();
}
