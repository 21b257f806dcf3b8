// A node's durable storage in the simulation: hard state, the latest snapshot (meta + KV bytes)
// and the log entries after it. Only what was written here survives a crash.
import type { RaftInitialState } from '../../storage-node/src/raft/config.ts';
import type { Entry, HardState, NodeId, SnapshotMeta } from '../../storage-node/src/raft/types.ts';

export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: string;
}

export class DurableStorage {
  /** The membership at index 0: the founders, or no one for a node that joined later. */
  bootstrapVoters: readonly NodeId[];
  /** For a node that joined a running cluster: the index of the config entry that added it. */
  joinedAt = 0;
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: StoredSnapshot | null = null;
  /**
   * The snapshot before the latest one. A leader may hand out an InstallSnapshot naming a
   * snapshot it replaced a moment ago (the message was built before the local compaction); a
   * real node keeps that file until the transfer ends, so the bytes stay available here too.
   */
  previousSnapshot: StoredSnapshot | null = null;
  entries: Entry[] = [];

  constructor(founders: readonly NodeId[]) {
    this.bootstrapVoters = founders;
  }

  /** A wiped data directory, for a node that joins again under its old id (added at `joinedAt`). */
  wipeForJoin(joinedAt: number): void {
    this.bootstrapVoters = [];
    this.joinedAt = joinedAt;
    this.hardState = { term: 0, vote: null, commit: 0 };
    this.snapshot = null;
    this.previousSnapshot = null;
    this.entries = [];
  }

  /** Is `entry` durable here (in the stored log, or inside the stored snapshot)? */
  holds(entry: Entry): boolean {
    if (entry.index <= this.snapshotIndex()) return true;
    return this.entries.some((e) => e.index === entry.index && e.term === entry.term);
  }

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].index : this.snapshotIndex();
  }

  /**
   * Persists a snapshot received from the leader. As in the paper (§7, InstallSnapshot step 6):
   * if the stored log holds the snapshot's last entry, the entries after it are kept; otherwise
   * the whole log is discarded.
   */
  persistReceivedSnapshot(meta: SnapshotMeta, data: string): void {
    const at = this.entries.find((e) => e.index === meta.index);
    this.entries = at !== undefined && at.term === meta.term ? this.entries.filter((e) => e.index > meta.index) : [];
    this.setSnapshot({ meta, data });
  }

  /** A local capture: the state machine holds everything through meta.index. */
  persistCapturedSnapshot(meta: SnapshotMeta, data: string): void {
    this.entries = this.entries.filter((e) => e.index > meta.index);
    this.setSnapshot({ meta, data });
  }

  /**
   * Replaces stored entries at or after entries[0].index with `entries`. Returns a description
   * of a contract breach (a gap, or entries inside the snapshot), or null.
   */
  persistEntries(entries: readonly Entry[]): string | null {
    if (entries.length === 0) return null;
    const first = entries[0].index;
    let problem: string | null = null;
    if (first <= this.snapshotIndex()) {
      problem = `entries from ${first} overlap the snapshot through ${this.snapshotIndex()}`;
    } else if (first > this.lastIndex() + 1) {
      problem = `entries from ${first} leave a gap after the stored last index ${this.lastIndex()}`;
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== entries[i - 1].index + 1) {
        problem ??= `entries are not contiguous at ${entries[i - 1].index} -> ${entries[i].index}`;
      }
    }
    this.entries = this.entries.filter((e) => e.index < first).concat(entries);
    return problem;
  }

  persistHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  /** The bytes of the snapshot `meta` names, if this node still has them. */
  snapshotData(meta: SnapshotMeta): string | null {
    for (const s of [this.snapshot, this.previousSnapshot]) {
      if (s !== null && s.meta.index === meta.index && s.meta.term === meta.term) return s.data;
    }
    return null;
  }

  initialState(): RaftInitialState {
    return {
      hardState: this.hardState,
      snapshot: this.snapshot?.meta ?? null,
      entries: [...this.entries],
      applied: this.snapshot?.meta.index ?? 0,
      membership: this.snapshot?.meta.membership ?? { voters: [...this.bootstrapVoters], learners: [] },
      joinedAt: this.joinedAt,
    };
  }

  private setSnapshot(snapshot: StoredSnapshot): void {
    if (this.snapshot !== null && this.snapshot.meta.index !== snapshot.meta.index) {
      this.previousSnapshot = this.snapshot;
    }
    this.snapshot = snapshot;
  }
}
