// Assembles one storage node: meta.db (Raft log + metadata), blob store, cluster port, Raft,
// client API, chunk repair and garbage collection, metrics. stop() is the graceful shutdown.
import { ChunkBuffers } from '../files/chunk-buffers.ts';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Hono } from 'hono';
import { stopOnAssertion } from '../../../shared/assert.ts';
import { HybridLogicalClock } from '../../../shared/hlc.ts';
import { listen } from '../../../shared/http-listener.ts';
import { peerConnectOptions } from '../../../shared/tls-client.ts';
import { BlobClient } from '../blobs/blob-client.ts';
import { blobRoutes } from '../blobs/blob-routes.ts';
import { BlobStore } from '../blobs/blob-store.ts';
import { openDatabase } from '../db/open-database.ts';
import { WalCheckpointer } from '../db/wal-checkpointer.ts';
import { ChunkGuard } from '../chunks/chunk-guard.ts';
import type { ChunkRepairer } from '../chunks/chunk-repairer.ts';
import { UploadMemoryBudget } from '../files/upload-memory.ts';
import { FileService } from '../files/file-service.ts';
import { MultipartService } from '../files/multipart-service.ts';
import { startUploadExpiry } from '../files/upload-expiry.ts';
import { clientApp } from '../http/client-app.ts';
import { enterCluster } from '../cluster/cluster-entry.ts';
import { startLearnerPromotion } from '../cluster/learner-promotion.ts';
import { MemberDirectory } from '../cluster/member-directory.ts';
import { Placement } from '../placement/placement.ts';
import { startPlacementTasks } from '../placement/placement-tasks.ts';
import { metadataSnapshotProblem } from '../metadata/metadata-snapshot.ts';
import { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import { cached } from '../metrics/cached.ts';
import { httpMetrics } from '../metrics/http-metrics.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import { defaultRaftConfig } from '../raft/config.ts';
import { ObservedStateMachine } from '../raft-node/observed-state-machine.ts';
import { RaftNode } from '../raft-node/raft-node.ts';
import { SnapshotFiles } from '../raft-node/snapshot-files.ts';
import { SqliteRaftLogStore } from '../raft-storage/raft-log-store.ts';
import { clusterAuth } from '../transport/cluster-auth.ts';
import { startClusterServer } from '../transport/cluster-server.ts';
import type { ClusterServer } from '../transport/cluster-server.ts';
import { HttpTransport, isConnectionRefused } from '../transport/http-transport.ts';
import { raftRoutes } from '../transport/raft-routes.ts';
import { appliedChunkRepairDelayMs, chunkMaintenance } from './chunk-maintenance.ts';
import type { NodeConfig } from './config.ts';
import type { NodeContext } from './node-context.ts';

export interface RunningNode {
  readonly ctx: NodeContext;
  readonly clientPort: number;
  readonly clusterPort: number;
  /** Resolves when this node learnt that it was removed from the cluster: it should stop. */
  readonly removed: Promise<string>;
  stop(): Promise<void>;
}

/** The blob store's totals for /metrics walk its directories: at most this often. */
const blobStatsTtlMs = 30_000;

/** At shutdown, how long the answers to writes failed by raft.stop() get to leave. */
const answerFlushMs = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startStorageNode(config: NodeConfig): Promise<RunningNode> {
  const metrics = new NodeMetrics();
  // Set once the chunk maintenance exists; the hooks below fire only after start-up.
  let repairer: ChunkRepairer | undefined;
  const guard = new ChunkGuard({ graceMs: config.gcGraceMs });
  const database = openDatabase(join(config.dataDir, 'meta.db'));
  const metadata = new MetadataStateMachine(database, {
    keepVersions: config.keepVersions,
    // The leader's own uploads wrote their chunks here (and still hold them while their entry
    // applies): only the others are worth a check.
    onChunksReferenced: (hashes) => repairer?.enqueue(hashes.filter((hash) => !guard.isHeld(hash)), appliedChunkRepairDelayMs),
  });
  const store = new SqliteRaftLogStore(database);
  let entry: Awaited<ReturnType<typeof enterCluster>>;
  try {
    entry = await enterCluster(config, store.isEmpty());
  } catch (err) {
    store.close();
    database.sqlite.close();
    throw err;
  }
  const members = new MemberDirectory(config.id, entry.seed, entry.membership);
  const placement = new Placement(members, () => metadata.settings());
  // Frames checkpointed so far in the current WAL generation (the count restarts with the WAL).
  let checkpointedFrames = 0;
  const checkpointer = new WalCheckpointer(database.sqlite, {
    onCheckpoint: (result) => {
      metrics.metaCheckpointSeconds.observe({ on: result.on }, result.seconds);
      const restarted = result.checkpointedFrames < checkpointedFrames;
      metrics.metaCheckpointFrames.inc(Math.max(0, restarted ? result.checkpointedFrames : result.checkpointedFrames - checkpointedFrames));
      checkpointedFrames = result.checkpointedFrames;
    },
  });
  const blobs = await BlobStore.open(join(config.dataDir, 'blobs'), {
    chunkBytesMax: Math.max(config.chunkSize, 16 * 1024 * 1024),
    onQuarantined: (hash) => {
      metrics.chunksQuarantined.inc();
      repairer?.enqueue([hash]);
    },
    onStage: (stage, seconds) => metrics.chunkStageSeconds.observe({ stage }, seconds),
  });
  const snapshots = new SnapshotFiles(join(config.dataDir, 'snapshots'));
  const blobClient = new BlobClient({
    secret: config.clusterSecret,
    peers: members.clusterUrls(),
    requestTimeoutMs: config.requestTimeoutMs * 3,
    chunkBytesMax: blobs.chunkBytesMax,
    connect: peerConnectOptions(config.tlsCa),
  });
  let raftRef: RaftNode | undefined;
  const chunks = chunkMaintenance({
    config,
    metadata,
    blobs,
    blobClient,
    metrics,
    placement,
    guard,
    isCaughtUp: () => {
      const status = raftRef?.status();
      return status !== undefined && status.leaderId !== null && metadata.appliedIndex() >= status.commit;
    },
  });
  repairer = chunks.repairer;
  const transport = new HttpTransport({
    selfId: config.id,
    secret: config.clusterSecret,
    peers: members.clusterUrls(),
    connect: peerConnectOptions(config.tlsCa),
    onUnreachable: (peer, error) => {
      raftRef?.reportUnreachable(peer);
      // A refused connection means the peer's process is gone: if it led, elect at once.
      if (isConnectionRefused(error)) raftRef?.reportPeerDown(peer);
    },
    onBatchQueued: (seconds) => metrics.transportQueueSeconds.observe(seconds),
    heardFromAgoMs: (peer) => raftRef?.heardFromAgoMs(peer),
  });
  const stateMachine = new ObservedStateMachine(metadata, {
    onApplied: (entries, seconds) => {
      metrics.applySeconds.observe(seconds);
      metrics.appliedEntries.inc(entries);
    },
    // A snapshot replaces the metadata wholesale: look for chunks it needs that are not here.
    onRestored: () => void chunks.repairer.scan(),
  });
  // The transport and the blob client follow the membership: a node added at runtime is reached
  // from the Ready that first sends to it.
  members.onChange((directory) => {
    transport.setPeers(directory.clusterUrls());
    blobClient.setPeers(directory.clusterUrls());
  });
  let noticeRemoval: (why: string) => void = () => {};
  const removed = new Promise<string>((resolve) => (noticeRemoval = resolve));
  const raft = new RaftNode({
    config: { ...defaultRaftConfig, electionTicks: config.electionTicks, id: config.id, randomInt: (n) => randomInt(n) },
    membership: entry.membership,
    ...(entry.joinedAt === undefined ? {} : { joinedAt: entry.joinedAt }),
    onMembership: (view) => {
      members.update(view.membership);
      if (view.removed) noticeRemoval(`node ${config.id}: removed from the cluster by the membership change at index ${view.index}`);
    },
    store,
    stateMachine,
    snapshots,
    transport,
    tickMs: config.tickMs,
    snapshotEntriesThreshold: config.snapshotEntries,
    requestTimeoutMs: config.requestTimeoutMs,
    onStage: (stage, seconds) => metrics.raftStageSeconds.observe({ stage, role: raftRef?.softState().role ?? 'follower' }, seconds),
    onCompacted: (_meta, withFile) => metrics.logCompactions.inc({ snapshot_file: withFile ? 'yes' : 'no' }),
  });
  raftRef = raft;
  members.update(raft.membership().membership);
  if (raft.membership().removed) noticeRemoval(`node ${config.id}: removed from the cluster by the membership change at index ${raft.membership().index}`);
  const blobStats = cached(blobStatsTtlMs, () => blobs.stats());
  const uploadMemory = new UploadMemoryBudget(config.uploadMemoryMax);
  const downloadMemory = new UploadMemoryBudget(config.downloadMemoryMax);
  metrics.observe({
    raftStatus: () => raft.status(),
    appliedIndex: () => metadata.appliedIndex(),
    fileStats: () => metadata.stats(),
    blobStats,
    repairQueue: () => chunks.repairer.stats(),
    gcProtected: () => ({ uploads: guard.heldCount, pushes: guard.pushedCount }),
    receivedSnapshots: () => raft.receivedSnapshotCount(),
    uploadMemory: () => ({ bytesInUse: uploadMemory.bytesInUse, bytesMax: uploadMemory.bytesMax }),
    downloadMemory: () => ({ bytesInUse: downloadMemory.bytesInUse, bytesMax: downloadMemory.bytesMax }),
  });
  const ctx: NodeContext = {
    config,
    raft,
    metadata,
    blobs,
    blobClient,
    hlc: new HybridLogicalClock(),
    members,
    placement,
    metrics,
    chunkGuard: guard,
    repairer: chunks.repairer,
    scrubber: chunks.scrubber,
    promotion: { waiting: null },
    uploadMemory,
    downloadMemory,
    // As many as one upload holds in its window and fills: what an idle node keeps after uploads.
    chunkBuffers: new ChunkBuffers(config.chunkSize, config.uploadWindowChunks + 1),
  };

  const clusterApp = new Hono();
  clusterApp.use('*', httpMetrics(metrics, 'cluster'));
  clusterApp.use('*', clusterAuth({ secret: config.clusterSecret }));
  clusterApp.onError((err, c) => {
    stopOnAssertion(err, `cluster port ${c.req.method} ${c.req.path}`);
    return c.json({ error: { code: 'internal', message: err.message } }, 500);
  });
  clusterApp.route(
    '/',
    raftRoutes({
      selfId: config.id,
      // Any node whose address this one knows: members, and removed ones (they learn their removal).
      isMember: (id) => members.urlsOf(id) !== undefined,
      deliver: (m, snapshotPath) => raft.deliver(m, snapshotPath),
      snapshotSink: (m) => ({ path: snapshots.incomingPath(m.snapshot) }),
      snapshotProblem: (path, m) => metadataSnapshotProblem(path, m.snapshot),
    }),
  );
  clusterApp.route('/', blobRoutes({ store: blobs, onPush: (hash) => guard.notePush(hash) }));

  raft.start();
  const timeouts = { idleTimeoutMs: config.idleTimeoutMs, headersTimeoutMs: config.headersTimeoutMs };
  const cluster: ClusterServer = await startClusterServer({ host: config.host, port: config.clusterPort, app: clusterApp, tls: config.tls, ...timeouts });
  const client = await listen({ app: clientApp(ctx), host: config.host, port: config.clientPort, tls: config.tls, ...timeouts });
  const clientPort = (client.address() as { port: number }).port;
  chunks.start();
  const uploadExpiry = startUploadExpiry(ctx, new MultipartService(ctx, new FileService(ctx)));
  const placementTasks = startPlacementTasks(ctx);
  const promotion = entry.joinedAt !== undefined && !entry.staysLearner ? startLearnerPromotion(ctx, entry.joinedAt) : null;

  const stop = async (): Promise<void> => {
    // Stop accepting, then hand leadership over at once, so the cluster does not wait out an
    // election timeout nor this node's drain: in-flight proposals either commit under the new
    // leader (the target had caught up) or fail and are retried by their clients.
    const clientClosed = new Promise<void>((resolve) => client.close(() => resolve()));
    client.closeIdleConnections();
    promotion?.stop();
    placementTasks.stop();
    const deadline = Date.now() + 2000;
    let transferring = false;
    while (raft.status().role === 'leader' && Date.now() < deadline) {
      if (!transferring || raft.status().transferTarget === null) {
        const target = raft.bestTransferTarget();
        transferring = target !== null && (await raft.transferLeadership(target));
      }
      await sleep(10);
    }
    // In-flight requests get a few seconds to finish; keep-alive connections close as they go idle.
    const drainDeadline = Date.now() + 3000;
    let drained = false;
    void clientClosed.then(() => (drained = true));
    while (!drained && Date.now() < drainDeadline) {
      client.closeIdleConnections();
      await sleep(25);
    }
    // Writes still waiting on Raft are answered (503 outcome_unknown) before connections close.
    raft.stop();
    await Promise.race([clientClosed, sleep(answerFlushMs)]);
    client.closeAllConnections();
    await uploadExpiry.stop();
    await chunks.stop();
    await Promise.all([cluster.close(), transport.close(), blobClient.close()]);
    await checkpointer.stop();
    store.close();
    database.sqlite.close();
  };
  return { ctx, clientPort, clusterPort: cluster.port, removed, stop };
}
