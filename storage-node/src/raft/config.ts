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
  /**
   * Accept a membership change while another is uncommitted, and before the leader committed an
   * entry of its term (both keep changes one at a time; two changes can have disjoint majorities).
   */
  readonly concurrentMembershipChanges?: boolean;
  /** Count learners' copies towards a commit, as if they were voters. */
  readonly countLearnerAcks?: boolean;
  /** Keep the membership of a truncated, uncommitted config entry instead of the log's latest (§4.1). */
  readonly keepConfigOnTruncation?: boolean;
  /** Let a node re-added under its old id vote and campaign on configurations from before it joined. */
  readonly ignoreJoinedAt?: boolean;
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
  /**
   * A learner is promoted only when its log is at most this many entries behind the leader's
   * last index (etcd's rule): a voter far behind would stall commits while it catches up.
   */
  readonly learnerCatchUpEntriesMax: number;
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
  learnerCatchUpEntriesMax: 100,
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
  /**
   * The membership at index 0, used when there is no snapshot: a new cluster's voters, or no
   * one for a node that joins an existing cluster (it learns the membership from the log).
   */
  readonly membership: Membership;
  /**
   * For a node that joined a running cluster: the index of the config entry that added it (0
   * for the founders). A node re-added under the same id replays the log of its earlier
   * incarnation, removal included; only a removal after this index means it was removed.
   */
  readonly joinedAt?: number;
}

export function freshInitialState(voters: readonly NodeId[]): RaftInitialState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: null,
    entries: [],
    applied: 0,
    membership: { voters: [...voters], learners: [] },
  };
}

/**
 * A node that joins a running cluster: an empty log, no membership (so it never campaigns), and
 * the index of the config entry that added it as a learner (the leader's answer to its join).
 */
export function joiningInitialState(joinedAt: number): RaftInitialState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: null,
    entries: [],
    applied: 0,
    membership: { voters: [], learners: [] },
    joinedAt,
  };
}
