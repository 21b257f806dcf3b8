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
import type { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import type { NodeMetrics } from '../metrics/node-metrics.ts';
import type { NodeConfig } from './config.ts';
import { PeriodicTask } from './periodic-task.ts';

/**
 * A chunk an applied entry refers to is checked this long after the apply: a push of it from the
 * leader (which needs only a majority before proposing) may still be on its way here.
 */
export const appliedChunkRepairDelayMs = 1000;

export interface ChunkMaintenanceOptions {
  readonly config: NodeConfig;
  readonly metadata: MetadataStateMachine;
  readonly blobs: BlobStore;
  readonly blobClient: BlobClient;
  readonly metrics: NodeMetrics;
  /** The other members now (membership changes at runtime). */
  readonly otherIds: () => readonly string[];
  readonly guard: ChunkGuard;
  /** False while this node may be behind the leader: then the collector waits. */
  readonly isCaughtUp: () => boolean;
}

export interface ChunkMaintenance {
  readonly repairer: ChunkRepairer;
  readonly collector: ChunkCollector;
  /** Starts the collector's timer and a start-up repair scan. */
  start(): void;
  stop(): Promise<void>;
}

export function chunkMaintenance(options: ChunkMaintenanceOptions): ChunkMaintenance {
  const { config, metadata, blobs, blobClient, metrics, otherIds, guard } = options;
  let turn = 0;
  const fetchFromPeers = async (hash: string): Promise<Buffer | null> => {
    // Start with a different peer each time, so repairs spread over the cluster.
    const others = otherIds();
    const start = turn++ % Math.max(1, others.length);
    const peers = [...others.slice(start), ...others.slice(0, start)];
    try {
      const data = await blobClient.fetchFromAny(hash, peers);
      metrics.chunkFetches.inc({ reason: 'repair', result: data === null ? 'missing' : 'ok' });
      return data;
    } catch (err) {
      metrics.chunkFetches.inc({ reason: 'repair', result: 'error' });
      throw err;
    }
  };
  const repairer = new ChunkRepairer({
    has: (hash) => blobs.has(hash),
    write: (hash, data) => blobs.writeChunk(hash, data),
    fetch: fetchFromPeers,
    isWanted: (hash) => metadata.hasChunkRef(hash),
    listReferenced: (after, limit) => metadata.referencedChunks({ after, limit }).map((row) => row.hash),
    concurrency: config.repairConcurrency,
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
  const gc = new PeriodicTask(
    config.gcIntervalMs,
    async () => {
      const result = await collector.collect();
      metrics.gcRuns.inc({ result: result.ran ? 'ran' : 'skipped' });
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
    start: () => {
      gc.start();
      void repairer.scan();
    },
    stop: async () => {
      repairer.stop();
      await gc.stop();
    },
  };
}
