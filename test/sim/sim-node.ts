// One simulated server: a RaftCore, its durable storage and its volatile KV state machine. It
// drives each Ready exactly as the contract in types.ts says, captures a snapshot every
// `snapshotEvery` applied entries, and can crash at any point of a Ready (losing what was not
// yet persisted) and restart from durable storage.
import { defaultRaftConfig, type UnsafeRules } from '../../storage-node/src/raft/config.ts';
import { RaftCore } from '../../storage-node/src/raft/raft-core.ts';
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  Ready,
  SnapshotMeta,
} from '../../storage-node/src/raft/types.ts';
import type { MembershipChange, MembershipChangeResult } from '../../storage-node/src/raft/membership.ts';
import { assert } from '../../shared/assert.ts';
import { DurableStorage } from './durable-storage.ts';
import { formatEntries, formatEntry } from './format.ts';
import { KvStore, decodeCommand, type KvResult } from './kv-model.ts';
import type { Delivery } from './network.ts';
import type { Prng } from './prng.ts';

/** How far behind (in entries) a learner may be and still be promoted, in the simulation. */
const LEARNER_CATCH_UP_ENTRIES_MAX = 5;

/** More Readys than this in one drain means the core is spinning without progress. */
const MAX_READIES_PER_DRAIN = 1000;

/** Where in the handling of the next Ready a planned crash happens. */
export type CrashPoint = 'beforePersist' | 'afterPersist' | 'afterSend' | 'afterApply';

export interface NodeHooks {
  /** Called before each Ready is taken and after the node settles: the checkers watch status. */
  observe(node: SimNode): void;
  send(from: SimNode, message: Message, snapshotData: string | null): void;
  applied(node: SimNode, entry: Entry, result: KvResult | null): void;
  restored(node: SimNode, meta: SnapshotMeta, data: string): void;
  captured(node: SimNode, meta: SnapshotMeta, data: string): void;
  readServed(node: SimNode, requestId: string, kv: KvStore): void;
  readFailed(node: SimNode, requestId: string): void;
  crashed(node: SimNode): void;
  violation(node: SimNode, check: string, detail: string): void;
  trace: ((line: string) => void) | null;
}

export interface SimNodeOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** AppendEntries batch limit; 0 sends one entry with data per message. */
  readonly appendBatchBytesMax: number;
  readonly snapshotEvery: number;
  /** The stream the cores' randomInt draws from (one derived stream per incarnation). */
  readonly rng: Prng;
  readonly unsafe?: UnsafeRules;
  /** Chance per tick that the background sync of a leader's writes finishes. */
  readonly backgroundSyncChance: number;
}

export class SimNode {
  readonly id: NodeId;
  readonly storage: DurableStorage;
  core: RaftCore | null = null;
  kv = new KvStore();
  applied = 0;
  incarnation = 0;
  /** A crash planned by the fault schedule: it happens while handling the next Ready. */
  crashPlan: CrashPoint | null = null;
  private pendingSnapshots = new Map<string, string>();
  private pendingReads: { requestId: string; index: number }[] = [];
  /**
   * A leader's appends written but not yet synced (the driver's background sync): lost in a
   * crash, made durable in order, all at once, at a random later tick or before any synchronous
   * persist (a later fsync of the same log file makes every earlier write durable).
   */
  private unsynced: { entries: readonly Entry[]; hardState: HardState | null }[] = [];
  /** Entries synced while a Ready was outstanding: the core hears after advance(). */
  private syncedUnreported: Entry | null = null;
  /** Decides which leader Readies are synced in the background, and when syncs finish. */
  private syncRng: Prng | null = null;

  constructor(
    private readonly options: SimNodeOptions,
    private readonly hooks: NodeHooks,
  ) {
    this.id = options.id;
    this.storage = new DurableStorage(options.voters);
  }

  get up(): boolean {
    return this.core !== null;
  }

