// The fault schedule: a pure function of the seed, the run's length, the cluster size and what the
// network allows. Episodes run one after another: inject, hold, heal, a quiet gap. Which node a
// fault hits is decided when it starts (the leader is known only then), from the episode's own
// random stream, so a seed gives the same schedule every time.
import { Prng } from '../../test/sim/prng.ts';

export type FaultKind =
  | 'kill-leader' // SIGKILL the leader, restart it after the hold
  | 'kill-nodes' // SIGKILL a random minority, restart after the hold
  | 'pause-leader' // SIGSTOP the leader longer than an election timeout, then SIGCONT
  | 'pause-nodes' // SIGSTOP a random minority, then SIGCONT
  | 'restart-node' // SIGTERM (graceful: leadership transfer) and start again at once
  | 'partition' // cut the network into a majority and a minority (or pause the minority)
  | 'corrupt-chunk' // flip bytes in a stored chunk file on one node
  | 'delete-chunk' // delete a stored chunk file on one node
  | 'wipe-node' // SIGKILL a node, delete its data dir, restart it empty with the same id
  | 'slow-link' // throttle one node's link to a trickle (tc htb); netns only
  | 'kill-gateway' // SIGKILL the gateway, restart it after the hold
  | 'replace-member'; // remove a node through the membership route, wipe it, join it again (same id)

export const allFaultKinds: readonly FaultKind[] = [
  'kill-leader', 'kill-nodes', 'pause-leader', 'pause-nodes', 'restart-node', 'partition',
  'corrupt-chunk', 'delete-chunk', 'wipe-node', 'slow-link', 'kill-gateway', 'replace-member',
];

/** Faults that need no heal. */
export const instantFaults: ReadonlySet<FaultKind> = new Set(['corrupt-chunk', 'delete-chunk', 'restart-node']);
/** Damage to one chunk file: injected on their own timeline, alongside the other faults. */
export const chunkFaultKinds: ReadonlySet<FaultKind> = new Set(['corrupt-chunk', 'delete-chunk']);

export interface Episode {
  readonly index: number;
  readonly kind: FaultKind;
  /** ms after the workload starts. */
  readonly atMs: number;
  /** How long the fault lasts before it is healed (0 for instant faults). */
  readonly holdMs: number;
  /** Seed of the episode's own choices (targets, partition shape, which chunk). */
  readonly seed: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly nodes: number;
  /** Whether links can be cut (netns) or only throttled; without it, no slow-link. */
  readonly netns: boolean;
  /** Only these kinds (--faults); all of them when absent. */
  readonly kinds?: readonly FaultKind[];
}

/** Election timeout is 10 ticks of 50 ms, randomized up to twice that: a pause must outlast 1 s. */
const pauseMsMin = 2_000;
const holdRangesMs: Record<FaultKind, readonly [number, number]> = {
  'kill-leader': [1_500, 4_000],
  'kill-nodes': [1_500, 5_000],
  'pause-leader': [pauseMsMin, 5_000],
  'pause-nodes': [pauseMsMin, 5_000],
  'restart-node': [0, 0],
  partition: [2_500, 6_000],
  'corrupt-chunk': [0, 0],
  'delete-chunk': [0, 0],
  'wipe-node': [500, 2_500],
  'slow-link': [2_000, 5_000],
  'kill-gateway': [500, 2_000],
  // How long the removed node stays out (wiped) before it asks to join again.
  'replace-member': [500, 2_500],
};
/**
 * Time a fault takes beyond its hold, planned for so that the next one does not start at once:
 * a replaced node is admitted, catches up (log, snapshot, every chunk) and is promoted, which
 * takes 10 to 15 s after its hold on a loaded 2-core machine (the heal waits for it).
 */
const settleMs: Partial<Record<FaultKind, number>> = { 'replace-member': 12_000 };
/** Quiet time after a heal, so that each fault starts from a cluster that had a chance to recover. */
const gapRangeMs = [1_000, 3_000] as const;
/** Time between two chunk faults. */
const chunkGapRangeMs = [3_000, 8_000] as const;
/** Quiet time at the start (files to corrupt exist) and at the end (the last heal settles). */
export const warmupMsMax = 3_000;
export const cooldownMs = 2_000;

/**
 * The episodes of a run, in time order. Process and network faults run one after another, their
 * kinds from a shuffled bag refilled when empty, so that even a short run sees different kinds and
 * a long one sees each about equally often. Chunk faults run on a timeline of their own, in
 * between and during the others.
 */
