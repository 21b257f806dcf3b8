import { assert } from '../../../shared/assert.ts';
import type { Entry, SnapshotMeta } from './types.ts';

/**
 * The core's view of its log: a snapshot (the compacted prefix) followed by entries held in
 * memory. It also tracks which suffix is not yet durable (`stableIndex`), so ready() can hand
 * exactly that suffix to the driver, and which snapshot was received but not yet persisted.
 */
export class RaftLog {
  #snapshot: SnapshotMeta | null;
  /** entries[i].index === snapshotIndex + 1 + i */
  #entries: Entry[];
  /** The highest index the driver has made durable. */
  #stableIndex: number;
  /**
   * The highest index handed to the driver to write (stableIndex <= writtenIndex <= lastIndex):
   * entries between the two are being made durable, so no later Ready hands them out again.
   */
  #writtenIndex: number;
  /** A snapshot received from a leader that replaced the log and is not yet durable. */
  #unstableSnapshot: SnapshotMeta | null = null;

  constructor(snapshot: SnapshotMeta | null, entries: readonly Entry[]) {
    this.#snapshot = snapshot;
    this.#entries = [...entries];
    for (let i = 0; i < this.#entries.length; i++) {
      assert(
        this.#entries[i].index === this.snapshotIndex + 1 + i,
        `log entries must be contiguous after the snapshot (entry ${i} has index ${this.#entries[i].index})`,
      );
    }
    this.#stableIndex = this.lastIndex;
    this.#writtenIndex = this.lastIndex;
  }

  get snapshot(): SnapshotMeta | null {
    return this.#snapshot;
  }
  get snapshotIndex(): number {
    return this.#snapshot?.index ?? 0;
  }
  get snapshotTerm(): number {
    return this.#snapshot?.term ?? 0;
  }
  get firstIndex(): number {
    return this.snapshotIndex + 1;
  }
  get lastIndex(): number {
    return this.snapshotIndex + this.#entries.length;
  }
  get lastTerm(): number {
    return this.term(this.lastIndex)!;
  }
  get stableIndex(): number {
    return this.#stableIndex;
  }
  get writtenIndex(): number {
    return this.#writtenIndex;
  }
  get unstableSnapshot(): SnapshotMeta | null {
    return this.#unstableSnapshot;
  }

  /** The term of the entry at `index`, or undefined when it was compacted away or is past the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex) return undefined;
    return this.#entries[index - this.firstIndex].term;
  }

  entry(index: number): Entry {
    assert(index >= this.firstIndex && index <= this.lastIndex, `entry ${index} outside [${this.firstIndex}, ${this.lastIndex}]`);
    return this.#entries[index - this.firstIndex];
  }

  /** Entries from `from` to `to` inclusive, stopping once `bytesMax` of data is reached (at least one). */
  slice(from: number, to: number, bytesMax: number): Entry[] {
    assert(from >= this.firstIndex, `slice from ${from} reaches into the compacted log (first ${this.firstIndex})`);
    const end = Math.min(to, this.lastIndex);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = from; index <= end; index++) {
      const entry = this.#entries[index - this.firstIndex];
      bytes += entry.data.length;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** All entries not yet handed to the driver to write, in order; they count as handed out now. */
  takeUnwrittenEntries(): Entry[] {
    if (this.#writtenIndex >= this.lastIndex) return [];
    const entries = this.#entries.slice(this.#writtenIndex + 1 - this.firstIndex);
    this.#writtenIndex = this.lastIndex;
    return entries;
  }

  /** Appends `entries`, which must follow on from the log (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex + 1, `append of index ${entry.index} after ${this.lastIndex}`);
      assert(entry.term >= this.lastTerm, `append of term ${entry.term} after term ${this.lastTerm}`);
      this.#entries.push(entry);
    }
  }

  /**
   * Stores a leader's entries after prevIndex: entries already present with the same term are
   * kept; at the first conflict the log is cut there and the rest appended (paper figure 2,
   * AppendEntries steps 3 and 4). Entries at or below `committed` must never be cut. Returns
   * the index from which the log changed (every entry from there on is new), or null.
   */
  merge(entries: readonly Entry[], committed: number): number | null {
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.index < this.firstIndex) continue; // inside our snapshot: committed, so it matches
      const existingTerm = this.term(entry.index);
      if (existingTerm === entry.term) continue;
      if (existingTerm !== undefined) {
        assert(entry.index > committed, `conflicting entry at committed index ${entry.index} (commit ${committed})`);
        this.#truncateFrom(entry.index);
      }
      this.append(entries.slice(i));
      return entry.index;
    }
    return null;
  }

  #truncateFrom(index: number): void {
    this.#entries.length = index - this.firstIndex;
    if (this.#stableIndex >= index) this.#stableIndex = index - 1;
    if (this.#writtenIndex >= index) this.#writtenIndex = index - 1;
  }

  /** The driver made entries through `index` durable. */
  markStable(index: number): void {
    assert(index <= this.#writtenIndex, `stable index ${index} past the written index ${this.#writtenIndex}`);
    if (index > this.#stableIndex) this.#stableIndex = index;
  }

  /** The application captured its state at `meta.index`: drop the log through it. */
  compact(meta: SnapshotMeta): void {
    assert(meta.index > this.snapshotIndex, `compaction to ${meta.index} is not past the snapshot at ${this.snapshotIndex}`);
    assert(meta.index <= this.#stableIndex, `compaction to ${meta.index} past the durable log (${this.#stableIndex})`);
    assert(this.term(meta.index) === meta.term, `compaction to ${meta.index} with term ${meta.term}, log has ${this.term(meta.index)}`);
    this.#entries = this.#entries.slice(meta.index - this.snapshotIndex);
    this.#snapshot = meta;
  }

  /** A snapshot from the leader replaces the whole log; it becomes durable with the next Ready. */
  restore(meta: SnapshotMeta): void {
    this.#entries = [];
    this.#snapshot = meta;
    this.#unstableSnapshot = meta;
    this.#stableIndex = meta.index;
    this.#writtenIndex = meta.index;
  }

  markSnapshotStable(meta: SnapshotMeta): void {
    if (this.#unstableSnapshot === meta) this.#unstableSnapshot = null;
  }

  /** Is a log ending at (lastTerm, lastIndex) at least as up to date as ours? (§5.4.1) */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm || (lastTerm === this.lastTerm && lastIndex >= this.lastIndex);
  }

  /** All entries held in memory (after the snapshot), for checkers and status. */
  entries(): readonly Entry[] {
    return this.#entries;
  }
}