  /** Boots (or reboots) from durable storage; the KV restarts from the durable snapshot. */
  start(): void {
    const initial = this.storage.initialState();
    const rng = this.options.rng.derive(`${this.id}#${this.incarnation}`);
    this.syncRng = this.options.rng.derive(`${this.id}#sync#${this.incarnation}`);
    this.incarnation++;
    this.core = new RaftCore(
      {
        ...defaultRaftConfig,
        id: this.id,
        electionTicks: this.options.electionTicks,
        heartbeatTicks: this.options.heartbeatTicks,
        appendBatchBytesMax: this.options.appendBatchBytesMax,
        randomInt: (n) => rng.int(n),
        // Small, so that the nemesis's promotions of lagging learners are refused now and then.
        learnerCatchUpEntriesMax: LEARNER_CATCH_UP_ENTRIES_MAX,
        unsafe: this.options.unsafe,
      },
      initial,
    );
    const snap = this.storage.snapshot;
    this.kv = snap === null ? new KvStore() : KvStore.deserialize(snap.data).store;
    this.applied = initial.applied;
    this.trace(
      `start #${this.incarnation} term=${initial.hardState.term} vote=${initial.hardState.vote} ` +
        `commit=${initial.hardState.commit} snapshot=${snap ? `${snap.meta.index}/${snap.meta.term}` : 'none'} ` +
        `log=${formatEntries(initial.entries)}`,
    );
    this.drain();
  }

  /** Loses the core and everything volatile; durable storage stays as last written. */
  crash(reason: string): void {
    if (this.core === null) return;
    this.trace(`CRASH (${reason}) durable: term=${this.storage.hardState.term} log..${this.storage.lastIndex()}`);
    this.core = null;
    this.crashPlan = null;
    this.unsynced = [];
    this.syncedUnreported = null;
    this.kv = new KvStore();
    this.applied = 0;
    this.pendingSnapshots.clear();
    this.pendingReads = [];
    this.hooks.crashed(this);
  }

  receive(delivery: Delivery): void {
    if (this.core === null) return;
    const m = delivery.message;
    if (m.type === 'InstallSnapshot' && delivery.snapshotData !== null) {
      this.pendingSnapshots.set(snapKey(m.snapshot), delivery.snapshotData);
    }
    this.core.step(m);
    this.drain();
  }

  /** The transport found nothing listening at `peer` (it is down): a real node hears this too. */
  reportPeerDown(peer: string): void {
    if (this.core === null) return;
    this.core.reportPeerDown(peer);
    this.drain();
  }

  tick(): void {
    if (this.core === null) return;
    // A background sync finishes at a random tick: the core counts the entries as durable.
    if (this.unsynced.length > 0 && this.syncRng!.int(1_000_000) < this.options.backgroundSyncChance * 1_000_000) {
      const last = this.syncUnsynced();
      this.core.entriesDurable(last.index, last.term);
    }
    this.core.tick();
    this.drain();
  }

  /** Makes the background writes durable, in order; returns the last entry written. */
  private syncUnsynced(): Entry {
    let last: Entry | null = null;
    for (const write of this.unsynced) {
      if (write.entries.length > 0) {
        const problem = this.storage.persistEntries(write.entries);
        if (problem !== null) this.hooks.violation(this, 'driver-contract', `${this.id}: Ready.entries ${problem}`);
        last = write.entries[write.entries.length - 1];
      }
      if (write.hardState !== null) this.storage.persistHardState(write.hardState);
    }
    this.unsynced = [];
    assert(last !== null, 'background writes without entries');
    this.trace(`sync background writes through ${last.index}`);
    return last;
  }

  propose(data: string): ProposeResult | null {
    if (this.core === null) return null;
    const result = this.core.propose(data);
    this.drain();
    return result;
  }

  readIndex(requestId: string): boolean {
    if (this.core === null) return false;
    this.core.readIndex(requestId);
    this.drain();
    return true;
  }

  transferLeadership(target: NodeId): boolean {
    if (this.core === null) return false;
    const ok = this.core.transferLeadership(target);
    this.drain();
    return ok;
  }

  proposeMembershipChange(change: MembershipChange): MembershipChangeResult | null {
    if (this.core === null) return null;
    const result = this.core.proposeMembershipChange(change);
    this.drain();
    return result;
  }

  /**
   * The node's data directory is wiped and it starts again as a new member under its old id,
   * added by the config entry at `joinedAt` (only ever done to a node whose removal committed).
   */
  wipeAndJoin(joinedAt: number): void {
    this.crash('wiped to join again');
    this.storage.wipeForJoin(joinedAt);
    this.start();
  }

