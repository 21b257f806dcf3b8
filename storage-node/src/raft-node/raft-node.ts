import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { AssertionError, assert, failStop } from '../../../shared/assert.ts';
import type { RaftConfig } from '../raft/config.ts';
import { RaftCore } from '../raft/raft-core.ts';
import type { RaftStatus } from '../raft/raft-core.ts';
import type { MembershipChange } from '../raft/membership.ts';
import type { Entry, InstallSnapshotMessage, Membership, Message, NodeId, Ready, SnapshotMeta, SoftState } from '../raft/types.ts';
import type { RaftLogStore } from '../raft-storage/raft-log-store.ts';
import { MembershipChangeError, NotLeaderError, OutcomeUnknownError, ProposalLostError, RaftTimeoutError } from './errors.ts';
import type { SnapshotFiles } from './snapshot-files.ts';
import type { SnapshotInProgress, StateMachine } from './state-machine.ts';

/** The slice of the transport the driver uses (HttpTransport in production). */
export interface RaftTransport {
  send(messages: readonly Message[]): void;
  sendSnapshot(message: InstallSnapshotMessage, open: () => NodeJS.ReadableStream): Promise<boolean>;
}

/** After a background snapshot failed (a full disk, say), how long until the next try, ms. */
const snapshotRetryMs = 5000;

export interface RaftNodeOptions {
  readonly config: RaftConfig;
  /**
   * The membership before the log says anything: a new cluster's founders (with their
   * addresses), or none for a node that joins a running cluster (see joinedAt).
   */
  readonly membership: Membership;
  /** For a node that joined a running cluster: the index of the config entry that added it. */
  readonly joinedAt?: number;
  /** The configuration in effect changed; called before the messages of that Ready leave. */
  readonly onMembership?: (view: MembershipView) => void;
  readonly store: RaftLogStore;
  readonly stateMachine: StateMachine;
  readonly snapshots: SnapshotFiles;
  readonly transport: RaftTransport;
  /** Wall-clock length of one core tick. */
  readonly tickMs: number;
  /** Applied entries between two snapshots (log compaction). */
  readonly snapshotEntriesThreshold: number;
  /** How long a proposal or read may wait before it fails with a timeout. */
  readonly requestTimeoutMs: number;
  readonly onSoftState?: (state: SoftState) => void;
  /** Seconds spent in one stage of the write path (for /metrics; see RaftStage). */
  readonly onStage?: (stage: RaftStage, seconds: number) => void;
  /** The log now starts after `meta`; `withFile` when a snapshot file was written for it. */
  readonly onCompacted?: (meta: SnapshotMeta, withFile: boolean) => void;
}

/**
 * Stages of the Raft path, timed for /metrics (applying is timed by the state machine's
 * observer, ObservedStateMachine):
 *  - ready_wait: from an input (proposal, message, read) to the start of the Ready that carries it
 *  - log_fsync: persisting one Ready (log entries, hard state), from the write until its fsync ends
 *  - send: handing one Ready's messages to the transport
 *  - commit: on the leader, from a proposal to its entry being committed
 *  - read_index: from a read barrier's request to its index being confirmed
 */
export type RaftStage = 'ready_wait' | 'log_fsync' | 'send' | 'commit' | 'read_index';

