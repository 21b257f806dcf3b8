import type { NodeId } from './types.ts';

export interface PendingRead {
  readonly requester: NodeId;
  readonly requestIds: readonly string[];
  /** The commit index the read must wait for; -1 until the leader has committed in its term. */
  index: number;
  /** The heartbeat round, sent after the read arrived, that must reach a quorum. */
  readonly seq: number;
}

/**
 * A leader's ReadIndex requests (dissertation §6.4). A read is safe to serve at index I once
 * (1) the leader has committed an entry of its own term, so I covers every earlier commit, and
 * (2) a quorum acknowledged a heartbeat sent after the read arrived, so no newer leader existed
 * when I was recorded. Reads are released in arrival order.
 */
export class ReadTracker {
  #pending: PendingRead[] = [];
  #seq = 0;

  constructor(readonly pendingMax: number) {}

  /** A new heartbeat round. Sequence numbers only grow, across terms too. */
  nextSeq(): number {
    return ++this.#seq;
  }

  currentSeq(): number {
    return this.#seq;
  }

  /** Returns false when too many reads are pending (the caller fails the read). */
  add(requester: NodeId, requestIds: readonly string[], commit: number, committedInTerm: boolean, seq: number): boolean {
    if (this.#pending.length >= this.pendingMax) return false;
    this.#pending.push({ requester, requestIds, index: committedInTerm ? commit : -1, seq });
    return true;
  }

  /** The leader committed its first entry of the term: reads waiting for it read at that index. */
  termCommitted(commit: number): void {
    for (const read of this.#pending) if (read.index < 0) read.index = commit;
  }

  /** Removes and returns the reads a quorum has confirmed through heartbeat round `quorumSeq`. */
  release(quorumSeq: number): PendingRead[] {
    let count = 0;
    while (count < this.#pending.length && this.#pending[count].seq <= quorumSeq && this.#pending[count].index >= 0) count++;
    return count === 0 ? [] : this.#pending.splice(0, count);
  }

  /** Leadership lost: every pending read must be failed. */
  takeAll(): PendingRead[] {
    const all = this.#pending;
    this.#pending = [];
    return all;
  }
}
