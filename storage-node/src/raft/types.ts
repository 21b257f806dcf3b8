// Data types of the Raft core. Everything here is plain, readonly data: the core takes it in
// through step() and hands it out through ready(); the driver persists, sends and applies it.

export type NodeId = string;

/** The role a core plays. `preCandidate` is the pre-vote phase (dissertation §9.6). */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/**
 * `normal` carries application data; `noop` is the entry a new leader appends so that it can
 * commit entries of earlier terms (paper §5.4.2, §8); `config` carries a new membership (its
 * data is the whole membership as JSON, see membership.ts; state machines skip it).
 */
export type EntryType = 'normal' | 'noop' | 'config';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque to the core (a JSON command for the metadata state machine). Empty for a noop. */
  readonly data: string;
}

/** What must be durable before the core may rely on it after a restart (paper figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** The cluster membership (see membership.ts for how it changes). */
export interface Membership {
  readonly voters: readonly NodeId[];
  /**
   * Non-voting members: they receive the log but count for no quorum and never campaign.
   * Absent (none) in memberships written before learners existed.
   */
  readonly learners?: readonly NodeId[];
  /**
   * Where each member can be reached, as its driver spells it (e.g. its cluster URL): opaque to
   * the core, carried in config entries and snapshots so every node learns a new member's
   * address with the change that adds it. Absent when the members were given at start.
   */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/**
 * A snapshot as the core sees it: which prefix of the log it replaces. The bytes never pass
 * through the core: the application writes them, and the transport streams them in chunks
 * alongside the InstallSnapshot message that names them.
 */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Pre-vote: "would you vote for me at `term`?" Sent without raising our own term. */
export interface PreVoteMessage extends MessageBase {
  readonly type: 'PreVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

export interface PreVoteResponseMessage extends MessageBase {
  readonly type: 'PreVoteResponse';
  readonly granted: boolean;
}

export interface RequestVoteMessage extends MessageBase {
  readonly type: 'RequestVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set by a leadership transfer: voters ignore their leader lease for it. */
  readonly transfer: boolean;
}

export interface RequestVoteResponseMessage extends MessageBase {
  readonly type: 'RequestVoteResponse';
  readonly granted: boolean;
}

export interface AppendEntriesMessage extends MessageBase {
  readonly type: 'AppendEntries';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendEntriesResponseMessage extends MessageBase {
  readonly type: 'AppendEntriesResponse';
  readonly success: boolean;
  /** On success: the index of the last entry the follower now holds that matches the leader. */
  readonly matchIndex: number;
  /** On failure: the prevLogIndex that did not match, so the leader can discard stale rejections. */
  readonly rejectedIndex: number;
  /** On failure: fast backtracking hints (dissertation §5.3, "conflictIndex/conflictTerm"). */
  readonly conflictIndex: number;
  readonly conflictTerm: number;
}

/**
 * Heartbeats carry the commit index the follower may use and a sequence number that ReadIndex
 * uses to confirm leadership: a read waits for a quorum to ack a sequence sent after it arrived.
 */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'Heartbeat';
  readonly commit: number;
  readonly seq: number;
}

export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: 'HeartbeatResponse';
  readonly seq: number;
  /** The follower's last log index, so the leader can resume a paused probe. */
  readonly lastLogIndex: number;
}

export interface InstallSnapshotMessage extends MessageBase {
  readonly type: 'InstallSnapshot';
  readonly snapshot: SnapshotMeta;
}

export interface InstallSnapshotResponseMessage extends MessageBase {
  readonly type: 'InstallSnapshotResponse';
  /** The index the follower's log now matches the leader's up to (0 with `success` false). */
  readonly matchIndex: number;
  readonly success: boolean;
}

/** Leadership transfer: "start an election now" (dissertation §3.10). */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'TimeoutNow';
}

/** A follower asks the leader for a read index on behalf of its clients (dissertation §6.4). */
export interface ReadIndexMessage extends MessageBase {
  readonly type: 'ReadIndex';
  readonly requestIds: readonly string[];
}

export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: 'ReadIndexResponse';
  readonly requestIds: readonly string[];
  /** The leader's commit index once its leadership was confirmed; -1 when it refused. */
  readonly readIndex: number;
}

export type Message =
  | PreVoteMessage
  | PreVoteResponseMessage
  | RequestVoteMessage
  | RequestVoteResponseMessage
  | AppendEntriesMessage
  | AppendEntriesResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | InstallSnapshotMessage
  | InstallSnapshotResponseMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

export type MessageType = Message['type'];

/** A linearizable read that became safe: serve it once the state machine has applied `index`. */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

/** Who leads, as far as this core knows; changes are reported so the driver can route requests. */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
  readonly term: number;
}

/**
 * One batch of work for the driver, in this order (see raft-node.ts):
 *  1. persist `snapshot` (if any), then `entries` (replacing any stored entries at or after the
 *     first one's index), then `hardState` (if any) — atomically and durably;
 *  2. send `messages` (they may depend on what step 1 made durable);
 *  3. restore `snapshot` into the state machine (if any), then apply `committed` in order;
 *  4. call advance(ready).
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: SnapshotMeta | null;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Reads that cannot be served now (no leader, leadership lost): the client may retry. */
  readonly failedReads: readonly string[];
  readonly softState: SoftState | null;
}

/** Why a proposal or a request was refused. */
export type RefusalReason = 'notLeader' | 'transferring' | 'tooManyPending' | 'tooLarge';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: RefusalReason; readonly leaderId: NodeId | null };
