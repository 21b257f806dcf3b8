// Placement's part of /status: each member's zone and whether placement skips it, this node's
// repair queue by priority class, and, while this node drains, how many chunks it still stores.
import type { NodeContext } from '../node/node-context.ts';

/** A draining node recounts its chunks (a walk of its store) at most this often for /status. */
export const drainCountMaxAgeMs = 5000;

export function memberPlacement(ctx: NodeContext, id: string) {
  const { placement } = ctx;
  return { zone: placement.zoneOf(id), draining: placement.draining().includes(id), full: placement.full().includes(id), down: placement.down().includes(id) };
}

/** Counts this node's stored chunks in the background while it drains; /status shows the last count. */
export class DrainCounter {
  readonly #ctx: NodeContext;
  #chunks: number | null = null;
  #countedAtMs = -Infinity;
  #counting = false;

  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  /** The last count (null: none yet), starting a new one when it is old. */
  chunks(): number | null {
    if (!this.#counting && performance.now() - this.#countedAtMs > drainCountMaxAgeMs) {
      this.#counting = true;
      this.#ctx.blobs.stats().then(
        (stats) => {
          this.#chunks = stats.count;
          this.#countedAtMs = performance.now();
        },
        () => undefined, // the next /status tries again
      ).finally(() => (this.#counting = false));
    }
    return this.#chunks;
  }
}

export function placementStatus(ctx: NodeContext, drain: DrainCounter) {
  const self = memberPlacement(ctx, ctx.config.id);
  const queue = ctx.repairer.stats();
  return {
    ...self,
    // While draining: the chunks still stored here (0: drained, it can be removed).
    ...(self.draining ? { drain: { chunks_left: drain.chunks() } } : {}),
    repair_queue: {
      queued: queue.queued,
      waiting: queue.waiting,
      inFlight: queue.inFlight,
      // Queued or in flight, by priority: copies lost (fewest survivors first), then moves.
      lost_copy: queue.lostCopy,
      rebalance: queue.rebalance,
      fewest_survivors: queue.fewestSurvivors,
    },
  };
}
