import { assert } from '../../../shared/assert.ts';
import type { RaftConfig, RaftInitialState } from './config.ts';
import {
  applyChange,
  encodeMembership,
  isMemberOf,
  isVoterIn,
  membersOf,
  MembershipLog,
  sameMembership,
  type MembershipChange,
  type MembershipChangeResult,
  type MembershipRefusal,
} from './membership.ts';
import { Progress } from './progress.ts';
import { RaftLog } from './raft-log.ts';
import { ReadTracker } from './read-tracker.ts';
import type {
  AppendEntriesMessage,
  AppendEntriesResponseMessage,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  InstallSnapshotMessage,
  InstallSnapshotResponseMessage,
  Membership,
  Message,
  NodeId,
  PreVoteMessage,
  ProposeResult,
  ReadIndexMessage,
  ReadIndexResponseMessage,
  ReadState,
  Ready,
  RequestVoteMessage,
  Role,
  SnapshotMeta,
  SoftState,
} from './types.ts';

type OutgoingMessage = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never;

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** The log is durable through here (it lags lastIndex while a leader's write is synced). */
  readonly durableIndex: number;
  readonly lastLogTerm: number;
  readonly snapshot: SnapshotMeta | null;
  /** The configuration in effect: the latest in the log, committed or not (§4.1). */
  readonly membership: Membership;
  /** The index of the config entry `membership` comes from (the snapshot's or 0 when none). */
  readonly membershipIndex: number;
  /** A membership change is in the log but not committed: no other may start. */
  readonly membershipChangePending: boolean;
  /**
   * This node learnt that it was removed: a committed configuration after it joined leaves it
   * out. The driver should stop serving and exit. (A removed node that never received its
   * removal does not learn it here: it cannot disrupt the cluster, see membership.ts.)
   */
  readonly removed: boolean;
  readonly transferTarget: NodeId | null;
  /** The highest commit index a leader of this term told us of (ours when leading): readiness. */
  readonly leaderCommit: number;
  /** As the leader sees its followers; empty on other roles. */
  readonly progress: readonly { id: NodeId; voter: boolean; match: number; next: number; state: string; recentActive: boolean }[];
}

/** After its leader's process is known gone, a follower campaigns within this many ticks. */
const leaderDownCampaignTicksMax = 3;