export function buildSchedule(options: ScheduleOptions): Episode[] {
  const rng = new Prng(options.seed).derive('schedule');
  const chunkRng = new Prng(options.seed).derive('chunk-faults');
  const chosen = options.kinds ?? allFaultKinds;
  const kinds = allFaultKinds.filter((k) => chosen.includes(k) && !chunkFaultKinds.has(k) && (options.netns || k !== 'slow-link'));
  const chunkKinds = allFaultKinds.filter((k) => chosen.includes(k) && chunkFaultKinds.has(k));
  const endMs = options.durationMs - cooldownMs;
  const warmupMs = Math.min(warmupMsMax, Math.floor(options.durationMs / 10));
  const planned: Array<Omit<Episode, 'index'>> = [];
  let bag: FaultKind[] = [];
  for (let atMs = warmupMs; kinds.length > 0;) {
    if (bag.length === 0) bag = rng.shuffle(kinds);
    const kind = bag.pop()!;
    const [lo, hi] = holdRangesMs[kind];
    const holdMs = rng.range(lo, hi);
    const settle = settleMs[kind] ?? 0;
    if (atMs + holdMs + settle > endMs) break;
    planned.push({ kind, atMs, holdMs, seed: rng.nextU32() });
    atMs += holdMs + settle + rng.range(gapRangeMs[0], gapRangeMs[1]);
  }
  if (chunkKinds.length > 0) {
    for (let atMs = warmupMs + chunkRng.range(1_000, 3_000); atMs <= endMs; atMs += chunkRng.range(chunkGapRangeMs[0], chunkGapRangeMs[1])) {
      // Both kinds: one draw, as before --faults existed (a seed keeps its schedule).
      const kind: FaultKind = chunkRng.chance(0.5) ? 'corrupt-chunk' : 'delete-chunk';
      planned.push({ kind: chunkKinds.includes(kind) ? kind : chunkKinds[0], atMs, holdMs: 0, seed: chunkRng.nextU32() });
    }
  }
  return planned.sort((a, b) => a.atMs - b.atMs).map((e, index) => ({ index, ...e }));
}

/** Node indices for a fault that hits a random minority: 1 of 3, 1 or 2 of 5. */
export function pickMinority(rng: Prng, nodes: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const max = Math.floor((nodes - 1) / 2);
  const count = rng.range(1, max);
  const candidates = [...Array(nodes).keys()].filter((i) => !exclude.has(i));
  return rng.shuffle(candidates).slice(0, Math.min(count, candidates.length)).sort((a, b) => a - b);
}

export type PartitionShape = 'isolate-leader' | 'split' | 'bridge';

/**
 * A partition as the groups each node can talk to. `isolate-leader`: the leader alone. `split`: a
 * random minority against the rest. `bridge` (5 nodes): two minorities that both see one middle
 * node, as Jepsen's bridge — every node has a majority view of a sort, and only the bridge node
 * sees everyone.
 */
export interface Partition {
  readonly shape: PartitionShape;
  /** Pairs of node indices that cannot reach each other. */
  readonly cuts: ReadonlyArray<readonly [number, number]>;
  /** The side that cannot form a majority alone (paused when links cannot be cut). */
  readonly minority: readonly number[];
}

export function pickPartition(rng: Prng, nodes: number, leader: number | null): Partition {
  const shapes: PartitionShape[] = nodes >= 5 ? ['isolate-leader', 'split', 'bridge'] : ['isolate-leader', 'split'];
  const shape = rng.pick(shapes);
  const all = [...Array(nodes).keys()];
  const cutsBetween = (a: readonly number[], b: readonly number[]) => a.flatMap((x) => b.map((y) => [Math.min(x, y), Math.max(x, y)] as const));
  if (shape === 'bridge') {
    const order = rng.shuffle(all);
    const left = order.slice(0, 2);
    const right = order.slice(3);
    return { shape, cuts: cutsBetween(left, right), minority: left.sort((a, b) => a - b) };
  }
  const minority = shape === 'isolate-leader' && leader !== null ? [leader] : pickMinority(rng, nodes);
  const majority = all.filter((i) => !minority.includes(i));
  return { shape: shape === 'isolate-leader' && leader === null ? 'split' : shape, cuts: cutsBetween(minority, majority), minority };
}
