import { assert } from '../../../shared/assert.ts';

/**
 * How a leader replicates to one follower (after etcd's progress tracker):
 *  - probe: we do not know where the follower's log matches ours; one AppendEntries at a time.
 *  - replicate: the follower is in step; send optimistically, up to a window of messages in flight.
 *  - snapshot: the follower needs entries we compacted; wait for the InstallSnapshot to land.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an AppendEntries is out and we wait for its answer (or a heartbeat answer). */
  probeSent = false;
  /** In snapshot: the index of the snapshot being installed, and ticks spent waiting for it. */
  pendingSnapshot = 0;
  snapshotElapsedTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Highest heartbeat sequence this follower acknowledged in the current term (for ReadIndex). */
  ackedSeq = 0;
  /** Last index of each AppendEntries in flight, oldest first (bounded by the window). */
  #inflight: number[] = [];

  constructor(
    next: number,
    readonly inflightMax: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's index.
    const next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.#reset('probe');
    this.next = next;
  }

  becomeReplicate(): void {
    this.#reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  #reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotElapsedTicks = 0;
    this.#inflight = [];
  }

  /** A success says the follower matches through `index`; false when it is stale news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.#inflight.length > 0 && this.#inflight[0] <= index) this.#inflight.shift();
    return updated;
  }

  /**
   * A rejection of an AppendEntries whose prevLogIndex was `rejected`. Returns false for a stale
   * rejection (one of an older message), which must be ignored.
   */
  maybeDecrease(rejected: number, next: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.becomeProbe();
      this.next = Math.max(this.match + 1, Math.min(next, rejected));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(next, rejected));
    this.probeSent = false;
    return true;
  }

  /**
   * The follower's log now ends at `lastIndex`, before what it once acknowledged: it lost its
   * durable state (its disk was wiped and it restarted). Raft assumes this never happens; rather
   * than probe forever above its log, track it from where its log really ends.
   */
  restartFrom(lastIndex: number): void {
    assert(lastIndex < this.match, `restartFrom(${lastIndex}) is not below match ${this.match}`);
    this.#reset('probe');
    this.match = lastIndex;
    this.next = lastIndex + 1;
  }

  /** The leader sent entries through `lastIndex`. */
  sentEntries(lastIndex: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.#inflight.push(lastIndex);
      assert(this.#inflight.length <= this.inflightMax, 'inflight window overflow');
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** The follower answered a heartbeat: resume a stalled probe, free a slot of a full window. */
  heardHeartbeat(): void {
    this.probeSent = false;
    if (this.#inflight.length >= this.inflightMax) this.#inflight.shift();
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.#inflight.length >= this.inflightMax;
      case 'snapshot':
        return true;
    }
  }
}
