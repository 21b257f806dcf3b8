// The node's background care of its chunks: repair (fetch what kept versions need and this node
// lacks: after each apply, after a snapshot restore, at start-up) and garbage collection (on a
// timer), with their metrics. The metadata state machine and the blob store call in through
// enqueue hooks wired in storage-node.ts.
import { stopOnAssertion } from '../../../shared/assert.ts';
import type { BlobClient } from '../blobs/blob-client.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { ChunkCollector } from '../chunks/chunk-collector.ts';
import type { ChunkGuard } from '../chunks/chunk-guard.ts';
import { ChunkRepairer } from '../chunks/chunk-repairer.ts';
import { MisplacedCollector } from '../chunks/misplaced-collector.ts';
import { Scrubber } from '../chunks/scrubber.ts';
import { RateLimit } from '../chunks/rate-limit.ts';
import { holdersIn, type Placement, type PlacementView } from '../placement/placement.ts';
import { repairPriority, type RepairPriority } from '../chunks/repair-priority.ts';
import type { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import type { NodeMetrics } from '../metrics/node-metrics.ts';
import type { NodeConfig } from './config.ts';
import { PeriodicTask } from './periodic-task.ts';
import { StopSwitch } from './stop-switch.ts';

/**
 * A chunk an applied entry refers to is checked this long after the apply: a push of it from the
 * leader (which needs only a majority before proposing) may still be on its way here.
 */
export const appliedChunkRepairDelayMs = 1000;

/** How often placement is looked at for a change (a member joined or left, a new setting). */
export const placementCheckMs = 1000;

export interface ChunkMaintenanceOptions {
  readonly config: NodeConfig;
  readonly metadata: MetadataStateMachine;
  readonly blobs: BlobStore;
  readonly blobClient: BlobClient;
  readonly metrics: NodeMetrics;
  /** Which members hold which chunk (changes with the membership and the setting). */
  readonly placement: Placement;
  readonly guard: ChunkGuard;
  /** False while this node may be behind the leader: then the collector waits. */
  readonly isCaughtUp: () => boolean;
}

export interface ChunkMaintenance {
  readonly repairer: ChunkRepairer;
  readonly collector: ChunkCollector;
  readonly misplaced: MisplacedCollector;
  readonly scrubber: Scrubber;
  /** Starts the collector's timer and a start-up repair scan. */
  start(): void;
  stop(): Promise<void>;
}

export function chunkMaintenance(options: ChunkMaintenanceOptions): ChunkMaintenance {
  const { config, metadata, blobs, blobClient, metrics, placement, guard } = options;
  let turn = 0;
  // --repair-rate: re-replication after a loss must not starve clients of disk and network.
  const repairRate = new RateLimit(config.repairRate);
  const fetchFromPeers = async (hash: string): Promise<Buffer | null> => {
    // The other holders first, starting with a different one each time so repairs spread over
    // the cluster; then everyone else (a copy left on a former holder).
    const sources = placement.sources(hash);
    const holders = sources.slice(0, Math.max(0, placement.replication() - 1));
    const start = turn++ % Math.max(1, holders.length);
    const peers = [...holders.slice(start), ...holders.slice(0, start), ...sources.slice(holders.length)];
    try {
      const data = await blobClient.fetchFromAny(hash, peers);
      if (data !== null) await repairRate.take(data.length);
      metrics.chunkFetches.inc({ reason: 'repair', result: data === null ? 'missing' : 'ok' });
      return data;
    } catch (err) {
      metrics.chunkFetches.inc({ reason: 'repair', result: 'error' });
      throw err;
    }
  };
  // The placement every chunk was last fully repaired under: where the copies are believed to be.
  // A change while repair still fetches (something queued or in flight) keeps the earlier one,
  // whose copies are the ones known to exist; see repair-priority.ts. (Hashes waiting out their
  // delay after an apply do not count: under steady writes there always are some.)
  let settled: PlacementView = placement.view();
  const priorityOf = (hash: string): RepairPriority => {
    const down = new Set(placement.down());
    const alive = new Set(placement.memberIds().filter((id) => !down.has(id)));
    return repairPriority(holdersIn(settled, hash, placement.selfId), alive, placement.selfId);
  };
  const repairer = new ChunkRepairer({
    has: (hash) => blobs.has(hash),
    write: (hash, data) => blobs.writeChunk(hash, data),
    fetch: fetchFromPeers,
    // Only chunks this node holds: the others' copies live elsewhere.
    isWanted: (hash) => metadata.hasChunkRef(hash) && placement.isHolder(hash),
    listReferenced: (after, limit) => metadata.referencedChunks({ after, limit }).map((row) => row.hash),
    concurrency: config.repairConcurrency,
    priorityOf,
    onOutcome: (outcome, hash) => {
      metrics.chunkRepairs.inc({ outcome });
      if (outcome === 'gave_up') console.warn(`node ${config.id}: chunk ${hash} could not be fetched from any peer; a later scan retries`);
    },
    onScanError: (err) => {
      stopOnAssertion(err, 'chunk repair scan'); // a broken invariant stops the node
      console.error(`node ${config.id}: repair scan failed:`, err);
    },
  });
  const collector = new ChunkCollector({
    blobs,
    metadata,
    guard,
    graceMs: config.gcGraceMs,
    mayCollect: options.isCaughtUp,
    onDeleted: (_hash, bytes) => {
      metrics.gcDeletedChunks.inc();
      metrics.gcDeletedBytes.inc(bytes);
    },
  });
  // Shutdown must not wait out a pass of HEADs to peers (see stop-switch.ts).
  const stopSwitch = new StopSwitch();
  const misplaced = new MisplacedCollector({
    blobs,
    metadata,
    placement,
    blobClient: stopSwitch.has(blobClient),
    guard,
    mayCollect: () => !stopSwitch.stopping && options.isCaughtUp(),
    onDeleted: (_hash, bytes) => {
      metrics.gcDeletedChunks.inc();
      metrics.gcDeletedBytes.inc(bytes);
    },
  });
  // A change of placement moves chunks: this node fetches what it now holds (a scan), and the
  // misplaced collector later drops what it no longer holds.
  let placementSeen = placement.signature();
  let viewSeen = placement.view();
  const placementWatch = new PeriodicTask(
    placementCheckMs,
    async () => {
      const now = placement.signature();
      if (now === placementSeen) return;
      const queue = repairer.stats();
      if (queue.queued + queue.inFlight === 0) settled = viewSeen;
      placementSeen = now;
      viewSeen = placement.view();
      await repairer.scan();
    },
    (err) => console.error(`node ${config.id}: placement check failed:`, err),
  );
  // A corrupt copy is quarantined by the store, whose onQuarantined hook queues its repair.
  const scrubber = new Scrubber({
    blobs,
    bytesPerSecond: config.scrubRate,
    intervalMs: config.scrubIntervalMs,
    onCorrupt: (hash) => console.warn(`node ${config.id}: scrub found chunk ${hash} corrupt; fetching a good copy`),
    // Chunks this node should hold and lacks (deleted behind its back, a repair that gave up).
    afterPass: () => repairer.scan(),
  });
  const gc = new PeriodicTask(
    config.gcIntervalMs,
    async () => {
      const result = await collector.collect();
      metrics.gcRuns.inc({ result: result.ran ? 'ran' : 'skipped' });
      await misplaced.collect();
    },
    (err) => {
      stopOnAssertion(err, 'garbage collection'); // a broken invariant stops the node
      metrics.gcRuns.inc({ result: 'failed' });
      console.error(`node ${config.id}: garbage collection failed:`, err);
    },
  );
  return {
    repairer,
    collector,
    misplaced,
    scrubber,
    start: () => {
      gc.start();
      scrubber.start();
      placementWatch.start();
      void repairer.scan();
    },
    stop: async () => {
      stopSwitch.trip();
      repairer.stop();
      await placementWatch.stop();
      await scrubber.stop();
      await gc.stop();
    },
  };
}
