// White-box and /status probes of one storage node, shared by the integration tests.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { StorageNodeHandle } from './storage-cluster.ts';

/** The fields of a node's /status that tests read. */
export interface NodeStatus {
  id: string;
  state: string;
  is_leader: boolean;
  leader_id: string | null;
  term: number;
  commit_index: number;
  applied_index: number;
  nodes: { id: string; match_index: number | null }[];
}

/** The node's /status, or null while it does not answer (down, starting, busy). Plain HTTP only. */
export async function nodeStatus(node: StorageNodeHandle): Promise<NodeStatus | null> {
  try {
    const res = await request(`${node.url}/status`, { headersTimeout: 2000, bodyTimeout: 2000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return null;
    }
    return (await res.body.json()) as NodeStatus;
  } catch {
    return null;
  }
}

/** Where a node keeps the chunk `hash` (blobs/ab/cd/<sha256>). */
export const blobPath = (node: StorageNodeHandle, hash: string): string => join(node.dataDir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);

/** Index of the newest snapshot file in a node's data dir (`<index>-<term>.snap`); 0 for none. */
export function snapshotIndex(node: StorageNodeHandle): number {
  const dir = join(node.dataDir, 'snapshots');
  if (!existsSync(dir)) return 0;
  return Math.max(0, ...readdirSync(dir).filter((f) => f.endsWith('.snap')).map((f) => Number(f.split('-')[0])));
}