  /** Handles every pending Ready; stops early when a planned crash fires. */
  drain(): void {
    let readies = 0;
    while (this.core !== null && this.core.hasReady()) {
      if (++readies > MAX_READIES_PER_DRAIN) {
        throw new Error(`${this.id}: the core still has a Ready after ${MAX_READIES_PER_DRAIN} in a row (livelock)`);
      }
      this.hooks.observe(this);
      const rd = this.core.ready();
      if (!this.handle(this.core, rd)) return;
    }
    if (this.core !== null) this.hooks.observe(this);
  }

  /** One Ready, in contract order. Returns false when the node crashed part way. */
  private handle(core: RaftCore, rd: Ready): boolean {
    if (rd.softState !== null) {
      const s = rd.softState;
      this.trace(`role=${s.role} term=${s.term} leader=${s.leaderId}`);
    }
    if (this.crashPlan === 'beforePersist') return this.crashMidReady('before persisting a Ready');
    // Nothing reached the core since it made the Ready: its role now is the role then.
    const roleAtReady = core.status().role;
    const durable = this.storage.hardState;
    const background =
      rd.entries.length > 0 &&
      rd.snapshot === null &&
      roleAtReady === 'leader' &&
      (rd.hardState === null || (rd.hardState.term === durable.term && rd.hardState.vote === durable.vote)) &&
      this.syncRng!.int(2) === 0;
    if (background) return this.handleInBackground(core, rd);
    // What this Ready persists is synced, and so the background writes before it with it; a
    // change of the commit index alone is only written, like RaftNode's driver does.
    const termOrVoteChanged = rd.hardState !== null && (rd.hardState.term !== durable.term || rd.hardState.vote !== durable.vote);
    if (this.unsynced.length > 0) {
      if (rd.entries.length > 0 || rd.snapshot !== null || termOrVoteChanged) this.syncedUnreported = this.syncUnsynced();
      else if (rd.hardState !== null) this.unsynced.push({ entries: [], hardState: rd.hardState });
    }
    const persistHardState = rd.hardState !== null && this.unsynced.length === 0;

    // 1. Persist snapshot, entries, hard state.
    let snapshotData: string | null = null;
    if (rd.snapshot !== null) {
      snapshotData = this.pendingSnapshots.get(snapKey(rd.snapshot)) ?? this.storage.snapshotData(rd.snapshot);
      if (snapshotData === null) {
        this.hooks.violation(
          this,
          'driver-contract',
          `${this.id}: Ready.snapshot ${snapKey(rd.snapshot)} names no snapshot this node received or holds`,
        );
      } else {
        this.storage.persistReceivedSnapshot(rd.snapshot, snapshotData);
        this.trace(`persist snapshot ${snapKey(rd.snapshot)}`);
      }
    }
    if (rd.entries.length > 0) {
      const problem = this.storage.persistEntries(rd.entries);
      if (problem !== null) this.hooks.violation(this, 'driver-contract', `${this.id}: Ready.entries ${problem}`);
      this.trace(`persist entries ${formatEntries(rd.entries)}`);
    }
    if (persistHardState && rd.hardState !== null) {
      this.storage.persistHardState(rd.hardState);
      const h = rd.hardState;
      this.trace(`persist hardState term=${h.term} vote=${h.vote} commit=${h.commit}`);
    }
    if (this.crashPlan === 'afterPersist') return this.crashMidReady('after persisting, before sending');

    // 2. Send.
    for (const m of rd.messages) {
      const data = m.type === 'InstallSnapshot' ? this.storage.snapshotData(m.snapshot) : null;
      if (m.type === 'InstallSnapshot' && data === null) {
        this.hooks.violation(
          this,
          'driver-contract',
          `${this.id}: InstallSnapshot to ${m.to} names snapshot ${snapKey(m.snapshot)} that is not durable here`,
        );
      }
      this.hooks.send(this, m, data);
    }
    if (this.crashPlan === 'afterSend') return this.crashMidReady('after sending, before applying');

    // 3. Restore the snapshot, then apply committed entries.
    if (rd.snapshot !== null && snapshotData !== null) {
      if (rd.snapshot.index < this.applied) {
        this.hooks.violation(
          this,
          'driver-contract',
          `${this.id}: Ready.snapshot ${snapKey(rd.snapshot)} is behind the applied index ${this.applied}`,
        );
      }
      this.kv = KvStore.deserialize(snapshotData).store;
      this.applied = rd.snapshot.index;
      this.trace(`restore snapshot ${snapKey(rd.snapshot)}`);
      this.hooks.restored(this, rd.snapshot, snapshotData);
      for (const key of [...this.pendingSnapshots.keys()]) {
        if (Number(key.split('/')[0]) <= this.applied) this.pendingSnapshots.delete(key);
      }
    }
    this.applyReady(rd);
    if (this.crashPlan === 'afterApply') return this.crashMidReady('after applying, before advance');

    // 4. Advance, then maybe capture a snapshot.
    core.advance(rd);
    this.reportSynced(core);
    this.maybeCapture(core);
    return true;
  }