/**
 * The Raft consensus algorithm as a pure, deterministic state machine (after etcd's raft):
 * inputs are tick(), step(), propose(), readIndex(), transferLeadership() and compact(); outputs
 * come out of ready() in batches the driver persists, sends and applies before advance().
 * No clock, no I/O, no randomness but the injected one: a simulation replays it from a seed.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly #config: RaftConfig;
  readonly #log: RaftLog;

  #term: number;
  #vote: NodeId | null;
  #commit: number;
  #applied: number;
  #role: Role = 'follower';
  #leaderId: NodeId | null = null;
  /** Every configuration in the log; the latest is in effect. */
  readonly #configs: MembershipLog;
  /** Only under the unsafe rule keepConfigOnTruncation: the membership a truncation should have undone. */
  #staleMembership: Membership | null = null;
  readonly #joinedAt: number;

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  /** Votes received in the current (pre-)election, by voter. */
  #votes = new Map<NodeId, boolean>();
  /** Leader only: replication state of every other member. */
  #progress = new Map<NodeId, Progress>();
  #transferTarget: NodeId | null = null;
  #transferElapsed = 0;
  #uncommittedBytes = 0;
  /** Follower: the commit index the leader's AppendEntries carried (not capped by our log). */
  #leaderCommit = 0;
  /** New entries were appended: send them to followers when the Ready is formed (batching). */
  #appendsPending = false;
  readonly #reads: ReadTracker;
  /** Follower: read requests forwarded to the leader and not yet answered. */
  #forwardedReads = new Set<string>();

  #messages: Message[] = [];
  #readStates: ReadState[] = [];
  #failedReads: string[] = [];
  #persistedHardState: HardState;
  #reportedSoftState: SoftState | null = null;
  #outstanding: Ready | null = null;
  /** The role when the outstanding Ready was made. */
  #outstandingRole: Role | null = null;

  constructor(config: RaftConfig, initial: RaftInitialState) {
    assert(config.heartbeatTicks > 0 && config.heartbeatTicks < config.electionTicks, 'heartbeatTicks must be in (0, electionTicks)');
    this.id = config.id;
    this.#config = config;
    this.#log = new RaftLog(initial.snapshot, initial.entries);
    this.#configs = new MembershipLog(initial.snapshot?.membership ?? initial.membership, this.#log.snapshotIndex, initial.entries);
    this.#joinedAt = config.unsafe?.ignoreJoinedAt ? 0 : (initial.joinedAt ?? 0);
    this.#term = initial.hardState.term;
    this.#vote = initial.hardState.vote;
    this.#applied = Math.max(initial.applied, this.#log.snapshotIndex);
    // The commit index need not be durable (figure 2 calls it volatile): whatever the state
    // machine applied was committed, so start from the higher of the two.
    this.#commit = Math.max(initial.hardState.commit, this.#applied);
    this.#persistedHardState = initial.hardState;
    this.#reads = new ReadTracker(config.pendingReadsMax);
    assert(this.#commit <= this.#log.lastIndex, `commit ${this.#commit} past the last log index ${this.#log.lastIndex}`);
    assert(this.#applied <= this.#log.lastIndex, `applied ${this.#applied} past the last log index ${this.#log.lastIndex}`);
    this.#becomeFollower(this.#term, null);
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** One unit of logical time: elections and heartbeats are counted in ticks. */
  tick(): void {
    this.#assertNoReadyOutstanding('tick');
    if (this.#role === 'leader') this.#tickLeader();
    else this.#tickElection();
  }

  step(message: Message): void {
    this.#assertNoReadyOutstanding('step');
    if (message.to !== this.id) return;
    if (message.term > this.#term) {
      if (!this.#stepHigherTerm(message)) return;
    } else if (message.term < this.#term) {
      this.#stepLowerTerm(message);
      return;
    }
    switch (message.type) {
      case 'PreVote':
      case 'RequestVote':
        this.#handleVoteRequest(message);
        return;
      case 'TimeoutNow':
        if (this.#isVoter(this.id) && this.#role !== 'leader') this.#campaign('election', true);
        return;
      case 'ReadIndex':
        this.#handleReadIndexRequest(message);
        return;
    }
    switch (this.#role) {
      case 'leader':
        this.#stepLeader(message);
        return;
      case 'preCandidate':
      case 'candidate':
        this.#stepCandidate(message);
        return;
      case 'follower':
        this.#stepFollower(message);
        return;
    }
  }

  propose(data: string): ProposeResult {
    this.#assertNoReadyOutstanding('propose');
    if (this.#role !== 'leader') return { ok: false, reason: 'notLeader', leaderId: this.#leaderId };
    if (this.#transferTarget !== null) return { ok: false, reason: 'transferring', leaderId: this.id };
    if (data.length > this.#config.uncommittedBytesMax) return { ok: false, reason: 'tooLarge', leaderId: this.id };
    if (this.#uncommittedBytes + data.length > this.#config.uncommittedBytesMax) {
      return { ok: false, reason: 'tooManyPending', leaderId: this.id };
    }
    const entry = this.#appendEntry('normal', data);
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Proposes one membership change (single-server, see membership.ts). It takes effect on every
   * node as soon as its config entry is in the log; the result's index is that entry's, and
   * the change is done once it commits. Refused while another change is uncommitted, before
   * the leader committed an entry of its term, for a change that does not fit the current
   * membership, and for promoting a learner whose log is far behind. A leader may remove
   * itself: it keeps leading (without counting itself) until the change commits, then hands
   * leadership to the most caught-up voter and steps down (dissertation §4.2.2).
   */
  proposeMembershipChange(change: MembershipChange): MembershipChangeResult {
    this.#assertNoReadyOutstanding('proposeMembershipChange');
    const refuse = (reason: MembershipRefusal, message: string): MembershipChangeResult => ({ ok: false, reason, message, leaderId: this.#leaderId });
    if (this.#role !== 'leader') return refuse('notLeader', `${this.id} is not the leader`);
    if (this.#transferTarget !== null) return refuse('transferring', `${this.id} is handing leadership to ${this.#transferTarget}`);
    if (!this.#config.unsafe?.concurrentMembershipChanges) {
      if (this.#log.term(this.#commit) !== this.#term) {
        return refuse('leaderNotReady', `the leader has not committed an entry of its term ${this.#term} yet; retry shortly`);
      }
      if (this.#configs.currentIndex > this.#commit) {
        return refuse('changePending', `the membership change at index ${this.#configs.currentIndex} is not committed yet`);
      }
    }
    const next = applyChange(this.#membership, change);
    if (!next.ok) return refuse(next.reason, next.message);
    const max = this.#config.learnerCatchUpEntriesMax;
    if (change.kind === 'promote') {
      const match = this.#progress.get(change.id)?.match ?? 0;
      if (match + max < this.#log.lastIndex) {
        return refuse('learnerBehind', `${change.id} holds the log through ${match}, the leader's ends at ${this.#log.lastIndex}: more than ${max} entries behind`);
      }
    }
    if (change.kind === 'remove') {
      const voters = next.membership.voters;
      const caughtUp = voters.filter((id) => id === this.id || (this.#progress.get(id)?.match ?? 0) + max >= this.#log.lastIndex);
      const quorum = Math.floor(voters.length / 2) + 1;
      if (caughtUp.length < quorum) {
        const behind = voters.filter((id) => !caughtUp.includes(id));
        return refuse('quorumBehind', `without ${change.id}, ${caughtUp.length} of ${voters.length} voters are caught up (${behind.join(', ')} behind) and ${quorum} are needed to commit: retry once they catch up`);
      }
    }
    const entry = this.#appendEntry('config', encodeMembership(next.membership));
    return { ok: true, index: entry.index, term: entry.term, membership: next.membership };
  }

  /** A linearizable read (dissertation §6.4): its ReadState comes out of a later ready(). */
  readIndex(requestId: string): void {
    this.#assertNoReadyOutstanding('readIndex');
    if (this.#role === 'leader') {
      this.#leaderRead(this.id, [requestId]);
      return;
    }
    if (this.#leaderId === null || this.#forwardedReads.size >= this.#config.pendingReadsMax) {
      this.#failedReads.push(requestId);
      return;
    }
    this.#forwardedReads.add(requestId);
    this.#send({ type: 'ReadIndex', to: this.#leaderId, requestIds: [requestId] });
  }

  /** Hands leadership to `target` once its log is caught up (dissertation §3.10). */
  transferLeadership(target: NodeId): boolean {
    this.#assertNoReadyOutstanding('transferLeadership');
    if (this.#role !== 'leader' || target === this.id || !this.#isVoter(target)) return false;
    this.#transferTarget = target;
    this.#transferElapsed = 0;
    const progress = this.#progress.get(target)!;
    if (progress.match === this.#log.lastIndex) this.#send({ type: 'TimeoutNow', to: target });
    else this.#sendAppend(target);
    return true;
  }

  /** Starts an election at once (a pre-vote first when enabled). */
  campaign(): void {
    this.#assertNoReadyOutstanding('campaign');
    if (this.#role !== 'leader' && this.#isVoter(this.id)) this.#campaign(this.#config.preVote ? 'preVote' : 'election', false);
  }

  /**
   * The application captured its state at `index` (at most what it has applied): drop the log
   * through it. Followers that still need those entries get the snapshot instead.
   */
  compact(index: number): SnapshotMeta {
    this.#assertNoReadyOutstanding('compact');
    assert(index <= this.#applied, `compact(${index}) past the applied index ${this.#applied}`);
    const term = this.#log.term(index);
    assert(term !== undefined, `compact(${index}): no such entry (first ${this.#log.firstIndex})`);
    // The configuration at `index`, not the latest: a later config entry may still be cut.
    const meta: SnapshotMeta = { index, term, membership: this.#configs.at(index) };
    this.#log.compact(meta);
    this.#configs.compacted(index);
    return meta;
  }

  /** The transport could not reach `peer`: stop sending optimistically until it answers. */
  reportUnreachable(peer: NodeId): void {
    const progress = this.#progress.get(peer);
    if (this.#role === 'leader' && progress?.state === 'replicate') progress.becomeProbe();
  }

  /**
   * Nothing listens where `peer` lives (its connection was refused): the process is gone. When
   * it is our leader, waiting out a whole election timeout only prolongs the outage, so this
   * node stops honouring the leader's lease and campaigns within a few ticks (randomised, so two
   * followers rarely split the vote). Safety is untouched (an election is an election); a false
   * alarm costs nothing, since the others still hear the leader and ignore our pre-vote.
   */
  reportPeerDown(peer: NodeId): void {
    this.#assertNoReadyOutstanding('reportPeerDown');
    if (this.#role !== 'follower' || this.#leaderId !== peer || !this.#isVoter(this.id)) return;
    this.#electionElapsed = Math.max(this.#electionElapsed, this.#config.electionTicks);
    const ticksLeft = 1 + this.#config.randomInt(leaderDownCampaignTicksMax);
    this.#randomizedElectionTimeout = Math.min(this.#randomizedElectionTimeout, this.#electionElapsed + ticksLeft);
  }

  /** The transport finished (or gave up) streaming a snapshot to `peer`. */
  reportSnapshot(peer: NodeId, success: boolean): void {
    const progress = this.#progress.get(peer);
    if (this.#role !== 'leader' || progress?.state !== 'snapshot') return;
    if (!success) progress.becomeProbe();
  }

  // ---- outputs ------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.#outstanding !== null) return false;
    return (
      this.#appendsPending ||
      this.#messages.length > 0 ||
      this.#log.unstableSnapshot !== null ||
      this.#log.writtenIndex < this.#log.lastIndex ||
      this.#hardStateChanged() ||
      this.#hasCommittedToApply() ||
      this.#readStates.length > 0 ||
      this.#failedReads.length > 0 ||
      this.#softStateChanged()
    );
  }

  ready(): Ready {
    assert(this.#outstanding === null, 'ready() called again before advance()');
    if (this.#appendsPending) {
      this.#appendsPending = false;
      if (this.#role === 'leader') for (const id of this.#progress.keys()) this.#sendAppend(id);
    }
    const snapshot = this.#log.unstableSnapshot;
    const hardState = this.#hardStateChanged() ? this.#hardState() : null;
    const softState = this.#softStateChanged() ? this.#softState() : null;
    const ready: Ready = {
      hardState,
      entries: this.#log.takeUnwrittenEntries(),
      snapshot,
      messages: this.#messages,
      committed:
        snapshot === null && this.#hasCommittedToApply()
          ? this.#log.slice(this.#applied + 1, this.#commit, this.#config.applyBatchBytesMax)
          : [],
      readStates: this.#readStates,
      failedReads: this.#failedReads,
      softState,
    };
    this.#messages = [];
    this.#readStates = [];
    this.#failedReads = [];
    this.#outstanding = ready;
    this.#outstandingRole = this.#role;
    return ready;
  }

  /** The driver persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    this.#finishReady(ready);
    const last = ready.entries[ready.entries.length - 1];
    if (last !== undefined) this.#markDurable(last.index, last.term);
  }

  /**
   * Like advance(), for a leader's Ready whose entries are written but not yet durable (the
   * driver syncs them in the background, then reports entriesDurable()). Only a leader's Ready
   * that changes neither term nor vote qualifies: its messages promise nothing about its own
   * disk, so they may leave before the sync, and a quorum of followers may commit the entries
   * before the leader's own copy is durable (dissertation §10.2.1).
   */
  advanceBeforeDurable(ready: Ready): void {
    assert(this.#outstanding === ready, 'advanceBeforeDurable() with a Ready that is not the outstanding one');
    assert(this.#outstandingRole === 'leader', `advanceBeforeDurable() on a Ready made as ${this.#outstandingRole}`);
    assert(ready.snapshot === null, 'advanceBeforeDurable() with a snapshot to persist');
    const persisted = this.#persistedHardState;
    assert(
      ready.hardState === null || (ready.hardState.term === persisted.term && ready.hardState.vote === persisted.vote),
      'advanceBeforeDurable() with a new term or vote to persist',
    );
    this.#finishReady(ready);
    const last = ready.entries[ready.entries.length - 1];
    if (this.#config.unsafe?.countUnsyncedOwnLog && last !== undefined) this.#markDurable(last.index, last.term);
  }

  /** The driver made the log durable through `index`, which had term `term` when written. */
  entriesDurable(index: number, term: number): void {
    this.#assertNoReadyOutstanding('entriesDurable');
    this.#markDurable(index, term);
  }

  /**
   * The log through `index` (term `term` when written) is durable. A write overtaken by a
   * conflicting one (the entry at `index` now has another term) is moot. The leader counts its
   * own log towards a quorum only from here.
   */
  #markDurable(index: number, term: number): void {
    if (index <= this.#log.stableIndex || index > this.#log.writtenIndex || this.#log.term(index) !== term) return;
    this.#log.markStable(index);
    if (this.#role === 'leader') this.#advanceCommit();
  }

  /** What advance() and advanceBeforeDurable() share: everything but the log's durability. */
  #finishReady(ready: Ready): void {
    assert(this.#outstanding === ready, 'advance() with a Ready that is not the outstanding one');
    this.#outstanding = null;
    this.#outstandingRole = null;
    if (ready.snapshot !== null) {
      this.#log.markSnapshotStable(ready.snapshot);
      this.#applied = Math.max(this.#applied, ready.snapshot.index);
    }
    if (ready.hardState !== null) this.#persistedHardState = ready.hardState;
    if (ready.softState !== null) this.#reportedSoftState = ready.softState;
    if (ready.committed.length > 0) {
      const last = ready.committed[ready.committed.length - 1];
      assert(last.index > this.#applied, `applied went backwards: ${last.index} after ${this.#applied}`);
      this.#applied = last.index;
    }
  }

  /**
   * The configuration in effect and the index of its config entry, without building a whole
   * status: the driver asks after every Ready whether the membership changed.
   */
  membershipNow(): { readonly index: number; readonly membership: Membership; readonly removed: boolean } {
    return { index: this.#configs.currentIndex, membership: this.#membership, removed: this.#isRemoved() };
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      leaderId: this.#leaderId,
      vote: this.#vote,
      commit: this.#commit,
      applied: this.#applied,
      firstIndex: this.#log.firstIndex,
      lastIndex: this.#log.lastIndex,
      durableIndex: this.#log.stableIndex,
      lastLogTerm: this.#log.lastTerm,
      snapshot: this.#log.snapshot,
      membership: this.#membership,
      membershipIndex: this.#configs.currentIndex,
      membershipChangePending: this.#configs.currentIndex > this.#commit,
      removed: this.#isRemoved(),
      transferTarget: this.#transferTarget,
      leaderCommit: this.#role === 'leader' ? this.#commit : Math.max(this.#leaderCommit, this.#commit),
      progress: [...this.#progress].map(([id, p]) => ({ id, voter: this.#isVoter(id), match: p.match, next: p.next, state: p.state, recentActive: p.recentActive })),
    };
  }

  /** The log entries held after the snapshot (for checkers and diagnostics). */
  log(): readonly Entry[] {
    return this.#log.entries();
  }

  // ---- term rules, applied once for every message (paper figure 2, "All Servers") ---------

  /** Returns whether the message should be processed further. */
  #stepHigherTerm(message: Message): boolean {
    const isVoteRequest = message.type === 'PreVote' || message.type === 'RequestVote';
    if (isVoteRequest) {
      const transfer = message.type === 'RequestVote' && message.transfer;
      // Leader lease (§4.2.3, check-quorum): while we hear from a live leader, a node that
      // merely timed out must not disrupt the cluster, so its vote requests are ignored.
      if (this.#config.checkQuorum && !transfer && this.#leaderId !== null && this.#electionElapsed < this.#config.electionTicks) {
        return false;
      }
    }
    // A pre-vote does not raise terms: neither the request nor a granted answer.
    if (message.type === 'PreVote') return true;
    if (message.type === 'PreVoteResponse' && message.granted) return true;
    const fromLeader = message.type === 'AppendEntries' || message.type === 'Heartbeat' || message.type === 'InstallSnapshot';
    this.#becomeFollower(message.term, fromLeader ? message.from : null);
    return true;
  }

  #stepLowerTerm(message: Message): void {
    if (message.type === 'AppendEntries' || message.type === 'Heartbeat' || message.type === 'InstallSnapshot') {
      // A deposed leader, or we raised our term while cut off. With check-quorum and pre-vote
      // our vote requests cannot raise its term, so tell it ours explicitly (etcd does the same).
      this.#send({
        type: 'AppendEntriesResponse',
        to: message.from,
        success: false,
        matchIndex: 0,
        rejectedIndex: 0,
        conflictIndex: 0,
        conflictTerm: 0,
      });
    } else if (message.type === 'PreVote') {
      this.#send({ type: 'PreVoteResponse', to: message.from, granted: false });
    }
    // Everything else from an older term is stale and dropped.
  }

  // ---- elections ----------------------------------------------------------------------------

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#randomizedElectionTimeout && this.#isVoter(this.id)) {
      this.#campaign(this.#config.preVote ? 'preVote' : 'election', false);
    }
  }

  #campaign(kind: 'preVote' | 'election', transfer: boolean): void {
    if (kind === 'preVote') this.#becomePreCandidate();
    else this.#becomeCandidate();
    const term = kind === 'preVote' ? this.#term + 1 : this.#term;
    this.#recordVote(this.id, true);
    if (this.#role === 'leader') return; // a single-voter cluster wins at once
    for (const voter of this.#membership.voters) {
      if (voter === this.id) continue;
      if (kind === 'preVote') {
        this.#send({ type: 'PreVote', to: voter, term, lastLogIndex: this.#log.lastIndex, lastLogTerm: this.#log.lastTerm });
      } else {
        this.#send({ type: 'RequestVote', to: voter, term, lastLogIndex: this.#log.lastIndex, lastLogTerm: this.#log.lastTerm, transfer });
      }
    }
  }

  #handleVoteRequest(message: PreVoteMessage | RequestVoteMessage): void {
    // A node that joined at index J votes only once its log reaches J: an earlier incarnation
    // of its id may have voted in a configuration from before J, and with a wiped disk it
    // could vote again there, for a candidate that incarnation's log would have refused.
    const joined = this.#log.lastIndex >= this.#joinedAt;
    const upToDate = joined && (this.#config.unsafe?.voteWithoutLogCheck || this.#log.isUpToDate(message.lastLogIndex, message.lastLogTerm));
    if (message.type === 'PreVote') {
      // Would we vote for this node at message.term? Only for a future term and a good log.
      const granted = message.term > this.#term && upToDate;
      this.#send({ type: 'PreVoteResponse', to: message.from, term: granted ? message.term : this.#term, granted });
      return;
    }
    const canVote = this.#vote === message.from || (this.#vote === null && this.#leaderId === null);
    const granted = canVote && upToDate;
    if (granted) {
      this.#vote = message.from;
      this.#electionElapsed = 0;
    }
    // The answer goes out only after the vote is durable (the Ready contract).
    this.#send({ type: 'RequestVoteResponse', to: message.from, granted });
  }

  #stepCandidate(message: Message): void {
    switch (message.type) {
      case 'PreVoteResponse':
        if (this.#role !== 'preCandidate') return;
        if (message.granted && message.term !== this.#term + 1) return;
        this.#recordVote(message.from, message.granted);
        return;
      case 'RequestVoteResponse':
        if (this.#role !== 'candidate') return;
        this.#recordVote(message.from, message.granted);
        return;
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        // Someone won this term: follow them (§5.2).
        this.#becomeFollower(this.#term, message.from);
        this.#stepFollower(message);
        return;
      default:
        return;
    }
  }

  #recordVote(voter: NodeId, granted: boolean): void {
    if (!this.#votes.has(voter)) this.#votes.set(voter, granted);
    let grants = 0;
    let rejections = 0;
    for (const id of this.#membership.voters) {
      const vote = this.#votes.get(id);
      if (vote === true) grants++;
      else if (vote === false) rejections++;
    }
    if (grants >= this.#quorum()) {
      if (this.#role === 'preCandidate') this.#campaign('election', false);
      else this.#becomeLeader();
    } else if (rejections >= this.#quorum()) {
      this.#becomeFollower(this.#term, null);
    }
  }

  // ---- role changes -------------------------------------------------------------------------

  #becomeFollower(term: number, leaderId: NodeId | null): void {
    const termChanged = term !== this.#term;
    if (termChanged) {
      assert(term > this.#term, `term went backwards: ${term} after ${this.#term}`);
      this.#term = term;
      this.#vote = null;
    }
    if (this.#role === 'leader') this.#failLeaderReads();
    if (termChanged || leaderId !== this.#leaderId) {
      this.#failForwardedReads();
      this.#leaderCommit = 0;
    }
    this.#role = 'follower';
    this.#leaderId = leaderId;
    this.#resetTimers();
    this.#progress.clear();
    this.#transferTarget = null;
    this.#votes.clear();
  }

  #becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote: a node cut off from the cluster can keep trying
    // without raising its term and disrupting the others when it returns (§9.6).
    this.#role = 'preCandidate';
    this.#leaderId = null;
    this.#votes.clear();
    this.#resetTimers();
    this.#failForwardedReads();
  }

  #becomeCandidate(): void {
    this.#term++;
    this.#vote = this.id;
    this.#role = 'candidate';
    this.#leaderId = null;
    this.#votes.clear();
    this.#resetTimers();
    this.#failForwardedReads();
  }

  #becomeLeader(): void {
    assert(this.#role === 'candidate', `becomeLeader from ${this.#role}`);
    this.#role = 'leader';
    this.#leaderId = this.id;
    this.#resetTimers();
    this.#uncommittedBytes = 0;
    this.#failLeaderReads();
    this.#progress.clear();
    this.#trackMembers();
    // A no-op of our own term lets us commit (and so learn) everything earlier (§5.4.2, §8).
    // While the log holds no configuration (a new cluster, whose founders came from the command
    // line), the configuration itself is that entry: nodes that join later replay it from the
    // log instead of starting from a membership no one told them.
    if (this.#configs.currentIndex === 0) this.#appendEntry('config', encodeMembership(this.#membership));
    else this.#appendEntry('noop', '');
  }

  #resetTimers(): void {
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTimeout = this.#config.electionTicks + this.#config.randomInt(this.#config.electionTicks);
  }

  // ---- leader -------------------------------------------------------------------------------

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#transferTarget !== null && ++this.#transferElapsed >= this.#config.electionTicks) {
      this.#transferTarget = null; // the target did not take over in time: keep leading
    }
    for (const [, progress] of this.#progress) {
      if (progress.state === 'snapshot' && ++progress.snapshotElapsedTicks >= this.#config.electionTicks * 5) {
        progress.becomeProbe(); // no answer to the snapshot: try again
      }
    }
    if (this.#electionElapsed >= this.#config.electionTicks) {
      this.#electionElapsed = 0;
      if (this.#config.checkQuorum && !this.#checkQuorum()) {
        this.#becomeFollower(this.#term, null);
        return;
      }
    }
    if (this.#heartbeatElapsed >= this.#config.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat(this.#reads.nextSeq());
    }
  }

  /** Check-quorum (§6.2): a leader that has not heard from a majority lately steps down. */
  #checkQuorum(): boolean {
    let active = this.#isVoter(this.id) ? 1 : 0;
    for (const [id, progress] of this.#progress) {
      if (progress.recentActive && this.#isVoter(id)) active++;
      progress.recentActive = false;
    }
    return active >= this.#quorum();
  }

  #appendEntry(type: Entry['type'], data: string): Entry {
    const entry: Entry = { index: this.#log.lastIndex + 1, term: this.#term, type, data };
    this.#log.append([entry]);
    this.#uncommittedBytes += data.length;
    if (type === 'config') {
      this.#configs.appended([entry]);
      this.#staleMembership = null;
      this.#trackMembers();
    }
    // Sent when the Ready is formed, so that proposals between two Readies share one message.
    // A single-voter cluster commits as soon as the entry is durable (in advance()).
    this.#appendsPending = true;
    return entry;
  }

  #stepLeader(message: Message): void {
    const progress = this.#progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    switch (message.type) {
      case 'AppendEntriesResponse':
        this.#handleAppendResponse(message, progress);
        return;
      case 'HeartbeatResponse':
        this.#handleHeartbeatResponse(message, progress);
        return;
      case 'InstallSnapshotResponse':
        this.#handleSnapshotResponse(message, progress);
        return;
      case 'ReadIndexResponse':
        // A stale answer from the time we were a follower: its reads were already failed.
        return;
      default:
        return;
    }
  }

  #handleAppendResponse(message: AppendEntriesResponseMessage, progress: Progress): void {
    if (!message.success) {
      // Every rejection of an append names where to look next (conflictIndex >= 1), except the
      // answer that only tells an older leader the term (#stepLowerTerm). One that arrives when
      // we lead in that very term (deposed, then elected again) says nothing about the log.
      if (message.conflictIndex === 0) return;
      const followerLastIndex = message.conflictIndex - 1;
      if (message.conflictTerm === 0 && followerLastIndex < progress.match && message.rejectedIndex >= progress.match) {
        // Its log ends before what it acknowledged: a wiped node (see Progress.restartFrom).
        // Lowering match never lowers commit, which only grows.
        progress.restartFrom(Math.max(0, followerLastIndex));
        this.#sendAppend(message.from);
        return;
      }
      const next = this.#nextAfterRejection(message);
      if (progress.maybeDecrease(message.rejectedIndex, next)) this.#sendAppend(message.from);
      return;
    }
    const updated = progress.maybeUpdate(message.matchIndex);
    // A probe that matched where we already knew the follower to be still proves the match.
    if (!updated && !(progress.state === 'probe' && message.matchIndex === progress.match)) return;
    if (progress.state === 'probe') progress.becomeReplicate();
    else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshot) progress.becomeProbe();
    if (updated) this.#advanceCommit();
    if (this.#role !== 'leader') return; // it stepped down: its own removal committed
    if (updated && message.from === this.#transferTarget && progress.match === this.#log.lastIndex) {
      this.#send({ type: 'TimeoutNow', to: message.from });
    }
    // Keep the pipeline full.
    if (progress.match < this.#log.lastIndex) this.#sendAppend(message.from);
  }

  /** Fast backtracking: skip a whole conflicting term per round trip (§5.3). */
  #nextAfterRejection(message: AppendEntriesResponseMessage): number {
    if (message.conflictTerm > 0) {
      let index = Math.min(message.rejectedIndex, this.#log.lastIndex);
      while (index >= this.#log.snapshotIndex) {
        const term = this.#log.term(index);
        if (term === undefined || term < message.conflictTerm) break;
        if (term === message.conflictTerm) return index + 1;
        index--;
      }
    }
    return Math.max(1, message.conflictIndex);
  }

  #handleHeartbeatResponse(message: HeartbeatResponseMessage, progress: Progress): void {
    progress.heardHeartbeat();
    if (message.lastLogIndex < progress.match) {
      // Its log ends before what it acknowledged: a wiped node (see Progress.restartFrom). A
      // reordered, stale answer can look the same; then one probe puts match back.
      progress.restartFrom(message.lastLogIndex);
    }
    // A lagging follower gets an append even with nothing new to send: if earlier appends were
    // lost, its rejection of this one puts us back on the right index.
    if (progress.match < this.#log.lastIndex) this.#sendAppend(message.from, true);
    if (message.seq > progress.ackedSeq) {
      progress.ackedSeq = message.seq;
      this.#releaseConfirmedReads();
    }
  }

  #handleSnapshotResponse(message: InstallSnapshotResponseMessage, progress: Progress): void {
    if (progress.state !== 'snapshot') return;
    if (!message.success) {
      progress.becomeProbe();
      return;
    }
    progress.maybeUpdate(message.matchIndex);
    progress.becomeProbe();
    this.#sendAppend(message.from);
  }

  /** Sends the entries `id` lacks (or an empty append carrying the commit index when `force`). */
  #sendAppend(id: NodeId, force = false): void {
    const progress = this.#progress.get(id)!;
    if (progress.isPaused() && !force) return;
    if (progress.state === 'snapshot') return;
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = this.#log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      this.#sendSnapshot(id, progress);
      return;
    }
    const entries =
      progress.isPaused() || progress.next > this.#log.lastIndex
        ? []
        : this.#log.slice(progress.next, this.#log.lastIndex, this.#config.appendBatchBytesMax);
    if (entries.length === 0 && !force && progress.state === 'replicate') return;
    this.#send({ type: 'AppendEntries', to: id, prevLogIndex, prevLogTerm, entries, commit: this.#commit });
    if (entries.length > 0) progress.sentEntries(entries[entries.length - 1].index);
    else if (progress.state === 'probe') progress.sentEntries(prevLogIndex);
  }

  #sendSnapshot(id: NodeId, progress: Progress): void {
    const snapshot = this.#log.snapshot;
    assert(snapshot !== null, 'a follower needs compacted entries but there is no snapshot');
    progress.becomeSnapshot(snapshot.index);
    this.#send({ type: 'InstallSnapshot', to: id, snapshot });
  }

  #broadcastHeartbeat(seq: number): void {
    for (const [id, progress] of this.#progress) {
      // Never let a follower commit past what we know it holds.
      this.#send({ type: 'Heartbeat', to: id, commit: Math.min(progress.match, this.#commit), seq });
    }
  }

  /** Tell followers the new commit index without waiting for the next heartbeat. */
  #broadcastCommit(): void {
    for (const id of this.#progress.keys()) this.#sendAppend(id, true);
  }

  /** Commits what a quorum holds and tells the followers; a leader whose removal committed steps down. */
  #advanceCommit(): void {
    if (!this.#maybeCommit()) return;
    this.#broadcastCommit();
    if (!this.#isVoter(this.id) && this.#configs.currentIndex <= this.#commit) this.#stepDownRemoved();
  }

  /**
   * Our own removal committed: hand leadership to the most caught-up voter that holds the
   * change (TimeoutNow, so it need not wait out an election timeout) and step down. We were
   * not counted since the change entered our log, so nothing depends on us any more.
   */
  #stepDownRemoved(): void {
    let successor: NodeId | null = null;
    let best = this.#configs.currentIndex - 1;
    for (const voter of this.#membership.voters) {
      const match = this.#progress.get(voter)?.match ?? 0;
      if (match > best) {
        best = match;
        successor = voter;
      }
    }
    if (successor !== null) this.#send({ type: 'TimeoutNow', to: successor });
    this.#becomeFollower(this.#term, null);
  }

  /**
   * The leader replicates to every member, and to those the latest change removed, so that
   * they learn of their removal; those are dropped at the next change. A member just added
   * is tracked afresh: under a reused id, what its earlier incarnation held is gone.
   */
  #trackMembers(): void {
    const previous = membersOf(this.#configs.previous);
    const peers = new Set([...membersOf(this.#configs.current), ...previous]);
    peers.delete(this.id);
    for (const id of [...this.#progress.keys()]) if (!peers.has(id)) this.#progress.delete(id);
    for (const id of peers) {
      if (this.#progress.has(id) && previous.includes(id)) continue;
      const progress = new Progress(this.#log.lastIndex + 1, this.#config.inflightMessagesMax);
      progress.recentActive = true; // give everyone one check-quorum round to answer
      this.#progress.set(id, progress);
    }
  }

  /** Raises commit to the highest index a quorum holds, if it is of our term (§5.4.2). */
  #maybeCommit(): boolean {
    // Learners never count, unless the unsafe rule says so.
    const counted = this.#config.unsafe?.countLearnerAcks ? membersOf(this.#membership) : this.#membership.voters;
    const matches = counted.map((id) => (id === this.id ? this.#log.stableIndex : (this.#progress.get(id)?.match ?? 0)));
    matches.sort((a, b) => b - a);
    const quorumIndex = matches[Math.floor(counted.length / 2)];
    if (quorumIndex === undefined) return false;
    if (quorumIndex <= this.#commit) return false;
    if (this.#log.term(quorumIndex) !== this.#term && !this.#config.unsafe?.commitPreviousTermByCount) return false;
    const firstCommitOfTerm = this.#log.term(this.#commit) !== this.#term;
    for (let index = this.#commit + 1; index <= quorumIndex; index++) {
      this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes - this.#log.entry(index).data.length);
    }
    this.#commit = quorumIndex;
    if (firstCommitOfTerm) this.#reads.termCommitted(this.#commit);
    this.#releaseConfirmedReads();
    return true;
  }

  // ---- linearizable reads (ReadIndex, dissertation §6.4) ---------------------------------

  #handleReadIndexRequest(message: ReadIndexMessage): void {
    if (this.#role !== 'leader') {
      this.#send({ type: 'ReadIndexResponse', to: message.from, requestIds: message.requestIds, readIndex: -1 });
      return;
    }
    this.#leaderRead(message.from, message.requestIds);
  }

  #leaderRead(requester: NodeId, requestIds: readonly string[]): void {
    if (this.#config.unsafe?.readIndexWithoutHeartbeat || (this.#membership.voters.length === 1 && this.#isVoter(this.id))) {
      // Unsafe variant: a deposed leader that does not know it yet serves stale reads.
      if (this.#log.term(this.#commit) === this.#term || this.#config.unsafe?.readIndexWithoutHeartbeat) {
        this.#deliverRead(requester, requestIds, this.#commit);
        return;
      }
    }
    // Confirm leadership with a heartbeat round that starts after the read arrived.
    const seq = this.#reads.nextSeq();
    if (!this.#reads.add(requester, requestIds, this.#commit, this.#log.term(this.#commit) === this.#term, seq)) {
      this.#deliverRead(requester, requestIds, -1);
      return;
    }
    this.#broadcastHeartbeat(seq);
  }

  #releaseConfirmedReads(): void {
    const acked = this.#isVoter(this.id) ? [this.#reads.currentSeq()] : [];
    for (const id of this.#membership.voters) if (id !== this.id) acked.push(this.#progress.get(id)?.ackedSeq ?? 0);
    acked.sort((a, b) => b - a);
    const quorumSeq = acked[this.#quorum() - 1];
    for (const read of this.#reads.release(quorumSeq)) {
      this.#deliverRead(read.requester, read.requestIds, read.index);
    }
  }

  #failLeaderReads(): void {
    for (const read of this.#reads.takeAll()) this.#deliverRead(read.requester, read.requestIds, -1);
  }

  #deliverRead(requester: NodeId, requestIds: readonly string[], index: number): void {
    if (requester === this.id) {
      if (index < 0) this.#failedReads.push(...requestIds);
      else for (const requestId of requestIds) this.#readStates.push({ requestId, index });
    } else {
      this.#send({ type: 'ReadIndexResponse', to: requester, requestIds, readIndex: index });
    }
  }

  #failForwardedReads(): void {
    if (this.#forwardedReads.size === 0) return;
    this.#failedReads.push(...this.#forwardedReads);
    this.#forwardedReads.clear();
  }

  // ---- follower -----------------------------------------------------------------------------

  #stepFollower(message: Message): void {
    switch (message.type) {
      case 'AppendEntries':
        this.#heardFromLeader(message.from);
        this.#handleAppendEntries(message);
        return;
      case 'Heartbeat':
        this.#heardFromLeader(message.from);
        this.#handleHeartbeat(message);
        return;
      case 'InstallSnapshot':
        this.#heardFromLeader(message.from);
        this.#handleInstallSnapshot(message);
        return;
      case 'ReadIndexResponse':
        this.#handleReadIndexResponse(message);
        return;
      default:
        return;
    }
  }

  #heardFromLeader(leaderId: NodeId): void {
    this.#electionElapsed = 0;
    if (this.#leaderId !== leaderId) this.#leaderCommit = 0;
    if (this.#leaderId !== leaderId) {
      this.#failForwardedReads();
      this.#leaderId = leaderId;
    }
  }

  #handleAppendEntries(message: AppendEntriesMessage): void {
    if (message.commit > this.#leaderCommit) this.#leaderCommit = message.commit;
    const reply = (fields: Partial<AppendEntriesResponseMessage>) =>
      this.#send({ type: 'AppendEntriesResponse', to: message.from, success: true, matchIndex: 0, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, ...fields });
    if (message.prevLogIndex < this.#commit) {
      // Everything through our commit index matches any leader's log: skip that part.
      const fresh = message.entries.filter((entry) => entry.index > this.#commit);
      if (fresh.length === 0 || fresh[0].index !== this.#commit + 1) {
        reply({ matchIndex: this.#commit });
        return;
      }
      this.#acceptEntries(message, fresh, reply);
      return;
    }
    const localTerm = this.#log.term(message.prevLogIndex);
    if (localTerm !== message.prevLogTerm && !this.#config.unsafe?.appendWithoutLogMatch) {
      reply({ success: false, rejectedIndex: message.prevLogIndex, ...this.#conflictHint(message.prevLogIndex, localTerm) });
      return;
    }
    this.#acceptEntries(message, message.entries, reply);
  }

  #acceptEntries(message: AppendEntriesMessage, entries: readonly Entry[], reply: (fields: Partial<AppendEntriesResponseMessage>) => void): void {
    if (this.#config.unsafe?.appendWithoutLogMatch && entries.length > 0 && entries[0].index > this.#log.lastIndex + 1) {
      reply({ success: false, rejectedIndex: message.prevLogIndex, conflictIndex: this.#log.lastIndex + 1 });
      return;
    }
    const changedFrom = this.#log.merge(entries, this.#commit);
    if (changedFrom !== null) this.#logChangedFrom(changedFrom, entries);
    // (min with lastIndex only matters under the unsafe rule, which skips the prevLogIndex check)
    const lastNew = Math.min(entries.length > 0 ? entries[entries.length - 1].index : message.prevLogIndex, this.#log.lastIndex);
    this.#commitTo(Math.min(message.commit, lastNew));
    reply({ matchIndex: lastNew });
  }

  /** Where the leader should look next: the start of our conflicting term, or our log's end. */
  #conflictHint(prevLogIndex: number, localTerm: number | undefined): { conflictIndex: number; conflictTerm: number } {
    if (localTerm === undefined) return { conflictIndex: this.#log.lastIndex + 1, conflictTerm: 0 };
    let index = prevLogIndex;
    while (index - 1 > this.#commit && index - 1 > this.#log.snapshotIndex && this.#log.term(index - 1) === localTerm) index--;
    return { conflictIndex: index, conflictTerm: localTerm };
  }

  #handleHeartbeat(message: HeartbeatMessage): void {
    if (message.commit > this.#leaderCommit) this.#leaderCommit = message.commit;
    this.#commitTo(Math.min(message.commit, this.#log.lastIndex));
    this.#send({ type: 'HeartbeatResponse', to: message.from, seq: message.seq, lastLogIndex: this.#log.lastIndex });
  }

  #handleInstallSnapshot(message: InstallSnapshotMessage): void {
    const snapshot = message.snapshot;
    const reply = (matchIndex: number) =>
      this.#send({ type: 'InstallSnapshotResponse', to: message.from, matchIndex, success: true });
    if (snapshot.index <= this.#commit) {
      reply(this.#commit);
      return;
    }
    if (this.#log.term(snapshot.index) === snapshot.term) {
      // We already hold the snapshot's last entry: it is committed, keep the log after it.
      this.#commitTo(snapshot.index);
      reply(snapshot.index);
      return;
    }
    this.#log.restore(snapshot);
    this.#configs.restored(snapshot);
    this.#staleMembership = null;
    this.#commit = snapshot.index;
    reply(snapshot.index);
  }

  #handleReadIndexResponse(message: ReadIndexResponseMessage): void {
    for (const requestId of message.requestIds) {
      if (!this.#forwardedReads.delete(requestId)) continue;
      if (message.readIndex < 0) this.#failedReads.push(requestId);
      else this.#readStates.push({ requestId, index: message.readIndex });
    }
  }

  /**
   * The log holds new entries from `from` on (a truncation may have cut entries there): the
   * configuration follows, back to the one before any config entry that was cut (§4.1).
   */
  #logChangedFrom(from: number, entries: readonly Entry[]): void {
    const before = this.#membership;
    const fresh = entries.filter((entry) => entry.index >= from);
    this.#configs.truncatedFrom(from);
    this.#configs.appended(fresh);
    if (fresh.some((entry) => entry.type === 'config')) this.#staleMembership = null;
    else if (this.#config.unsafe?.keepConfigOnTruncation && !sameMembership(before, this.#configs.current)) this.#staleMembership = before;
  }

  #commitTo(index: number): void {
    if (index <= this.#commit) return;
    assert(index <= this.#log.lastIndex, `commit ${index} past the last log index ${this.#log.lastIndex}`);
    this.#commit = index;
  }

  // ---- helpers ------------------------------------------------------------------------------

  #send(message: OutgoingMessage): void {
    assert(message.to !== this.id, `message ${message.type} to self`);
    this.#messages.push({ ...message, from: this.id, term: message.term ?? this.#term } as Message);
  }

  #quorum(): number {
    return Math.floor(this.#membership.voters.length / 2) + 1;
  }

  /** The configuration in effect: the latest in the log (§4.1). */
  get #membership(): Membership {
    return this.#staleMembership ?? this.#configs.current;
  }

  /**
   * A node that joined at index J (config.ts, joinedAt) replays the log of the cluster from
   * before it joined, which may list an earlier incarnation of its id as a voter; it must not
   * act on those configurations (it forgot what that incarnation promised and held).
   */
  #isVoter(id: NodeId): boolean {
    if (id === this.id && this.#configs.currentIndex < this.#joinedAt) return false;
    return isVoterIn(this.#membership, id);
  }

  /** See RaftStatus.removed. An empty membership is a joining node's: it is not yet in. */
  #isRemoved(): boolean {
    const membership = this.#membership;
    return (
      membership.voters.length > 0 &&
      !isMemberOf(membership, this.id) &&
      this.#configs.currentIndex <= this.#commit &&
      this.#configs.currentIndex > this.#joinedAt
    );
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#commit };
  }

  #hardStateChanged(): boolean {
    const persisted = this.#persistedHardState;
    return persisted.term !== this.#term || persisted.vote !== this.#vote || persisted.commit !== this.#commit;
  }

  #softState(): SoftState {
    return { role: this.#role, leaderId: this.#leaderId, term: this.#term };
  }

  #softStateChanged(): boolean {
    const reported = this.#reportedSoftState;
    return reported === null || reported.role !== this.#role || reported.leaderId !== this.#leaderId || reported.term !== this.#term;
  }

  #hasCommittedToApply(): boolean {
    return this.#applied < this.#commit && this.#log.unstableSnapshot === null;
  }

  #assertNoReadyOutstanding(operation: string): void {
    assert(this.#outstanding === null, `${operation}() while a Ready is outstanding: call advance() first`);
  }
}
