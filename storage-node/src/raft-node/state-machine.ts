import type { Entry, SnapshotMeta } from '../raft/types.ts';

/**
 * The application a RaftNode replicates (after hashicorp/raft's FSM). The contract:
 *  - apply() is deterministic: the same entries in the same order give the same state and
 *    results on every node. It records the last applied index in the same transaction as the
 *    changes, so an entry is applied exactly once across restarts.
 *  - writeSnapshot() captures the state as of appliedIndex() into a file, durably.
 *  - startSnapshot(), when offered, does the same off the event loop while apply() goes on; its
 *    file is as of the index it resolves with (at least appliedIndex() when it was called).
 *  - restoreSnapshot() discards ALL previous state and loads the file; afterwards appliedIndex()
 *    is the snapshot's index.
 *  - keepsStateWithLog, when true, promises that apply() commits into the store that holds the
 *    Raft log, ahead of the log's next durable write (meta.db: one WAL, whose frames reach the
 *    disk in order). The state on disk then covers the log up to appliedIndex(), so the log is
 *    cut there with no snapshot file; a file is written only when a follower needs one.
 */
export interface StateMachine {
  readonly keepsStateWithLog?: boolean;
  appliedIndex(): number;
  /** One result per entry, in order (noop entries give undefined). */
  apply(entries: readonly Entry[]): unknown[];
  writeSnapshot(path: string): void;
  /** null when this machine cannot snapshot in the background (then writeSnapshot is used). */
  startSnapshot?(path: string): SnapshotInProgress | null;
  restoreSnapshot(path: string, meta: SnapshotMeta): void;
}

/** A snapshot being written in the background. */
export interface SnapshotInProgress {
  /** The applied index the file is as of, once it is complete and durable. */
  readonly done: Promise<number>;
  /** Stops it: `done` rejects and the partial file is removed. */
  cancel(): Promise<void>;
}
