// What the garbage collector must not touch although no kept version refers to it yet: chunks of
// uploads in flight on this node (held until the upload's entry is applied or the upload fails)
// and chunks recently pushed here (the push may belong to an upload on the leader that this node
// cannot see; the grace period covers it). In memory only: after a restart the collector waits a
// whole grace period before its first pass, which covers whatever this registry forgot.
import { assert } from '../../../shared/assert.ts';
import { gcGraceMsDefault } from './chunk-collector.ts';

/**
 * Recent pushes remembered at most (about 150 bytes each: a 64-character key and a time). Past it
 * a push of a new chunk is refused with 503 until the oldest expire: forgetting one early could
 * let the collector delete a chunk an upload on the leader is about to refer to.
 */
export const recentPushesMaxDefault = 200_000;

export interface ChunkGuardOptions {
  readonly now?: () => number;
  /** How long a push protects its chunk: the collector's grace period. */
  readonly graceMs?: number;
  readonly recentPushesMax?: number;
}

/** Whether a push may go ahead; when not, how long until there is room (rounded up). */
export type PushAdmission = { readonly admitted: true } | { readonly admitted: false; readonly retryAfterSeconds: number };

export class ChunkGuard {
  /** Hash to the number of uploads on this node holding it. */
  readonly #held = new Map<string, number>();
  /** Hash to the time (ms epoch) of the latest push of it to this node, oldest first. */
  readonly #pushed = new Map<string, number>();
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #recentPushesMax: number;

  constructor(options: ChunkGuardOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? gcGraceMsDefault;
    this.#recentPushesMax = options.recentPushesMax ?? recentPushesMaxDefault;
    assert(Number.isSafeInteger(this.#graceMs) && this.#graceMs >= 0, 'graceMs must be a non-negative integer');
    assert(Number.isSafeInteger(this.#recentPushesMax) && this.#recentPushesMax >= 1, 'recentPushesMax must be a positive integer');
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

  /**
   * Records a push (before its bytes are written), unless as many recent pushes as allowed are
   * remembered already and this chunk is not among them. Expired pushes are forgotten first.
   */
  notePush(hash: string): PushAdmission {
    const now = this.#now();
    this.#expire(now);
    const known = this.#pushed.delete(hash);
    if (!known && this.#pushed.size >= this.#recentPushesMax) {
      const oldestMs = this.#pushed.values().next().value as number;
      return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((oldestMs + this.#graceMs - now) / 1000)) };
    }
    // Deleted and set again, so the map stays in time order and expiry pops from its front.
    this.#pushed.set(hash, now);
    return { admitted: true };
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
    for (const [hash, ms] of this.#pushed) {
      if (ms > cutoffMs) break; // time order: the rest are newer
      this.#pushed.delete(hash);
    }
  }

  /** Pushes older than the grace period protect nothing: dropped as new ones arrive and when counted. */
  #expire(now: number): void {
    this.prune(now - this.#graceMs);
  }

  get heldCount(): number {
    return this.#held.size;
  }

  /** Recent pushes remembered (the expired ones dropped first): for /metrics. */
  get pushedCount(): number {
    this.#expire(this.#now());
    return this.#pushed.size;
  }
}

/** The chunks one upload holds: each hash once, however often the file repeats it. */
export interface UploadHolds {
  hold(hash: string): void;
  /** Idempotent. */
  release(): void;
}
