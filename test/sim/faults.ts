// The fault schedule: network faults (loss, duplication, delay — set on the network — and
// partitions of every shape), crashes (between Readys or part way through one) and restarts,
// and leadership transfers. Everything is drawn from the schedule's own Prng.
import type { NodeId } from '../../storage-node/src/raft/types.ts';
import type { LinkSettings, Network } from './network.ts';
import type { Prng } from './prng.ts';
import type { CrashPoint, SimNode } from './sim-node.ts';

export interface FaultSettings extends LinkSettings {
  /** Chance per tick that a new partition starts (replacing the current one). */
  partitionRate: number;
  /** How long a partition lasts, in ticks. */
  partitionTicks: readonly [number, number];
  /** Which partition shapes to draw from. */
  partitionKinds: readonly PartitionKind[];
  /** Chance per tick that a node crashes. */
  crashRate: number;
  /** Of the crashes, the fraction that happen part way through handling a Ready. */
  crashInReadyRate: number;
  /** Of the crashes, the fraction that hit the current leader. */
  crashLeaderRate: number;
  /** How long a crashed node stays down, in ticks. */
  downTicks: readonly [number, number];
  /** At most this many nodes down at once. */
  maxDown: number;
  /** Chance per tick that the leader is asked to transfer leadership to a random peer. */
  transferRate: number;
  /** Chance per tick that the leader is asked for a membership change (membership-nemesis.ts). */
  memberRate: number;
}

export type PartitionKind = 'split' | 'isolate' | 'isolateLeader' | 'oneWay' | 'bridge';

export const ALL_PARTITION_KINDS: readonly PartitionKind[] = ['split', 'isolate', 'isolateLeader', 'oneWay', 'bridge'];

/** A fault profile drawn from the seed: some runs calm, some stormy. */
export function randomFaultSettings(rng: Prng, nodes: number): FaultSettings {
  const delayMax = rng.pick([1, 2, 3, 5, 8]);
  return {
    lossRate: rng.pick([0, 0.01, 0.05, 0.15]),
    dupRate: rng.pick([0, 0.02, 0.1]),
    delayMin: 1,
    delayMax,
    partitionRate: rng.pick([0, 0.005, 0.01, 0.03]),
    partitionTicks: [10, rng.pick([40, 100, 200])],
    partitionKinds: ALL_PARTITION_KINDS,
    crashRate: rng.pick([0, 0.002, 0.005, 0.01]),
    crashInReadyRate: 0.5,
    crashLeaderRate: 0.3,
    downTicks: [5, rng.pick([30, 100])],
    maxDown: rng.pick([Math.floor(nodes / 2), nodes]),
    transferRate: rng.pick([0, 0.003, 0.01]),
    memberRate: rng.pick([0, 0.005, 0.02]),
  };
}

export interface FaultContext {
  readonly network: Network;
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  readonly ids: readonly NodeId[];
  /** Live nodes that believe they lead, highest term first. */
  leaders(): SimNode[];
  trace(line: string): void;
}

const CRASH_POINTS: readonly CrashPoint[] = ['beforePersist', 'afterPersist', 'afterSend', 'afterApply'];

export class FaultSchedule {
  readonly stats = { partitions: 0, crashes: 0, restarts: 0, transfers: 0 };
  private partitionEnds = -1;
  private readonly restarts = new Map<NodeId, number>();

  constructor(
    private readonly rng: Prng,
    readonly settings: FaultSettings,
  ) {}

  /** Injects this tick's faults. */
  step(now: number, ctx: FaultContext): void {
    const s = this.settings;
    if (this.partitionEnds >= 0 && now >= this.partitionEnds) {
      ctx.network.heal();
      this.partitionEnds = -1;
      ctx.trace(`FAULT heal partition`);
    }
    if (s.partitionKinds.length > 0 && this.rng.chance(s.partitionRate)) this.partition(now, ctx);
    if (this.rng.chance(s.crashRate)) this.crash(now, ctx);
    if (this.rng.chance(s.transferRate)) this.transfer(ctx);
  }

  /** Restarts the nodes whose downtime is over (or all of them when `all`). */
  restartDue(now: number, ctx: FaultContext, all = false): void {
    for (const [id, at] of [...this.restarts]) {
      if (!all && at > now) continue;
      const node = ctx.nodes.get(id)!;
      if (node.up && node.crashPlan !== null && !all) continue; // its planned crash has not fired yet
      this.restarts.delete(id);
      if (node.up) continue;
      this.stats.restarts++;
      ctx.trace(`FAULT restart ${id}`);
      node.start();
    }
  }

