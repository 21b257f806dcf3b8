// The checks that follow placement, after convergence: every node agrees on what placement
// depends on (the members, and the replicated state including cluster_settings, by the nodes'
// own metadata digest), the leader's fsck is clean once repair had its time, and each chunk's
// holders are computed by the nodes' own rendezvous function from the converged membership.
import { holdersOf } from '../../storage-node/src/placement/rendezvous.ts';
import type { FsckReport } from '../../storage-node/src/placement/fsck.ts';
import type { Violation } from './analysis.ts';
import type { ChaosCluster } from './cluster.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long the leader's fsck may take to come clean: repair and rebalancing run on their own. */
export const fsckCleanWaitMs = 120_000;
/** How long the nodes may take to be at one applied index (a late no-op, a liveness verdict). */
const digestAlignWaitMs = 30_000;
const requestTimeoutMs = 30_000;

async function adminJson<T>(cluster: ChaosCluster, url: string): Promise<T> {
  const res = await fetch(url, { headers: cluster.adminHeaders, signal: AbortSignal.timeout(requestTimeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export interface NodeDigest {
  readonly applied_index: number;
  readonly digest: string;
}

/**
 * Every node's own GET /admin/metadata-digest (files, versions, chunk references, inline
 * content, buckets, uploads, keys and cluster_settings: the replication and the members marked
 * down), taken once every node is at the same applied index, and compared.
 */
export async function compareNodeDigests(cluster: ChaosCluster): Promise<{ digests: Record<string, NodeDigest>; violations: Violation[] }> {
  const deadline = Date.now() + digestAlignWaitMs;
  let digests: Record<string, NodeDigest> = {};
  let problem = '';
  for (;;) {
    digests = {};
    problem = '';
    for (const node of cluster.nodes) {
      try {
        const d = await adminJson<NodeDigest>(cluster, `${node.url}/admin/metadata-digest`);
        digests[node.id] = { applied_index: d.applied_index, digest: d.digest };
      } catch (err) {
        problem = `${node.id}: ${(err as Error).message}`;
      }
    }
    const indices = new Set(Object.values(digests).map((d) => d.applied_index));
    if (problem === '' && indices.size === 1) break;
    if (problem === '') problem = `applied indices differ: ${Object.entries(digests).map(([id, d]) => `${id} ${d.applied_index}`).join(', ')}`;
    if (Date.now() > deadline) {
      return { digests, violations: [{ kind: 'metadata', message: `the nodes' metadata digests could not be compared at one applied index in ${digestAlignWaitMs / 1000} s: ${problem}` }] };
    }
    await sleep(1_000);
  }
  const entries = Object.entries(digests);
  const [refId, ref] = entries[0];
  const violations: Violation[] = entries.filter(([, d]) => d.digest !== ref.digest).map(([id, d]) => ({
    kind: 'metadata', node: id,
    message: `${id}'s own metadata digest (GET /admin/metadata-digest, cluster_settings included) at applied index ${d.applied_index} is ${d.digest.slice(0, 16)}…, ${refId}'s at the same index ${ref.digest.slice(0, 16)}…`,
  }));
  return { digests, violations };
}

/** Every node lists the same members (ids and votes) in its /status as the leader: placement is computed from them. */
export async function compareMemberViews(cluster: ChaosCluster): Promise<Violation[]> {
  const statuses = await cluster.statuses(5_000);
  const leader = statuses.find((s) => s?.is_leader);
  if (leader === undefined || leader === null) return [{ kind: 'metadata', message: 'no leader to compare the members with' }];
  const view = (s: NonNullable<typeof leader>) => (s.nodes ?? []).map((m) => `${m.id}${m.voter ? '' : ' (learner)'}`).sort().join(', ');
  const expected = view(leader);
  const violations: Violation[] = [];
  statuses.forEach((s, i) => {
    const id = cluster.nodes[i].id;
    if (s === null) violations.push({ kind: 'metadata', node: id, message: `${id} gave no /status to compare its members with the leader's` });
    else if (view(s) !== expected) violations.push({ kind: 'metadata', node: id, message: `${id} lists the members ${view(s)}, the leader ${leader.id} ${expected}: they would place chunks differently` });
  });
  return violations;
}

export async function leaderFsck(cluster: ChaosCluster): Promise<FsckReport> {
  const leader = await cluster.leader();
  if (leader === null) throw new Error('no leader');
  return adminJson<FsckReport>(cluster, `${cluster.nodes[leader].url}/admin/fsck`);
}

export interface FsckWait {
  readonly clean: boolean;
  readonly ms: number;
  /** The last answer (null: none came). */
  readonly report: FsckReport | null;
  readonly error: string | null;
}

/** Polls the leader's fsck until it is clean or `timeoutMs` passed. */
export async function waitFsckClean(cluster: ChaosCluster, timeoutMs: number): Promise<FsckWait> {
  const started = Date.now();
  let report: FsckReport | null = null;
  let error: string | null = null;
  for (;;) {
    try {
      report = await leaderFsck(cluster);
      error = null;
      if (report.clean) return { clean: true, ms: Date.now() - started, report, error };
    } catch (err) {
      error = (err as Error).message;
    }
    if (Date.now() - started > timeoutMs) return { clean: false, ms: Date.now() - started, report, error };
    await sleep(2_000);
  }
}

/** Where each chunk belongs: the members and the copies per chunk the nodes place by. */
export interface PlacementView {
  /** Members placement counts (not marked down). */
  readonly members: readonly string[];
  readonly down: readonly string[];
  /** Copies per chunk in effect (the setting capped at the members). */
  readonly replication: number;
  readonly source: string;
}

/** The placement the leader's fsck used (its members and down marks, its effective replication). */
export function placementFromFsck(report: FsckReport): PlacementView {
  const down = report.members.filter((m) => m.down).map((m) => m.id);
  const up = report.members.filter((m) => !m.down).map((m) => m.id);
  // As the nodes do: everyone marked down would place nothing, so then all count.
  return { members: up.length > 0 ? up : report.members.map((m) => m.id), down, replication: report.replication, source: 'the leader\'s fsck' };
}

/** The placement the run set up: every node a member, at the run's replication. */
export function placementOfRun(cluster: ChaosCluster): PlacementView {
  return { members: cluster.nodes.map((n) => n.id), down: [], replication: Math.min(cluster.replication, cluster.nodes.length), source: 'the run\'s nodes and --replication' };
}

/** The chunk's holders by the nodes' own rendezvous function. */
export function holdersIn(view: PlacementView, hash: string): string[] {
  return holdersOf(hash, view.members.map((id) => ({ id })), view.replication);
}

/** fsck's answer in a few lines, for a violation. */
export function describeFsck(report: FsckReport): string {
  const members = report.members.map((m) => `${m.id}${m.down ? ' (down)' : ''}: ${m.reachable ? `${m.chunks} chunks, ${m.bytes} bytes` : `unreachable (${m.error ?? '?'})`}`).join('; ');
  const examples = Object.entries(report.examples).filter(([, list]) => list.length > 0).map(([kind, list]) => `${kind} e.g. ${list.slice(0, 3).map((h) => `${h.slice(0, 12)}…`).join(', ')}`).join('; ');
  return `replication ${report.replication} (setting ${report.replication_setting}), applied index ${report.applied_index}, ${report.chunks} chunks: under-replicated ${report.under_replicated}, over-replicated ${report.over_replicated}, misplaced ${report.misplaced}, missing ${report.missing}${examples === '' ? '' : ` (${examples})`}; members: ${members}`;
}
