// The in-memory twin of SqliteRaftLogStore, for tests and the simulation: same semantics, same
// refusals. Its "disk" outlives the store, so a simulated crash is: drop the store, open a new
// one on the same disk. Everything save() returned from is there; nothing else is.
import { assert } from '../../../shared/assert.ts';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.ts';
import {
  assertCompactable,
  assertEntriesFit,
  assertLoadedLog,
  assertSnapshotAdvances,
} from './log-invariants.ts';
import type { RaftLogStore } from './raft-log-store.ts';

export interface MemoryRaftLogDisk {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  /** Contiguous, starting right after the snapshot (or at 1). */
  entries: Entry[];
}

export function emptyMemoryRaftLogDisk(): MemoryRaftLogDisk {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
}

// Copies on the way in and out, as a database would: callers can never alias stored state.
function copyEntry(entry: Entry): Entry {
  return { index: entry.index, term: entry.term, type: entry.type, data: entry.data };
}

export class MemoryRaftLogStore implements RaftLogStore {
  private closed = false;

  constructor(private readonly disk: MemoryRaftLogDisk = emptyMemoryRaftLogDisk()) {}

  load(): { hardState: HardState; snapshot: SnapshotMeta | null; entries: Entry[] } {
    this.assertOpen();
    const { hardState, snapshot, entries } = this.disk;
    assertLoadedLog(entries, snapshot?.index ?? 0);
    return {
      hardState: { ...hardState },
      snapshot: snapshot === null ? null : structuredClone(snapshot),
      entries: entries.map(copyEntry),
    };
  }

  save(batch: {
    hardState: HardState | null;
    entries: readonly Entry[];
    snapshot: SnapshotMeta | null;
  }): Promise<void> {
    this.assertOpen();
    // Check everything first and mutate only after: that is this twin's transaction.
    let snapshotIndex = this.disk.snapshot?.index ?? 0;
    let lastIndex = this.lastIndex();
    if (batch.snapshot !== null) {
      assertSnapshotAdvances(batch.snapshot, snapshotIndex);
      snapshotIndex = lastIndex = batch.snapshot.index;
    }
    assertEntriesFit(batch.entries, snapshotIndex, lastIndex);

    if (batch.snapshot !== null) {
      this.disk.snapshot = structuredClone(batch.snapshot);
      this.disk.entries = [];
    }
    const first = batch.entries[0];
    if (first !== undefined) {
      this.disk.entries.length = first.index - snapshotIndex - 1;
      for (const entry of batch.entries) this.disk.entries.push(copyEntry(entry));
    }
    if (batch.hardState !== null) this.disk.hardState = { ...batch.hardState };
    return Promise.resolve();
  }

  compact(snapshot: SnapshotMeta): void {
    this.assertOpen();
    const snapshotIndex = this.disk.snapshot?.index ?? 0;
    const termAt = this.disk.entries[snapshot.index - snapshotIndex - 1]?.term;
    assertCompactable(snapshot, snapshotIndex, this.lastIndex(), termAt);
    this.disk.snapshot = structuredClone(snapshot);
    this.disk.entries.splice(0, snapshot.index - snapshotIndex);
  }

  close(): void {
    this.closed = true;
  }

  private assertOpen(): void {
    assert(!this.closed, 'the Raft log store is closed');
  }

  /** The last stored entry's index, or the snapshot's when the log is empty. */
  private lastIndex(): number {
    return this.disk.entries.at(-1)?.index ?? this.disk.snapshot?.index ?? 0;
  }
}
