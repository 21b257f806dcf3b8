// What the garbage collector must not touch although no kept version refers to it yet: chunks of
// uploads in flight on this node (held until the upload's entry is applied or the upload fails)
// and chunks recently pushed here (the push may belong to an upload on the leader that this node
// cannot see; the grace period covers it). In memory only: after a restart the collector waits a
// whole grace period before its first pass, which covers whatever this registry forgot.
import { assert } from '../../../shared/assert.ts';

export class ChunkGuard {
  /** Hash to the number of uploads on this node holding it. */
  readonly #held = new Map<string, number>();
  /** Hash to the time (ms epoch) of the latest push of it to this node. */
  readonly #pushed = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new, empty set of holds for one upload; release it when the upload ends either way. */
  upload(): UploadHolds {
    const hashes = new Set<string>();
    let released = false;
    return {
      hold: (hash) => {
        assert(!released, 'hold after release');
        if (hashes.has(hash)) return;
        hashes.add(hash);
        this.#held.set(hash, (this.#held.get(hash) ?? 0) + 1);
      },
      release: () => {
        if (released) return;
        released = true;
        for (const hash of hashes) {
          const count = this.#held.get(hash) ?? 0;
          assert(count >= 1, `chunk ${hash} released more often than held`);
          if (count === 1) this.#held.delete(hash);
          else this.#held.set(hash, count - 1);
        }
      },
    };
  }

  notePush(hash: string): void {
    this.#pushed.set(hash, this.#now());
  }

  /** True while an upload in flight on this node holds the chunk (so this node has written it). */
  isHeld(hash: string): boolean {
    return this.#held.has(hash);
  }

  /** True while an upload holds the chunk or it was pushed after `cutoffMs`. */
  isProtected(hash: string, cutoffMs: number): boolean {
    return this.#held.has(hash) || (this.#pushed.get(hash) ?? -Infinity) > cutoffMs;
  }

  /** Forgets pushes at or before `cutoffMs`: they no longer protect anything. */
  prune(cutoffMs: number): void {
    for (const [hash, ms] of this.#pushed) if (ms <= cutoffMs) this.#pushed.delete(hash);
  }

  get heldCount(): number {
    return this.#held.size;
  }

  get pushedCount(): number {
    return this.#pushed.size;
  }
}

/** The chunks one upload holds: each hash once, however often the file repeats it. */
export interface UploadHolds {
  hold(hash: string): void;
  /** Idempotent. */
  release(): void;
}
