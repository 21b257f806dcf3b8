// What the HTTP layer needs of a running node: its settings and the parts it drives.
import type { ChunkBuffers } from '../files/chunk-buffers.ts';
import type { HybridLogicalClock } from '../../../shared/hlc.ts';
import type { BlobClient } from '../blobs/blob-client.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { ChunkGuard } from '../chunks/chunk-guard.ts';
import type { ChunkRepairer } from '../chunks/chunk-repairer.ts';
import type { Scrubber } from '../chunks/scrubber.ts';
import type { UploadMemoryBudget } from '../files/upload-memory.ts';
import type { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import type { NodeMetrics } from '../metrics/node-metrics.ts';
import type { RaftNode } from '../raft-node/raft-node.ts';
import type { MemberDirectory } from '../cluster/member-directory.ts';
import type { Placement } from '../placement/placement.ts';
import type { NodeConfig, PeerInfo } from './config.ts';

export interface NodeContext {
  readonly config: NodeConfig;
  readonly raft: RaftNode;
  readonly metadata: MetadataStateMachine;
  readonly blobs: BlobStore;
  readonly blobClient: BlobClient;
  readonly hlc: HybridLogicalClock;
  readonly metrics: NodeMetrics;
  /** Chunks the collector must leave alone: uploads in flight here, recent pushes. */
  readonly chunkGuard: ChunkGuard;
  /** Background fetching of chunks this node lacks. */
  readonly repairer: ChunkRepairer;
  /** Background re-verification of stored chunks. */
  readonly scrubber: Scrubber;
  /** A joining node's wait for its promotion to voter: why it is not asking yet (null: not waiting). */
  readonly promotion: { waiting: string | null };
  /** The node-wide bound on memory held by uploads. */
  readonly uploadMemory: UploadMemoryBudget;
  /** Bytes held by reads of chunked files (the same kind of budget, never refusing: reads wait). */
  readonly downloadMemory: UploadMemoryBudget;
  /** Chunk buffers reused by uploads. */
  readonly chunkBuffers: ChunkBuffers;
  /** The members and their addresses, as the Raft log has them now. */
  readonly members: MemberDirectory;
  /** Which members hold which chunk (rendezvous over the members, the replication setting). */
  readonly placement: Placement;
}

export function isLeader(ctx: NodeContext): boolean {
  return ctx.raft.softState().role === 'leader';
}

/** The leader as this node knows it (null: none known, or itself when it leads). */
export function knownLeader(ctx: NodeContext): PeerInfo | null {
  const leaderId = ctx.raft.softState().leaderId;
  const urls = leaderId === null ? undefined : ctx.members.urlsOf(leaderId);
  return leaderId === null || urls === undefined ? null : { id: leaderId, ...urls };
}
