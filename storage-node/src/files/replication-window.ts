// Pipelined replication of one upload: up to `windowChunks` chunks are on their way to a majority
// while the next is read from the body, so a push's round trip no longer stalls the upload.
// Memory stays bounded: `windowChunks` chunks waiting for a majority, plus at most as many whose
// majority is reached but whose slowest pushes still run (beyond that the oldest stragglers are
// aborted: those replicas fetch the chunk later, by background repair).
import { assert } from '../../../shared/assert.ts';
import type { Replication } from './replicate-chunk.ts';

export type Replicate = (hash: string, data: Buffer, stragglers: AbortSignal) => Replication;

export class ReplicationWindow {
  readonly #replicate: Replicate;
  readonly #windowChunks: number;
  /** Chunks not yet held by a majority. */
  readonly #pending = new Set<Promise<void>>();
  /** Every chunk whose pushes still run: its abort, and whether a majority holds it. */
  readonly #running = new Map<AbortController, { majority: boolean }>();
  #failure: unknown = null;

  constructor(replicate: Replicate, windowChunks: number) {
    assert(Number.isSafeInteger(windowChunks) && windowChunks >= 1, 'windowChunks must be >= 1');
    this.#replicate = replicate;
    this.#windowChunks = windowChunks;
  }

  /**
   * Starts replicating a chunk once the window has room. Rejects with the first failure seen.
   * `onReleased` is called once, when the window no longer holds `data`: its pushes have all
   * ended, or it was never started (add rejected).
   */
  async add(hash: string, data: Buffer, onReleased?: () => void): Promise<void> {
    try {
      this.#throwIfFailed();
      while (this.#pending.size >= this.#windowChunks) {
        await Promise.race(this.#pending);
        this.#throwIfFailed();
      }
    } catch (err) {
      onReleased?.();
      throw err;
    }
    const controller = new AbortController();
    const state = { majority: false };
    this.#running.set(controller, state);
    const { majority, settled } = this.#replicate(hash, data, controller.signal);
    const pending: Promise<void> = majority.then(
      () => {
        this.#pending.delete(pending);
        state.majority = true;
        this.#trimStragglers();
      },
      (err: unknown) => {
        this.#pending.delete(pending);
        this.#failure ??= err;
      },
    );
    this.#pending.add(pending);
    void settled.then(() => {
      this.#running.delete(controller);
      onReleased?.();
    });
  }

  /** Resolves once a majority holds every chunk added; rejects with the first failure. */
  async finish(): Promise<void> {
    while (this.#pending.size > 0) await Promise.race(this.#pending);
    this.#throwIfFailed();
  }

  /** Gives up on every push still running (the upload failed). */
  abort(): void {
    for (const controller of this.#running.keys()) controller.abort();
    this.#running.clear();
  }

  /** Keeps at most `windowChunks` chunks whose majority is reached but whose slowest pushes run. */
  #trimStragglers(): void {
    let stragglers = 0;
    for (const state of this.#running.values()) if (state.majority) stragglers++;
    for (const [controller, state] of this.#running) {
      if (stragglers <= this.#windowChunks) return;
      if (!state.majority) continue;
      controller.abort();
      this.#running.delete(controller);
      stragglers--;
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }
}