interface ProposalWaiter {
  readonly term: number;
  /** performance.now() at propose(). */
  readonly startedMs: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface ReadWaiter {
  index: number;
  settled: boolean;
  readonly resolve: (index: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The configuration in effect, the index of its entry, and whether it removed this node. */
export interface MembershipView {
  readonly index: number;
  readonly membership: Membership;
  readonly removed: boolean;
}

/** A ReadIndex round not answered in this long is given up and its reads sent again. */
const readRoundRetryMs = 1000;

/** One ReadIndex request to the core, confirming every read that waited for it. */
interface ReadRound {
  readonly waiters: readonly ReadWaiter[];
  readonly startedMs: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * Runs a RaftCore with real time, disk and network. All I/O of the core goes through one loop,
 * #drain(), which handles each Ready in the order Raft's safety needs:
 *
 *   persist (write, then fsync off the event loop) → send → apply → advance
 *
 * Messages may promise what was just persisted (a vote, an appended entry), so they leave only
 * after the fsync; entries are applied only once committed, which the core decides. Work that
 * arrives while a Ready is handled waits for the next one, so a busy node persists and sends in
 * batches (group commit) without trying to.
 */
export class RaftNode {
  readonly id: NodeId;
  readonly #options: RaftNodeOptions;
  readonly #core: RaftCore;
  readonly #proposals = new Map<number, ProposalWaiter>();
  /** Reads that arrived while a round was out: they wait for the next one (etcd's read loop). */
  #readsForNextRound: ReadWaiter[] = [];
  /** ReadIndex rounds out, by request id (one at a time; a lost one ends at its timeout). */
  readonly #readRounds = new Map<string, ReadRound>();
  /** Reads whose index is known, waiting for the state machine to catch up to it. */
  #readsAwaitingApply: ReadWaiter[] = [];
  #readSeq = 0;
  /** Reads asked for and ReadIndex rounds sent, since start: rounds ≪ reads under load. */
  #readCounts = { reads: 0, rounds: 0 };
  /**
   * Makes ReadIndex request ids unique across restarts: a late answer to a request made before
   * a restart must never release a read made after it at an older index.
   */
  readonly #readIdPrefix = `${Date.now().toString(36)}.${randomBytes(4).toString('hex')}`;
  #ticker: NodeJS.Timeout | null = null;
  #drainScheduled = false;
  /** performance.now() of the oldest input not yet in a Ready (null: none waiting). */
  #oldestInputMs: number | null = null;
  #stopped = false;
  /**
   * Set while a Ready waits for its fsync (see #drain). The core must not be touched meanwhile,
   * so inputs queue here and run after advance().
   */
  #readyInFlight = false;
  #queuedInputs: { run: () => void; abort: (error: Error) => void }[] = [];
  #lastSnapshotIndex: number;
  /** A snapshot being written in the background (see #maybeSnapshot). */
  #snapshotting: SnapshotInProgress | null = null;
  /** A background snapshot that is complete, waiting to replace the log it covers. */
  #snapshotWritten: { readonly path: string; readonly index: number } | null = null;
  /** Counts restores: a background snapshot begun before one is of a state that no longer is. */
  #restores = 0;
  /** performance.now() of the last failed background snapshot: the next waits a while. */
  #snapshotFailedMs = -Infinity;
  /** A follower needs a snapshot file and the log was cut in place: write one (keepsStateWithLog). */
  #snapshotFileWanted = false;
  #softState: SoftState;
  /** The membership last reported to onMembership. */
  #membershipView: MembershipView;
  #durableTerm: number;
  #durableVote: NodeId | null;
  /** When (performance.now()) a message from each peer last arrived; for /status's last_contact. */
  readonly #lastHeardMs = new Map<NodeId, number>();
  /** Followers a snapshot is being streamed to. */
  readonly #snapshotTransfers = new Set<NodeId>();
  /**
   * Snapshot bytes received whole, by file path, until the Ready after the core saw them: the
   * core then has adopted one of them (which is moved into place) or refused them all (their
   * files are deleted). So this holds only what arrived since the last Ready, at most a few.
   */
  readonly #receivedSnapshots = new Map<string, ReceivedSnapshot>();

  constructor(options: RaftNodeOptions) {
    this.id = options.config.id;
    this.#options = options;
    const durable = options.store.load();
    // A crash between adopting a leader's snapshot and restoring it leaves the state machine
    // behind the log's start: finish the restore before the core hands out later entries.
    if (durable.snapshot !== null && options.stateMachine.appliedIndex() < durable.snapshot.index) {
      assert(options.snapshots.exists(durable.snapshot), `snapshot file for index ${durable.snapshot.index} is missing`);
      options.stateMachine.restoreSnapshot(options.snapshots.pathFor(durable.snapshot), durable.snapshot);
    }
    this.#core = new RaftCore(options.config, {
      hardState: durable.hardState,
      snapshot: durable.snapshot,
      entries: durable.entries,
      applied: options.stateMachine.appliedIndex(),
      membership: options.membership,
      ...(options.joinedAt === undefined ? {} : { joinedAt: options.joinedAt }),
    });
    this.#membershipView = this.#core.membershipNow();
    this.#lastSnapshotIndex = durable.snapshot?.index ?? 0;
    this.#durableTerm = durable.hardState.term;
    this.#durableVote = durable.hardState.vote;
    const status = this.#core.status();
    this.#softState = { role: status.role, leaderId: status.leaderId, term: status.term };
  }

  start(): void {
    assert(this.#ticker === null, 'RaftNode started twice');
    this.#ticker = setInterval(() => this.#input(() => this.#core.tick()), this.#options.tickMs);
    this.#drain();
  }

  /** Stops timers and fails everything pending. The store is closed by its owner. */
  stop(): void {
    this.#stopped = true;
    void this.#snapshotting?.cancel();
    this.#discardWrittenSnapshot();
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
    // Inputs still queued never reached the core: they definitely did not happen.
    const error = new NotLeaderError(null, 'the node is shutting down');
    for (const input of this.#queuedInputs) input.abort(error);
    this.#queuedInputs = [];
    // Proposals in the log may still commit under the next leader.
    const unknown = new OutcomeUnknownError('the node is shutting down; the write may still be applied: retry with the same Idempotency-Key');
    for (const [index, waiter] of this.#proposals) this.#settleProposal(index, waiter, unknown);
    for (const waiter of this.#allReadWaiters()) this.#settleRead(waiter, error);
    for (const round of this.#readRounds.values()) clearTimeout(round.timer);
    this.#readRounds.clear();
    this.#readsForNextRound = [];
    this.#readsAwaitingApply = [];
  }

  /** A message from a peer. */
  /**
   * A message from a peer. An InstallSnapshot comes with the path of its bytes, received whole:
   * that exact file is the one adopted if the core accepts the snapshot (another transfer of
   * the same snapshot may still be half-written beside it).
   */
  deliver(message: Message, snapshotPath?: string): void {
    if (this.#stopped) return;
    if (message.type === 'InstallSnapshot') {
      if (snapshotPath === undefined) return; // bytes never arrived: the leader will send again
      if (this.#receivedSnapshots.size >= receivedSnapshotsMax) {
        // More transfers than one Ready can judge: this one waits for the leader's retry.
        this.#options.snapshots.discard(snapshotPath);
        return;
      }
      const received: ReceivedSnapshot = { key: snapshotKey(message.snapshot), stepped: false };
      this.#receivedSnapshots.set(snapshotPath, received);
      this.#lastHeardMs.set(message.from, performance.now());
      this.#input(() => {
        received.stepped = true;
        this.#core.step(message);
      });
      return;
    }
    this.#lastHeardMs.set(message.from, performance.now());
    this.#input(() => this.#core.step(message));
  }

  /** Received snapshot files waiting for the core's verdict (for /metrics). */
  receivedSnapshotCount(): number {
    return this.#receivedSnapshots.size;
  }

  /** Replicates `data`; resolves with the state machine's result once it is committed and applied here. */
  propose(data: string): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new NotLeaderError(null, 'the node is shutting down'));
    return new Promise((resolve, reject) => {
      this.#input(() => {
        const result = this.#core.propose(data);
        if (!result.ok) {
          reject(new NotLeaderError(result.leaderId, `proposal refused: ${result.reason}`, result.reason));
          return;
        }
        const timer = setTimeout(() => {
          this.#settleProposal(result.index, this.#proposals.get(result.index)!, new RaftTimeoutError('proposal not committed in time'));
        }, this.#options.requestTimeoutMs);
        this.#proposals.set(result.index, { term: result.term, startedMs: performance.now(), resolve, reject, timer });
      }, reject);
    });
  }

  /**
   * Proposes a membership change (see RaftCore.proposeMembershipChange); resolves once its config
   * entry is committed and applied here. A refusal rejects with MembershipChangeError.
   */
  proposeMembershipChange(change: MembershipChange): Promise<{ index: number; membership: Membership }> {
    if (this.#stopped) return Promise.reject(new NotLeaderError(null, 'the node is shutting down'));
    return new Promise((resolve, reject) => {
      this.#input(() => {
        const result = this.#core.proposeMembershipChange(change);
        if (!result.ok) {
          reject(new MembershipChangeError(result.reason, result.message, result.leaderId));
          return;
        }
        const timer = setTimeout(() => {
          this.#settleProposal(result.index, this.#proposals.get(result.index)!, new RaftTimeoutError('membership change not committed in time'));
        }, this.#options.requestTimeoutMs);
        const done = () => resolve({ index: result.index, membership: result.membership });
        this.#proposals.set(result.index, { term: result.term, startedMs: performance.now(), resolve: done, reject, timer });
      }, reject);
    });
  }

  /** The configuration in effect, as last seen after a Ready. */
  membership(): MembershipView {
    return this.#membershipView;
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves once this node's state machine has applied
   * everything committed before the call, so a local read then is linearizable.
   */
  readBarrier(): Promise<number> {
    if (this.#stopped) return Promise.reject(new NotLeaderError(null, 'the node is shutting down'));
    return new Promise((resolve, reject) => {
      const waiter: ReadWaiter = {
        index: -1,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => this.#settleRead(waiter, new RaftTimeoutError('read index not confirmed in time')), this.#options.requestTimeoutMs),
      };
      this.#readsForNextRound.push(waiter);
      this.#readCounts.reads++;
      if (this.#readRounds.size === 0 && !this.#readyInFlight) this.#startReadRound();
    });
  }

  /**
   * Sends one ReadIndex request for every read waiting, unless a round is out already: reads
   * that arrive together share one heartbeat round. A read must not join a round that was sent
   * before it arrived (the index confirmed could predate it), so late comers wait for the next.
   */
  #startReadRound(): void {
    if (this.#stopped || this.#readRounds.size > 0) return;
    const waiters = this.#readsForNextRound.filter((waiter) => !waiter.settled);
    this.#readsForNextRound = [];
    if (waiters.length === 0) return;
    const requestId = `${this.id}:${this.#readIdPrefix}:${++this.#readSeq}`;
    this.#readCounts.rounds++;
    // A round whose request or answer was lost would hold every later read: retry its reads in a
    // new round (each read still fails at its own deadline). A late answer to it is ignored.
    const timer = setTimeout(() => this.#retryReadRound(requestId), readRoundRetryMs);
    this.#readRounds.set(requestId, { waiters, startedMs: performance.now(), timer });
    this.#input(
      () => this.#core.readIndex(requestId),
      (error) => this.#endReadRound(requestId, error),
    );
  }

  #retryReadRound(requestId: string): void {
    const round = this.#readRounds.get(requestId);
    if (round === undefined) return;
    this.#readRounds.delete(requestId);
    this.#readsForNextRound.unshift(...round.waiters);
    if (!this.#readyInFlight) this.#startReadRound();
  }

  /** A round ended: its reads learn their index (error null) or fail. */
  #endReadRound(requestId: string, error: Error | null, index = -1): void {
    const round = this.#readRounds.get(requestId);
    if (round === undefined) return;
    clearTimeout(round.timer);
    this.#readRounds.delete(requestId);
    if (error === null) this.#stage('read_index', round.startedMs);
    for (const waiter of round.waiters) {
      if (waiter.settled) continue;
      if (error !== null) {
        this.#settleRead(waiter, error);
      } else {
        waiter.index = index;
        this.#readsAwaitingApply.push(waiter);
      }
    }
  }

  #allReadWaiters(): ReadWaiter[] {
    return [...this.#readsForNextRound, ...[...this.#readRounds.values()].flatMap((round) => round.waiters), ...this.#readsAwaitingApply];
  }

  /** Starts handing leadership to `target`; resolves whether the core accepted. */
  transferLeadership(target: NodeId): Promise<boolean> {
    return new Promise((resolve) => this.#input(() => resolve(this.#core.transferLeadership(target)), () => resolve(false)));
  }

  /** The most caught-up other voter: where leadership should go on a graceful shutdown. */
  bestTransferTarget(): NodeId | null {
    const status = this.#core.status();
    // recentActive is cleared every check-quorum round, so prefer active followers but fall
    // back to the most caught-up one rather than refuse.
    const sorted = [...status.progress].sort((a, b) => Number(b.recentActive) - Number(a.recentActive) || b.match - a.match);
    return sorted[0]?.id ?? null;
  }

  reportUnreachable(peer: NodeId): void {
    this.#input(() => this.#core.reportUnreachable(peer));
  }

  /** Nothing listens at `peer`'s address (connection refused): see RaftCore.reportPeerDown. */
  reportPeerDown(peer: NodeId): void {
    this.#input(() => this.#core.reportPeerDown(peer));
  }

  /** Linearizable reads asked for, and the ReadIndex rounds that confirmed them. */
  readCounts(): { readonly reads: number; readonly rounds: number } {
    return { ...this.#readCounts };
  }

  status(): RaftStatus {
    return this.#core.status();
  }

  softState(): SoftState {
    return this.#softState;
  }

  /**
   * Milliseconds since a message from each peer last arrived (any message of any term: it shows
   * the peer is alive and reaches us). On the leader every follower answers each heartbeat, so
   * this is how recently the leader heard from each member. Peers never heard from are absent.
   */
  lastContactMs(): Map<NodeId, number> {
    const now = performance.now();
    return new Map([...this.#lastHeardMs].map(([peer, at]) => [peer, Math.max(0, Math.round(now - at))]));
  }
  /** Milliseconds since a message from `peer` last arrived; undefined when none ever did. */
  heardFromAgoMs(peer: NodeId): number | undefined {
    const at = this.#lastHeardMs.get(peer);
    return at === undefined ? undefined : performance.now() - at;
  }


  #schedule(): void {
    if (this.#drainScheduled || this.#stopped) return;
    this.#drainScheduled = true;
    // setImmediate, not a microtask: let pending socket reads land first, so they batch.
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  /** Runs `run` against the core now, or after the Ready in flight; then drains. */
  #input(run: () => void, abort: (error: Error) => void = () => {}): void {
    if (this.#stopped) {
      abort(new NotLeaderError(null, 'the node is shutting down'));
      return;
    }
    this.#oldestInputMs ??= performance.now();
    if (this.#readyInFlight) {
      this.#queuedInputs.push({ run, abort });
      return;
    }
    run();
    this.#schedule();
  }

  #drain(): void {
    while (!this.#stopped && !this.#readyInFlight) {
      if (this.#queuedInputs.length > 0) {
        const inputs = this.#queuedInputs;
        this.#queuedInputs = [];
        for (const input of inputs) input.run();
      }
      if (!this.#core.hasReady()) {
        this.#oldestInputMs = null; // inputs that changed nothing (a quiet tick) waited for nothing
        return;
      }
      const ready = this.#core.ready();
      this.#noticeMembership();
      if (this.#oldestInputMs !== null) {
        this.#stage('ready_wait', this.#oldestInputMs);
        this.#oldestInputMs = null;
      }
      // A leader's appends leave before its own log is durable, and it goes on while the sync
      // runs: its fsync overlaps the followers' (dissertation §10.2.1), and it counts itself
      // towards a commit only once the sync is done (entriesDurable). Not when the Ready also
      // changes term or vote: those must be durable before anything that follows from them.
      // (The role as of this Ready, without building a full status on every batch.)
      const leaderAppend =
        ready.entries.length > 0 && ready.snapshot === null && (ready.softState ?? this.#softState).role === 'leader' && this.#termAndVoteUnchanged(ready);
      if (leaderAppend) {
        this.#send(ready.messages);
        const durable = this.#persist(ready);
        assert(durable !== null, 'a Ready with entries persisted nothing');
        const last = ready.entries[ready.entries.length - 1];
        const savingMs = performance.now();
        durable.then(() => {
          this.#stage('log_fsync', savingMs);
          this.#input(() => this.#core.entriesDurable(last.index, last.term));
        }, logSyncFailed);
        this.#finishReady(ready, 'leaderAppend');
        continue;
      }
      const durable = this.#persist(ready);
      if (durable === null) {
        this.#finishReady(ready, 'durable');
        continue;
      }
      // Anything else waits for its sync (a follower's acknowledgement promises its log is
      // durable); meanwhile the event loop serves requests and inputs queue for the next Ready.
      this.#readyInFlight = true;
      const savingMs = performance.now();
      durable.then(() => {
        this.#stage('log_fsync', savingMs);
        this.#readyInFlight = false;
        if (this.#stopped) return;
        this.#finishReady(ready, 'durable');
        this.#drain();
      }, logSyncFailed);
      return;
    }
  }

  /**
   * Step 1 of a Ready: the received snapshot file into place, then log, snapshot meta and hard
   * state written in one transaction. Returns the promise of their fsync, or null when nothing
   * needed writing.
   */
  #persist(ready: Ready): Promise<void> | null {
    const { store, snapshots } = this.#options;
    if (ready.snapshot !== null) {
      const key = snapshotKey(ready.snapshot);
      let incoming: string | undefined;
      for (const [path, received] of this.#receivedSnapshots) if (received.stepped && received.key === key) incoming = path;
      assert(incoming !== undefined, `no received bytes for snapshot ${key}`);
      snapshots.adopt(incoming, ready.snapshot);
      this.#receivedSnapshots.delete(incoming);
    }
    // Every snapshot the core saw before this Ready and did not hand out in it was refused or
    // superseded: it can never be adopted.
    for (const [path, received] of this.#receivedSnapshots) {
      if (!received.stepped) continue;
      snapshots.discard(path);
      this.#receivedSnapshots.delete(path);
    }
    // A change of the commit index alone is not worth an fsync, nor a page in the batch beside
    // entries: the commit index may be lost (the core restarts from what the state machine
    // applied, and learns the rest from the leader), term and vote may not.
    const termAndVoteUnchanged = this.#termAndVoteUnchanged(ready);
    const onlyCommitMoved = ready.snapshot === null && ready.entries.length === 0 && termAndVoteUnchanged;
    if (onlyCommitMoved) return null; // also when nothing at all changed (no hard state)
    const hardState = termAndVoteUnchanged ? null : ready.hardState;
    const durable = store.save({ hardState, entries: ready.entries, snapshot: ready.snapshot });
    if (hardState !== null) {
      // Written now, durable when `durable` resolves; nothing reads these before that but the
      // next Ready, which runs only after it.
      this.#durableTerm = hardState.term;
      this.#durableVote = hardState.vote;
    }
    return durable;
  }

  /**
   * Steps 2 to 4 of a Ready: send, apply, advance. `durable`: once what it persisted is durable.
   * `leaderAppend`: a leader's appends, sent already and only written (see #drain).
   */
  #finishReady(ready: Ready, kind: 'durable' | 'leaderAppend'): void {
    const { stateMachine, snapshots } = this.#options;
    // 2. Send: now everything the messages promise is durable.
    if (kind === 'durable') this.#send(ready.messages);
    // 3. Apply.
    if (ready.snapshot !== null) {
      this.#restores++;
      void this.#snapshotting?.cancel();
      this.#discardWrittenSnapshot();
      stateMachine.restoreSnapshot(snapshots.pathFor(ready.snapshot), ready.snapshot);
      this.#lastSnapshotIndex = ready.snapshot.index;
      this.#snapshotFileWanted = false; // the leader's file is now ours to send
      snapshots.prune(ready.snapshot);
      // Proposals inside the snapshot can no longer be matched to their entries.
      for (const [index, waiter] of this.#proposals) {
        if (index <= ready.snapshot.index) this.#settleProposal(index, waiter, new RaftTimeoutError('outcome unknown: replaced by a snapshot'));
      }
    }
    if (ready.committed.length > 0) this.#apply(ready.committed);
    for (const readState of ready.readStates) this.#endReadRound(readState.requestId, null, readState.index);
    for (const requestId of ready.failedReads) {
      this.#endReadRound(requestId, new NotLeaderError(this.#core.status().leaderId, 'no leader to confirm the read'));
    }
    if (ready.softState !== null) this.#softState = ready.softState;
    // 4. Advance.
    if (kind === 'durable') this.#core.advance(ready);
    else this.#core.advanceBeforeDurable(ready);
    this.#releaseReads();
    this.#startReadRound();
    this.#maybeSnapshot();
    if (ready.softState !== null) this.#options.onSoftState?.(ready.softState);
  }

  /** Tells onMembership of a new configuration (or of this node's removal) before messages leave. */
  #noticeMembership(): void {
    const now = this.#core.membershipNow();
    if (now.index === this.#membershipView.index && now.removed === this.#membershipView.removed && now.membership === this.#membershipView.membership) return;
    this.#membershipView = now;
    this.#options.onMembership?.(now);
  }

  #termAndVoteUnchanged(ready: Ready): boolean {
    return ready.hardState === null || (ready.hardState.term === this.#durableTerm && ready.hardState.vote === this.#durableVote);
  }

  #send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const sendingMs = performance.now();
    const plain: Message[] = [];
    for (const message of messages) {
      if (message.type === 'InstallSnapshot') this.#sendSnapshot(message);
      else plain.push(message);
    }
    if (plain.length > 0) this.#options.transport.send(plain);
    this.#stage('send', sendingMs);
  }

  #stage(stage: RaftStage, sinceMs: number): void {
    this.#options.onStage?.(stage, (performance.now() - sinceMs) / 1000);
  }

  #apply(entries: readonly Entry[]): void {
    const committedMs = performance.now();
    const results = this.#options.stateMachine.apply(entries);
    assert(results.length === entries.length, 'state machine returned the wrong number of results');
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const waiter = this.#proposals.get(entry.index);
      if (waiter === undefined) continue;
      if (waiter.term === entry.term) {
        this.#options.onStage?.('commit', (committedMs - waiter.startedMs) / 1000);
        this.#settleProposal(entry.index, waiter, null, results[i]);
      }
      else this.#settleProposal(entry.index, waiter, new ProposalLostError('a new leader replaced the proposal'));
    }
  }

  #releaseReads(): void {
    if (this.#readsAwaitingApply.length === 0) return;
    const applied = this.#options.stateMachine.appliedIndex();
    const waiting: ReadWaiter[] = [];
    for (const waiter of this.#readsAwaitingApply) {
      if (waiter.settled) continue;
      if (waiter.index <= applied) this.#settleRead(waiter, null);
      else waiting.push(waiter);
    }
    this.#readsAwaitingApply = waiting;
  }

  /**
   * Log compaction. A state machine that keeps its state with the log (meta.db) is its own
   * snapshot: the log is cut at the applied index in place, and a snapshot file is written only
   * when a follower needs one (see #sendSnapshot). Copying all of meta.db every
   * --snapshot-entries entries, on every node at once, cost about an eighth of the small-write
   * throughput. Any other state machine is captured into a file first, and the log is cut at the
   * index that file is as of.
   */
  #maybeSnapshot(): void {
    if (this.#snapshotWritten !== null) this.#compactToWrittenSnapshot();
    if (this.#snapshotting !== null || this.#snapshotWritten !== null) return;
    if (performance.now() - this.#snapshotFailedMs < snapshotRetryMs) return;
    const { stateMachine, snapshotEntriesThreshold } = this.#options;
    const due = stateMachine.appliedIndex() - this.#lastSnapshotIndex >= snapshotEntriesThreshold;
    if (stateMachine.keepsStateWithLog !== true) {
      if (due) this.#startSnapshotFile();
      return;
    }
    if (due) this.#compactInPlace();
    if (!this.#snapshotFileWanted) return;
    // Asked for by a message built before the file now in place (a restore, say): nothing to do.
    const current = this.#core.status().snapshot;
    if (current !== null && this.#options.snapshots.exists(current)) this.#snapshotFileWanted = false;
    else this.#startSnapshotFile();
  }

  /** Cuts the log at the applied index: the state on disk covers it (keepsStateWithLog). */
  #compactInPlace(): void {
    const applied = this.#options.stateMachine.appliedIndex();
    const status = this.#core.status();
    if (applied < status.firstIndex) return;
    // A leader may apply entries its own sync has not finished: the log is cut once it has.
    if (applied > status.durableIndex) return;
    const { snapshots, store } = this.#options;
    const meta = this.#core.compact(applied);
    store.compact(meta);
    // Files of earlier snapshots describe a log that no longer is: no follower can be sent them.
    snapshots.prune(meta);
    this.#lastSnapshotIndex = meta.index;
    this.#onCompacted(meta);
  }

  /**
   * Captures the state machine into a snapshot file in the background when it offers that (a
   * snapshot of a large state took the event loop for up to seconds); the log is compacted at the
   * index the file is as of once it is complete.
   */
  #startSnapshotFile(): void {
    const applied = this.#options.stateMachine.appliedIndex();
    const status = this.#core.status();
    // Nothing applied since the log was cut there is still worth a file when a follower needs it.
    if (applied < status.firstIndex - 1 || applied === 0) return;
    // A leader may apply entries its own sync has not finished: snapshot once it has.
    if (applied > status.durableIndex) return;
    const { snapshots, stateMachine } = this.#options;
    const path = snapshots.localPath();
    const task = stateMachine.startSnapshot?.(path) ?? null;
    if (task === null) {
      stateMachine.writeSnapshot(path);
      this.#snapshotWritten = { path, index: applied };
      this.#compactToWrittenSnapshot();
      return;
    }
    this.#snapshotting = task;
    const restores = this.#restores;
    task.done.then(
      (index) => {
        this.#snapshotting = null;
        assert(index >= applied, `background snapshot as of ${index}, begun at applied ${applied}`);
        if (this.#stopped || restores !== this.#restores) {
          snapshots.discard(path);
          return;
        }
        this.#snapshotWritten = { path, index };
        // Compacting touches the core: only between Readies, as an input.
        this.#input(() => this.#maybeSnapshot());
      },
      (err: unknown) => {
        this.#snapshotting = null;
        // A restore or a stop cancels on purpose; anything else is worth a line, and a later
        // Ready tries again (the log only grows meanwhile).
        if (this.#stopped || restores !== this.#restores) return;
        this.#snapshotFailedMs = performance.now();
        console.error(`raft ${this.id}: snapshot failed (trying again in ${snapshotRetryMs} ms): ${(err as Error).message}`);
      },
    );
  }

  /** Replaces the log up to the written snapshot's index by the snapshot, once that is durable. */
  #compactToWrittenSnapshot(): void {
    const written = this.#snapshotWritten;
    assert(written !== null, 'no written snapshot to compact to');
    const status = this.#core.status();
    const { snapshots, store } = this.#options;
    // A file asked for right after the log was cut in place, with nothing applied since: it is
    // the snapshot the log already starts after.
    if (written.index === this.#lastSnapshotIndex && status.snapshot !== null && !snapshots.exists(status.snapshot)) {
      assert(status.snapshot.index === written.index, `log cut at ${status.snapshot.index}, last snapshot index ${this.#lastSnapshotIndex}`);
      snapshots.adopt(written.path, status.snapshot);
      this.#snapshotWritten = null;
      this.#onCompacted(status.snapshot, true);
      return;
    }
    if (written.index <= this.#lastSnapshotIndex || written.index < status.firstIndex) {
      this.#discardWrittenSnapshot(); // a later snapshot replaced the log meanwhile
      return;
    }
    // The leader's own log may be written but not yet synced that far: wait for its sync.
    if (written.index > status.durableIndex) return;
    const meta = this.#core.compact(written.index);
    snapshots.adopt(written.path, meta);
    store.compact(meta);
    snapshots.prune(meta);
    this.#lastSnapshotIndex = meta.index;
    this.#snapshotWritten = null;
    this.#onCompacted(meta, true);
  }

  /** The log now starts after `meta`; `withFile` when a snapshot file for it is in place. */
  #onCompacted(meta: SnapshotMeta, withFile = false): void {
    if (withFile) this.#snapshotFileWanted = false;
    this.#options.onCompacted?.(meta, withFile);
  }

  #discardWrittenSnapshot(): void {
    if (this.#snapshotWritten === null) return;
    this.#options.snapshots.discard(this.#snapshotWritten.path);
    this.#snapshotWritten = null;
  }

  #sendSnapshot(message: InstallSnapshotMessage): void {
    const { snapshots, transport } = this.#options;
    // One transfer per follower at a time: a large snapshot can outlast the core's patience,
    // and a second copy streaming beside the first only slows both. The core hears how it ended.
    if (this.#snapshotTransfers.has(message.to)) return;
    if (!snapshots.exists(message.snapshot)) {
      // The log was cut in place (or the file is being replaced): make a file. The core sends
      // again once the follower answers a heartbeat, by then naming the file's snapshot.
      this.#core.reportSnapshot(message.to, false);
      // Only for a follower that answers: a node that is down would have one written for it
      // after every compaction, all for nothing. Once it is back, its answers bring it here again.
      const heardAgoMs = this.heardFromAgoMs(message.to);
      const answers = heardAgoMs !== undefined && heardAgoMs < this.#options.config.electionTicks * this.#options.tickMs;
      // The Ready that sent this ends with #maybeSnapshot, which starts the file.
      if (answers && this.#options.stateMachine.keepsStateWithLog === true) this.#snapshotFileWanted = true;
      return;
    }
    const path = snapshots.pathFor(message.snapshot);
    this.#snapshotTransfers.add(message.to);
    void transport.sendSnapshot(message, () => createReadStream(path)).then((ok) => {
      this.#snapshotTransfers.delete(message.to);
      this.#input(() => this.#core.reportSnapshot(message.to, ok));
    });
  }

  #settleProposal(index: number, waiter: ProposalWaiter, error: Error | null, result?: unknown): void {
    clearTimeout(waiter.timer);
    this.#proposals.delete(index);
    if (error === null) waiter.resolve(result);
    else waiter.reject(error);
  }

  #settleRead(waiter: ReadWaiter, error: Error | null): void {
    if (waiter.settled) return;
    waiter.settled = true;
    clearTimeout(waiter.timer);
    if (error === null) waiter.resolve(waiter.index);
    else waiter.reject(error);
  }
}

/** The Raft log may or may not be on disk: nothing can be promised from here on. */
function logSyncFailed(error: unknown): never {
  failStop(new AssertionError(`Raft log fsync failed: ${error instanceof Error ? error.message : String(error)}`), 'raft log');
}

/** Received snapshots waiting for the core at once; more are dropped (the leader sends again). */
export const receivedSnapshotsMax = 4;

interface ReceivedSnapshot {
  /** `index/term` of the snapshot the file holds. */
  readonly key: string;
  /** The core has seen its message: the next Ready adopts or drops it. */
  stepped: boolean;
}

function snapshotKey(meta: { index: number; term: number }): string {
  return `${meta.index}/${meta.term}`;
}
