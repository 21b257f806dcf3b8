// Placement's part of /status: each member's zone and whether placement skips it, this node's
// repair queue by priority class, and, while this node drains, how many chunks it still stores.
import { request } from 'undici';
import { peerAgent } from '../../../shared/tls-client.ts';
import type { NodeContext } from '../node/node-context.ts';

/** A draining node recounts its chunks (a walk of its store) at most this often for /status. */
export const drainCountMaxAgeMs = 5000;
/** How long /admin/members waits for a draining member's count before showing it unknown. */
export const drainCountAskTimeoutMs = 2000;

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

const drainCounters = new WeakMap<NodeContext, DrainCounter>();

/** The node's one counter (shared by /status and /admin/members, so a store is walked once per period). */
export function drainCounterOf(ctx: NodeContext): DrainCounter {
  let counter = drainCounters.get(ctx);
  if (counter === undefined) drainCounters.set(ctx, (counter = new DrainCounter(ctx)));
  return counter;
}

/** The chunks a draining member still stores, from its /status (null: not counted yet, or no answer in time). */
export async function drainingChunksOf(ctx: NodeContext, id: string): Promise<number | null> {
  if (id === ctx.config.id) return drainCounterOf(ctx).chunks();
  const urls = ctx.members.urlsOf(id);
  if (urls === undefined) return null;
  try {
    const response = await request(`${urls.clientUrl}/status`, { dispatcher: peerAgent(ctx.config.tlsCa), signal: AbortSignal.timeout(drainCountAskTimeoutMs) });
    const json = (await response.body.json()) as { drain?: { chunks_left?: unknown } };
    return typeof json.drain?.chunks_left === 'number' ? json.drain.chunks_left : null;
  } catch {
    return null;
  }
}

export function placementStatus(ctx: NodeContext, drain: DrainCounter = drainCounterOf(ctx)) {
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