  /**
   * A leader's Ready whose entries are only written (RaftNode's driver does this): they are
   * synced later, while the node sends, applies and advances now.
   */
  private handleInBackground(core: RaftCore, rd: Ready): boolean {
    this.unsynced.push({ entries: rd.entries, hardState: rd.hardState });
    this.trace(`write entries ${formatEntries(rd.entries)} (synced in the background)`);
    if (this.crashPlan === 'afterPersist') return this.crashMidReady('after writing, before the background sync');
    for (const m of rd.messages) this.hooks.send(this, m, m.type === 'InstallSnapshot' ? this.storage.snapshotData(m.snapshot) : null);
    if (this.crashPlan === 'afterSend') return this.crashMidReady('after sending, before applying');
    this.applyReady(rd);
    if (this.crashPlan === 'afterApply') return this.crashMidReady('after applying, before advance');
    core.advanceBeforeDurable(rd);
    this.reportSynced(core);
    this.maybeCapture(core);
    return true;
  }

  /** Step 3 of a Ready, after any snapshot restore: committed entries, then the reads they allow. */
  private applyReady(rd: Ready): void {
    for (const entry of rd.committed) this.apply(entry);
    for (const rs of rd.readStates) this.pendingReads.push({ requestId: rs.requestId, index: rs.index });
    for (const id of rd.failedReads) this.hooks.readFailed(this, id);
    this.serveReads();
  }

  private reportSynced(core: RaftCore): void {
    if (this.syncedUnreported === null) return;
    const last = this.syncedUnreported;
    this.syncedUnreported = null;
    core.entriesDurable(last.index, last.term);
  }

  private apply(entry: Entry): void {
    if (entry.index !== this.applied + 1) {
      this.hooks.violation(
        this,
        'driver-contract',
        `${this.id}: committed entry ${entry.index} handed out after applied index ${this.applied}`,
      );
    }
    this.applied = entry.index;
    const result = entry.type === 'normal' ? this.kv.apply(decodeCommand(entry.data)) : null;
    this.trace(`apply ${formatEntry(entry)}${result && !result.applied ? ' (cas mismatch)' : ''}`);
    this.hooks.applied(this, entry, result);
  }

  private serveReads(): void {
    if (this.pendingReads.length === 0) return;
    const waiting: { requestId: string; index: number }[] = [];
    for (const r of this.pendingReads) {
      if (r.index <= this.applied) this.hooks.readServed(this, r.requestId, this.kv);
      else waiting.push(r);
    }
    this.pendingReads = waiting;
  }

  private maybeCapture(core: RaftCore): void {
    if (this.applied - this.storage.snapshotIndex() < this.options.snapshotEvery) return;
    // A leader may apply entries its background sync has not finished: capture once it has.
    if (this.applied > core.status().durableIndex) return;
    const index = this.applied;
    const data = this.kv.serialize(index);
    const meta = core.compact(index);
    if (meta.index !== index) {
      this.hooks.violation(this, 'driver-contract', `${this.id}: compact(${index}) returned a snapshot at ${meta.index}`);
    }
    this.storage.persistCapturedSnapshot(meta, data);
    this.trace(`capture snapshot ${snapKey(meta)} (log now from ${this.storage.snapshotIndex() + 1})`);
    this.hooks.captured(this, meta, data);
  }

  /** A planned crash part way through a Ready; returns false for handle(). */
  private crashMidReady(reason: string): false {
    this.crash(reason);
    return false;
  }

  private trace(line: string): void {
    this.hooks.trace?.(`${this.id} ${line}`);
  }
}

function snapKey(meta: SnapshotMeta): string {
  return `${meta.index}/${meta.term}`;
}
