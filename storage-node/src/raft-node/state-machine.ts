import type { Entry, SnapshotMeta } from '../raft/types.ts';

/**
 * The application a RaftNode replicates (after hashicorp/raft's FSM). The contract:
 *  - apply() is deterministic: the same entries in the same order give the same state and
 *    results on every node. It records the last applied index in the same transaction as the
 *    changes, so an entry is applied exactly once across restarts.
 *  - writeSnapshot() captures the state as of appliedIndex() into a file, durably.
 *  - restoreSnapshot() discards ALL previous state and loads the file; afterwards appliedIndex()
 *    is the snapshot's index.
 */
export interface StateMachine {
  appliedIndex(): number;
  /** One result per entry, in order (noop entries give undefined). */
  apply(entries: readonly Entry[]): unknown[];
  writeSnapshot(path: string): void;
  restoreSnapshot(path: string, meta: SnapshotMeta): void;
}
