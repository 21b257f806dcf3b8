// The nemesis damages chunk files and wipes nodes, but never the last intact copy of a chunk:
// two corrupted copies plus a wiped (or replaced) third node lose the chunk for good, which
// says nothing about the system (no store survives losing every copy). With a replication below
// the node count a chunk has only `replication` copies, on its holders (rendezvous placement,
// the nodes' own function): only a holder's copy counts as one that remains, since a copy on a
// non-holder may be collected at any moment. Read from the disks as they are now, so a copy the
// nodes repaired since counts again.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { holdersOf } from '../../storage-node/src/placement/rendezvous.ts';
import type { ChaosNode } from './cluster.ts';

export function chunkPath(dataDir: string, hash: string): string {
  return join(dataDir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
}

/** The node's data dir holds the chunk with the right bytes. */
export function holdsIntact(node: ChaosNode, hash: string): boolean {
  try {
    return createHash('sha256').update(readFileSync(chunkPath(node.dataDir, hash))).digest('hex') === hash;
  } catch {
    return false;
  }
}

/** Indices (into `nodes`) of the chunk's holders when every node of the run is a member. */
export type HoldersOf = (hash: string) => readonly number[];

/** Placement over every node of the run at `replication`, as the nodes compute it. */
export function runHolders(nodes: readonly ChaosNode[], replication: number): HoldersOf {
  const members = nodes.map((n) => ({ id: n.id }));
  const indexOf = new Map(nodes.map((n) => [n.id, n.index]));
  return (hash) => holdersOf(hash, members, Math.min(replication, nodes.length)).map((id) => indexOf.get(id)!);
}

/**
 * Of `hashes`, those intact on `victim` and intact on no other holder that stays (`leaving`:
 * nodes about to be wiped, whose copies do not count). The victim's copy counts whether or not
 * it is a holder: when no holder has a good copy, a stray one is the chunk's last.
 */
export function lastIntactCopies(nodes: readonly ChaosNode[], victim: number, hashes: Iterable<string>, leaving: ReadonlySet<number>, holders: HoldersOf): string[] {
  const last: string[] = [];
  for (const hash of new Set(hashes)) {
    if (!holdsIntact(nodes[victim], hash)) continue;
    const others = holders(hash).filter((i) => i !== victim && !leaving.has(i));
    if (!others.some((i) => holdsIntact(nodes[i], hash))) last.push(hash);
  }
  return last;
}
