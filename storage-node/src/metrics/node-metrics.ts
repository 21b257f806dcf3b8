// The node's Prometheus metrics (one registry per node, so nodes in one process stay apart).
// Counters and histograms are fed by the parts that do the work; gauges are read at scrape time
// from the sources given to observe().
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RaftStatus } from '../raft/raft-core.ts';
import type { Role } from '../raft/types.ts';

export const metricsPrefix = 'dfs_';
const roles: readonly Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];
/** Seconds: from a fast SQLite batch to a slow disk. */
const applyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Seconds: the Raft path's stages, from a microsecond of bookkeeping to a stalled disk. */
/** A chunk stage: a 4 MiB hash is milliseconds, a push over a busy disk can be a second. */
const chunkStageBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const stageBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const requestBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the scrape-time gauges read. */
export interface MetricSources {
  readonly raftStatus: () => RaftStatus;
  readonly appliedIndex: () => number;
  readonly fileStats: () => { files: number; bytes: number };
  /** May be cached: walking the blob directory is O(chunks). */
  readonly blobStats: () => Promise<{ count: number; bytes: number }>;
  readonly repairQueue: () => { queued: number; waiting: number; inFlight: number; lostCopy: number; rebalance: number };
  readonly gcProtected: () => { uploads: number; pushes: number };
  /** Snapshot files received from a leader, waiting for the core's verdict. */
  readonly receivedSnapshots?: () => number;
  readonly uploadMemory: () => { bytesInUse: number; bytesMax: number };
  readonly downloadMemory: () => { bytesInUse: number; bytesMax: number };
}

