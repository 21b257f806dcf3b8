import type { Entry, HardState, Membership, NodeId, SnapshotMeta } from './types.ts';

/**
 * Safety rules a test may switch off, one at a time, to show that the simulation's checkers
 * catch the violation that follows. Never set in production code.
 */
export interface UnsafeRules {
  /** Grant votes without checking that the candidate's log is at least as up to date (§5.4.1). */
  readonly voteWithoutLogCheck?: boolean;
  /** Commit an entry of an earlier term by counting replicas (the mistake of figure 8, §5.4.2). */
  readonly commitPreviousTermByCount?: boolean;
  /** Answer a ReadIndex at once, without the heartbeat round that confirms leadership (§6.4). */
  readonly readIndexWithoutHeartbeat?: boolean;
  /** Let a follower accept entries without checking prevLogIndex/prevLogTerm (§5.3). */
  readonly appendWithoutLogMatch?: boolean;
  /** Let a leader count its own entries towards a commit before they are durable (§10.2.1). */
  readonly countUnsyncedOwnLog?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Base election timeout in ticks; each timeout is drawn from [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  /** Ticks between heartbeats from a leader. Must be well below electionTicks. */
  readonly heartbeatTicks: number;
  /** The largest AppendEntries payload, in bytes of entry data (at least one entry is sent). */
  readonly appendBatchBytesMax: number;
  /** AppendEntries messages in flight to one follower before the leader waits for acks. */
  readonly inflightMessagesMax: number;
  /** Bytes of proposed but uncommitted entry data a leader accepts before refusing proposals. */
  readonly uncommittedBytesMax: number;
  /** Bytes of committed entries handed out in one Ready (at least one entry). */
  readonly applyBatchBytesMax: number;
  /** Pending ReadIndex requests a core holds before it fails new ones. */
  readonly pendingReadsMax: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Injected randomness: an integer in [0, n). Seeded in simulations, so runs replay exactly. */
  readonly randomInt: (n: number) => number;
  readonly unsafe?: UnsafeRules;
}

export const defaultRaftConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  appendBatchBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  uncommittedBytesMax: 64 * 1024 * 1024,
  applyBatchBytesMax: 4 * 1024 * 1024,
  pendingReadsMax: 10_000,
  preVote: true,
  checkQuorum: true,
} as const;

/** What a core starts from: a fresh cluster, or what durable storage held at a restart. */
export interface RaftInitialState {
  readonly hardState: HardState;
  /** The latest snapshot, or null when the log starts at index 1. */
  readonly snapshot: SnapshotMeta | null;
  /** The log entries after the snapshot (or from index 1), contiguous and in order. */
  readonly entries: readonly Entry[];
  /**
   * The highest index whose effects the state machine already holds durably (it records its
   * applied index with its state). The core hands out committed entries after it.
   */
  readonly applied: number;
  /** The membership when there is no snapshot (a new cluster's voters). */
  readonly membership: Membership;
}

export function freshInitialState(voters: readonly NodeId[]): RaftInitialState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: null,
    entries: [],
    applied: 0,
    membership: { voters: [...voters] },
  };
}
