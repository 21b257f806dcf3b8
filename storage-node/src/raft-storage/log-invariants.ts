// Shape rules of a stored Raft log, shared by the SQLite store and its in-memory twin so that
// both refuse exactly the same batches. A violation is a bug in the caller: fail loudly.
import { assert } from '../../../shared/assert.ts';
import type { Entry, SnapshotMeta } from '../raft/types.ts';

const entryTypes: ReadonlySet<string> = new Set(['normal', 'noop', 'config']);

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1;
}

/**
 * `entries` may replace a suffix of the log or extend it, never leave a gap and never reach into
 * the compacted prefix. `lastIndex` is the last stored entry's index (the snapshot's if none).
 */
export function assertEntriesFit(
  entries: readonly Entry[],
  snapshotIndex: number,
  lastIndex: number,
): void {
  const first = entries[0];
  if (first === undefined) return;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    assert(isPositiveInteger(entry.index), `entry index ${entry.index} is not a positive integer`);
    assert(isPositiveInteger(entry.term), `entry ${entry.index} has term ${entry.term}`);
    assert(entryTypes.has(entry.type), `entry ${entry.index} has unknown type ${entry.type}`);
    assert(typeof entry.data === 'string', `entry ${entry.index} data is not a string`);
    if (i > 0) {
      const previous = entries[i - 1];
      assert(
        entry.index === previous.index + 1,
        `entries not contiguous: ${entry.index} follows ${previous.index}`,
      );
      assert(
        entry.term >= previous.term,
        `entry terms decrease: ${entry.index}@${entry.term} after ${previous.index}@${previous.term}`,
      );
    }
  }
  assert(
    first.index > snapshotIndex,
    `entry ${first.index} is inside the snapshot (compacted through ${snapshotIndex})`,
  );
  assert(
    first.index <= lastIndex + 1,
    `entry ${first.index} would leave a gap after the last stored entry ${lastIndex}`,
  );
}

/** A snapshot never moves backwards: that would resurrect a compacted (applied) prefix. */
export function assertSnapshotAdvances(snapshot: SnapshotMeta, currentIndex: number): void {
  assert(isPositiveInteger(snapshot.index), `snapshot index ${snapshot.index} is not positive`);
  assert(isPositiveInteger(snapshot.term), `snapshot term ${snapshot.term} is not positive`);
  assert(
    snapshot.index >= currentIndex,
    `snapshot at ${snapshot.index} is older than the stored one at ${currentIndex}`,
  );
}

/**
 * Compaction after the application's own snapshot: the snapshot covers entries we hold, so it
 * must not go past the log's end and must agree on the term of the entry it ends at.
 */
export function assertCompactable(
  snapshot: SnapshotMeta,
  currentIndex: number,
  lastIndex: number,
  termAtIndex: number | undefined,
): void {
  assertSnapshotAdvances(snapshot, currentIndex);
  assert(
    snapshot.index <= lastIndex,
    `cannot compact through ${snapshot.index}: the log ends at ${lastIndex}`,
  );
  assert(
    termAtIndex === undefined || termAtIndex === snapshot.term,
    `snapshot term ${snapshot.term} differs from entry ${snapshot.index}'s term ${termAtIndex}`,
  );
}

/** What a restart reads back must be a contiguous log starting right after the snapshot. */
export function assertLoadedLog(entries: readonly Entry[], snapshotIndex: number): void {
  entries.forEach((entry, i) => {
    assert(
      entry.index === snapshotIndex + 1 + i,
      `stored log broken: found entry ${entry.index} where ${snapshotIndex + 1 + i} belongs`,
    );
  });
}
