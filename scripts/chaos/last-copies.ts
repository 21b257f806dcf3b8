// The nemesis damages chunk files and wipes nodes, but never the last intact copy of a chunk:
// two corrupted copies plus a wiped (or replaced) third node lose the chunk for good, which
// says nothing about the system (no store survives losing every copy). Read from the disks
// as they are now, so a copy the nodes repaired since counts again.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * Of `hashes`, those intact on `victim` and intact on no other node that stays (`leaving`:
 * nodes about to be wiped, whose copies do not count).
 */
export function lastIntactCopies(nodes: readonly ChaosNode[], victim: number, hashes: Iterable<string>, leaving: ReadonlySet<number>): string[] {
  const last: string[] = [];
  for (const hash of new Set(hashes)) {
    if (!holdsIntact(nodes[victim], hash)) continue;
    if (!nodes.some((n) => n.index !== victim && !leaving.has(n.index) && holdsIntact(n, hash))) last.push(hash);
  }
  return last;
}