  /** The heal phase: no partitions, no loss, short delays, every node up, no planned crashes. */
  heal(now: number, ctx: FaultContext): void {
    ctx.network.heal();
    this.partitionEnds = -1;
    ctx.network.settings = { lossRate: 0, dupRate: 0, delayMin: 1, delayMax: Math.min(2, this.settings.delayMax) };
    for (const node of ctx.nodes.values()) node.crashPlan = null;
    this.restartDue(now, ctx, true);
    for (const node of ctx.nodes.values()) {
      if (!node.up) {
        this.stats.restarts++;
        node.start();
      }
    }
    ctx.trace(`FAULT heal: all links up, no loss, every node running`);
  }

  private partition(now: number, ctx: FaultContext): void {
    const kind = this.rng.pick(this.settings.partitionKinds);
    const ids = this.rng.shuffle(ctx.ids);
    ctx.network.heal();
    let what: string;
    switch (kind) {
      case 'split': {
        const cut = this.rng.range(1, ids.length - 1);
        const groups = [ids.slice(0, cut), ids.slice(cut)];
        ctx.network.partition(groups);
        what = `split ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`;
        break;
      }
      case 'isolate':
      case 'isolateLeader': {
        const leader = kind === 'isolateLeader' ? ctx.leaders()[0] : undefined;
        const lonely = leader?.id ?? ids[0];
        ctx.network.partition([[lonely], ctx.ids.filter((id) => id !== lonely)]);
        what = `isolate ${lonely}${leader ? ' (the leader)' : ''}`;
        break;
      }
      case 'oneWay': {
        const cuts = this.rng.range(1, ids.length);
        const names: string[] = [];
        for (let i = 0; i < cuts; i++) {
          const from = this.rng.pick(ctx.ids);
          const to = this.rng.pick(ctx.ids.filter((id) => id !== from));
          ctx.network.cutOneWay(from, to);
          names.push(`${from}-/->${to}`);
        }
        what = `one-way ${names.join(' ')}`;
        break;
      }
      case 'bridge': {
        // Two sides that cannot talk, and one node that talks to both.
        const bridge = ids[0];
        const rest = ids.slice(1);
        const cut = this.rng.range(1, rest.length - 1);
        ctx.network.partition([rest.slice(0, cut), rest.slice(cut)]);
        what = `bridge ${bridge} between {${rest.slice(0, cut).join(',')}} and {${rest.slice(cut).join(',')}}`;
        break;
      }
    }
    this.stats.partitions++;
    const [lo, hi] = this.settings.partitionTicks;
    this.partitionEnds = now + this.rng.range(lo, hi);
    ctx.trace(`FAULT partition ${what} until tick ${this.partitionEnds}`);
  }

  private crash(now: number, ctx: FaultContext): void {
    const s = this.settings;
    const down = ctx.ids.filter((id) => !ctx.nodes.get(id)!.up).length;
    if (down >= s.maxDown) return;
    const leader = ctx.leaders()[0];
    const up = ctx.ids.filter((id) => ctx.nodes.get(id)!.up && ctx.nodes.get(id)!.crashPlan === null);
    if (up.length === 0) return;
    const victim = leader !== undefined && leader.crashPlan === null && this.rng.chance(s.crashLeaderRate) ? leader : ctx.nodes.get(this.rng.pick(up))!;
    const [lo, hi] = s.downTicks;
    this.restarts.set(victim.id, now + this.rng.range(lo, hi));
    this.stats.crashes++;
    if (this.rng.chance(s.crashInReadyRate)) {
      victim.crashPlan = this.rng.pick(CRASH_POINTS);
      ctx.trace(`FAULT ${victim.id} will crash at its next Ready (${victim.crashPlan})`);
    } else {
      victim.crash('fault schedule');
    }
  }

  private transfer(ctx: FaultContext): void {
    const leader = ctx.leaders()[0];
    if (leader === undefined) return;
    const target = this.rng.pick(ctx.ids.filter((id) => id !== leader.id));
    const accepted = leader.transferLeadership(target);
    this.stats.transfers++;
    ctx.trace(`FAULT transfer leadership ${leader.id} -> ${target}${accepted ? '' : ' (refused)'}`);
  }
}
