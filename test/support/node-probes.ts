// White-box and /status probes of one storage node, shared by the integration tests.
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

/**
 * The value of one sample of a node's /metrics (`name{labels}` exactly as exposed, e.g.
 * `dfs_raft_log_compactions_total{snapshot_file="yes"}`). Throws when the node does not answer,
 * and when the sample is absent unless `absentIsZero` (a labelled counter appears only once it
 * was first counted).
 */
export async function metricValue(node: { readonly url: string }, sample: string, absentIsZero = false): Promise<number> {
  const res = await request(`${node.url}/metrics`, { headersTimeout: 5000, bodyTimeout: 5000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${node.url}/metrics answered ${res.statusCode}: ${text.slice(0, 200)}`);
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  if (absentIsZero) return 0;
  throw new Error(`no ${sample} in ${node.url}/metrics`);
}

/** Index the node's Raft log was last compacted at (in place or at a snapshot); 0 before any. */
export function snapshotIndex(node: StorageNodeHandle): Promise<number> {
  return metricValue(node, 'dfs_raft_snapshot_index');
}

/** Snapshot files the node wrote because a follower needed one (the log is otherwise cut in place). */
export function snapshotFilesWritten(node: StorageNodeHandle): Promise<number> {
  return metricValue(node, 'dfs_raft_log_compactions_total{snapshot_file="yes"}', true);
}