export type ChunkFetchReason = 'read' | 'repair';
export type ChunkFetchResult = 'ok' | 'missing' | 'error';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals: Counter<'op'>;
  readonly proposalsFailed: Counter<'op' | 'reason'>;
  readonly proposalSeconds: Histogram<'op'>;
  readonly applySeconds: Histogram;
  readonly metaCheckpointSeconds: Histogram;
  readonly metaCheckpointFrames: Counter;
  readonly raftStageSeconds: Histogram<'stage' | 'role'>;
  readonly logCompactions: Counter<'snapshot_file'>;
  readonly chunkStageSeconds: Histogram<'stage'>;
  readonly multipartDigestSeconds: Histogram<'parts_left'>;
  readonly transportQueueSeconds: Histogram;
  readonly appliedEntries: Counter;
  readonly chunkFetches: Counter<'reason' | 'result'>;
  readonly chunkRepairs: Counter<'outcome'>;
  readonly chunksQuarantined: Counter;
  readonly chunkPushes: Counter<'result'>;
  readonly gcRuns: Counter<'result'>;
  readonly gcDeletedChunks: Counter;
  readonly gcDeletedBytes: Counter;
  readonly httpRequests: Counter<'api' | 'route' | 'method' | 'status'>;
  readonly httpSeconds: Histogram<'api' | 'route' | 'method'>;
  readonly uploadsRefused: Counter<'reason'>;

  constructor() {
    const registers = [this.registry];
    const name = (suffix: string) => `${metricsPrefix}${suffix}`;
    this.proposals = new Counter({ name: name('raft_proposals_total'), help: 'Raft proposals made by this node', labelNames: ['op'], registers });
    this.proposalsFailed = new Counter({
      name: name('raft_proposals_failed_total'),
      help: 'Proposals that did not commit (not leader, lost to a new leader, timed out)',
      labelNames: ['op', 'reason'],
      registers,
    });
    this.proposalSeconds = new Histogram({
      name: name('raft_proposal_duration_seconds'),
      help: 'From proposing an entry to its being applied here',
      labelNames: ['op'],
      buckets: requestBuckets,
      registers,
    });
    this.applySeconds = new Histogram({ name: name('raft_apply_duration_seconds'), help: 'Applying one batch of committed entries to the state machine', buckets: applyBuckets, registers });
    this.metaCheckpointSeconds = new Histogram({
      name: name('meta_checkpoint_duration_seconds'),
      help: "meta.db WAL checkpoints: on the checkpointer's thread (on=\"worker\"), or finished on the node's connection so that the WAL restarts (on=\"connection\")",
      labelNames: ['on'],
      buckets: applyBuckets,
      registers,
    });
    this.metaCheckpointFrames = new Counter({ name: name('meta_checkpoint_frames_total'), help: 'WAL frames copied into meta.db by checkpoints', registers });
    this.raftStageSeconds = new Histogram({
      name: name('raft_stage_duration_seconds'),
      help: 'Time spent in each stage of the Raft path (ready_wait, log_fsync, send, commit, read_index; applying: raft_apply_duration_seconds), by the role the node had',
      labelNames: ['stage', 'role'],
      buckets: stageBuckets,
      registers,
    });
    this.logCompactions = new Counter({
      name: name('raft_log_compactions_total'),
      help: 'Times the Raft log was cut: in place (snapshot_file="no", meta.db covers it) or at a snapshot file written for a follower that needs one ("yes")',
      labelNames: ['snapshot_file'],
      registers,
    });
    this.chunkStageSeconds = new Histogram({
      name: name('chunk_stage_duration_seconds'),
      help: 'Time per chunk in each stage of the data path (body_fill, hash, window_wait, local_write, push, majority; store_write, store_fsync, store_install, store_read, store_verify)',
      labelNames: ['stage'],
      buckets: chunkStageBuckets,
      registers,
    });
    this.multipartDigestSeconds = new Histogram({
      name: name('multipart_digest_duration_seconds'),
      help: 'How long CompleteMultipartUpload spent on the content\'s SHA-256: waiting for the running digest, then hashing the parts it had not covered (parts_left none|some)',
      labelNames: ['parts_left'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.transportQueueSeconds = new Histogram({
      name: name('raft_transport_queue_seconds'),
      help: 'How long Raft messages waited in a peer\'s queue before its stream took them',
      buckets: stageBuckets,
      registers,
    });
    this.appliedEntries = new Counter({ name: name('raft_applied_entries_total'), help: 'Entries applied to the state machine', registers });
    this.chunkFetches = new Counter({
      name: name('chunk_fetches_total'),
      help: 'Chunks fetched from peers, by why (read: serving a read, repair: background repair) and how it went',
      labelNames: ['reason', 'result'],
      registers,
    });
    this.chunkRepairs = new Counter({ name: name('chunk_repairs_total'), help: 'Background repair checks by outcome', labelNames: ['outcome'], registers });
    this.chunksQuarantined = new Counter({ name: name('chunks_quarantined_total'), help: 'Stored chunks that failed verification and were quarantined', registers });
    this.chunkPushes = new Counter({ name: name('chunk_pushes_total'), help: 'Chunk pushes to peers during uploads', labelNames: ['result'], registers });
    this.gcRuns = new Counter({ name: name('gc_runs_total'), help: 'Garbage collection passes (skipped: too early or not caught up)', labelNames: ['result'], registers });
    this.gcDeletedChunks = new Counter({ name: name('gc_deleted_chunks_total'), help: 'Chunks deleted by garbage collection', registers });
    this.gcDeletedBytes = new Counter({ name: name('gc_deleted_bytes_total'), help: 'Bytes of chunks deleted by garbage collection', registers });
    this.httpRequests = new Counter({
      name: name('http_requests_total'),
      help: 'HTTP requests by listener (client or cluster), route pattern, method and status',
      labelNames: ['api', 'route', 'method', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: name('http_request_duration_seconds'),
      help: 'Time until the response headers (streamed bodies continue after)',
      labelNames: ['api', 'route', 'method'],
      buckets: requestBuckets,
      registers,
    });
    this.uploadsRefused = new Counter({
      name: name('uploads_refused_total'),
      help: 'Uploads refused before reading their body (busy: the upload memory budget was spent)',
      labelNames: ['reason'],
      registers,
    });
    // Zero series, so that dashboards and alerts see them before the first event.
    for (const op of ['put', 'delete']) {
      this.proposals.inc({ op }, 0);
      this.proposalsFailed.inc({ op, reason: 'not_leader' }, 0);
    }
    for (const reason of ['read', 'repair']) for (const result of ['ok', 'missing', 'error']) this.chunkFetches.inc({ reason, result }, 0);
    for (const outcome of ['repaired', 'present', 'unwanted', 'retry', 'gave_up', 'overflow']) this.chunkRepairs.inc({ outcome }, 0);
    for (const result of ['ok', 'failed', 'aborted']) this.chunkPushes.inc({ result }, 0);
    for (const result of ['ran', 'skipped', 'failed']) this.gcRuns.inc({ result }, 0);
    this.uploadsRefused.inc({ reason: 'busy' }, 0);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Registers the gauges read at scrape time. Call once, when the node's parts exist. */
  observe(sources: MetricSources): void {
    const registers = [this.registry];
    const name = (suffix: string) => `${metricsPrefix}${suffix}`;
    const gauge = (suffix: string, help: string, read: () => number) =>
      new Gauge({
        name: name(suffix),
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('raft_term', 'Current Raft term', () => sources.raftStatus().term);
    gauge('raft_commit_index', 'Highest log index known committed', () => sources.raftStatus().commit);
    gauge('raft_applied_index', 'Highest log index applied to the state machine', () => sources.appliedIndex());
    gauge('raft_last_log_index', 'Index of the last entry in the log', () => sources.raftStatus().lastIndex);
    gauge('raft_snapshot_index', 'Index the log was last compacted at (0 before the first compaction)', () => sources.raftStatus().snapshot?.index ?? 0);
    gauge('raft_is_leader', '1 when this node is the leader', () => Number(sources.raftStatus().role === 'leader'));
    new Gauge({
      name: name('raft_role'),
      help: 'The role this node plays: 1 for the current role, 0 for the others',
      labelNames: ['role'],
      registers,
      collect() {
        const role = sources.raftStatus().role;
        for (const r of roles) this.set({ role: r }, Number(r === role));
      },
    });
    const receivedSnapshots = sources.receivedSnapshots;
    if (receivedSnapshots !== undefined) {
      gauge('raft_received_snapshots', 'Snapshots received from a leader and held (with their files) until the core adopts or refuses them', receivedSnapshots);
    }
    gauge('upload_memory_bytes', 'Bytes of upload memory held now: chunk buffers being filled or pushed, small bodies read whole', () => sources.uploadMemory().bytesInUse);
    gauge('upload_memory_max_bytes', 'The node-wide upload memory budget (--upload-memory-max)', () => sources.uploadMemory().bytesMax);
    gauge('download_memory_bytes', 'Bytes of verified chunks held now by reads of chunked files (going out, or read ahead)', () => sources.downloadMemory().bytesInUse);
    gauge('download_memory_max_bytes', 'The node-wide download memory budget (--download-memory-max)', () => sources.downloadMemory().bytesMax);
    gauge('files', 'Live files', () => sources.fileStats().files);
    gauge('file_bytes', 'Bytes of the current versions of live files', () => sources.fileStats().bytes);
    new Gauge({
      name: name('blob_stored_bytes'),
      help: 'Bytes of chunk files in this node\'s blob store (refreshed at most every 30 s)',
      registers,
      async collect() {
        this.set((await sources.blobStats()).bytes);
      },
    });
    new Gauge({
      name: name('blob_chunks'),
      help: 'Chunk files in this node\'s blob store (refreshed at most every 30 s)',
      registers,
      async collect() {
        this.set((await sources.blobStats()).count);
      },
    });
    new Gauge({
      name: name('repair_queue_chunks'),
      help: 'Chunks tracked by background repair: queued, waiting for a retry, being fetched',
      labelNames: ['state'],
      registers,
      collect() {
        const queue = sources.repairQueue();
        this.set({ state: 'queued' }, queue.queued);
        this.set({ state: 'waiting' }, queue.waiting);
        this.set({ state: 'in_flight' }, queue.inFlight);
      },
    });
    new Gauge({
      name: name('repair_queue_priority_chunks'),
      help: 'Chunks queued or being fetched by background repair, by priority: lost_copy (a copy was lost; fewest survivors first) before rebalance (the chunk only moves)',
      labelNames: ['class'],
      registers,
      collect() {
        const queue = sources.repairQueue();
        this.set({ class: 'lost_copy' }, queue.lostCopy);
        this.set({ class: 'rebalance' }, queue.rebalance);
      },
    });
    new Gauge({
      name: name('gc_protected_chunks'),
      help: 'Chunks the collector leaves alone: held by uploads in flight here, or pushed here recently',
      labelNames: ['reason'],
      registers,
      collect() {
        const held = sources.gcProtected();
        this.set({ reason: 'upload' }, held.uploads);
        this.set({ reason: 'push' }, held.pushes);
      },
    });
  }
}
