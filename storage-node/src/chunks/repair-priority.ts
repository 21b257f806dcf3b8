// Which missing chunk repair fetches first (HDFS and GFS re-replicate by how many copies are
// left): a chunk that lost a copy (a holder marked down or removed, a copy quarantined or deleted
// here) before one that only moves for rebalancing (a join, a setting change, a drain), and among
// those that lost copies, the one with the fewest surviving copies first. Survivors are estimated
// from placement alone, with no request: the chunk's holders under the last settled placement
// that are still alive, not counting this node (which lacks the chunk, or it would not be here).

export type RepairClass = 'lost_copy' | 'rebalance';

export interface RepairPriority {
  readonly kind: RepairClass;
  /** Copies believed to exist elsewhere (previous holders still alive, this node left out). */
  readonly survivors: number;
}

/** `previousHolders`: the chunk's holders before the change; `alive`: members now, minus those marked down. */
export function repairPriority(previousHolders: readonly string[], alive: ReadonlySet<string>, selfId: string): RepairPriority {
  const survivors = previousHolders.filter((id) => id !== selfId && alive.has(id)).length;
  // Every previous holder's copy is still there (this node was not one): only a move.
  return { kind: survivors < previousHolders.length ? 'lost_copy' : 'rebalance', survivors };
}

/** Rank of rebalancing moves: after every lost copy, whatever its survivors. */
const rebalanceRank = Number.MAX_SAFE_INTEGER;

/** Lower goes first: a lost copy ranks by its survivors (0 first), rebalancing last. */
export function repairRank(priority: RepairPriority): number {
  return priority.kind === 'lost_copy' ? priority.survivors : rebalanceRank;
}

/** The order repair takes `items` in (stable among equals): what the queue does, as a pure function. */
export function repairOrder<T extends { readonly priority: RepairPriority }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => repairRank(a.priority) - repairRank(b.priority));
}
