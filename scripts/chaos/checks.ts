// The end of a run: wait for the healed cluster to converge, read every name back, then check
// the history and every node's copy of the metadata and the chunks.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { checkLinearizable } from '../../test/checker/linearizability.ts';
import { findLostWrite } from './analysis.ts';
import type { Violation } from './analysis.ts';
import { fileUrl, sha256 } from './client.ts';
import type { ChaosClient } from './client.ts';
import type { ChaosCluster, ChaosNode } from './cluster.ts';
import { chunkPath } from './last-copies.ts';
import type { ChunkFault } from './nemesis.ts';
import {
  compareMemberViews, compareNodeDigests, describeFsck, fsckCleanWaitMs, holdersIn, leaderFsck, placementFromFsck, placementOfRun, waitFsckClean,
} from './placement-checks.ts';
import type { NodeDigest, PlacementView } from './placement-checks.ts';
import type { Recorder } from './recorder.ts';
import type { Workload } from './workload.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Convergence {
  readonly converged: boolean;
  readonly ms: number;
  readonly detail: string;
}

/**
 * Every node up and answering, one leader all agree on, and every node applied up to the same
 * index as the leader's commit — twice in a row, a second apart (nothing still trickling in).
 */
export async function waitConverged(cluster: ChaosCluster, timeoutMs: number): Promise<Convergence> {
  const started = Date.now();
  let last = '';
  let previousIndex = -1;
  while (Date.now() - started < timeoutMs) {
    const all = await cluster.statuses(3_000);
    const leaders = all.filter((s) => s?.is_leader);
    const missing = cluster.nodes.filter((_, i) => all[i] === null).map((n) => n.id);
    if (missing.length > 0) last = `no status from ${missing.join(', ')}`;
    else if (leaders.length !== 1) last = `${leaders.length} leaders`;
    else {
      const leader = leaders[0]!;
      const behind = all.filter((s) => s!.leader_id !== leader.id || s!.applied_index !== leader.commit_index || s!.commit_index !== leader.commit_index);
      // Every node of the run a voter again (a replaced one promoted), and nothing else a member.
      const members = (leader.nodes ?? []).map((m) => `${m.id}${m.voter ? '' : ' (learner)'}`).sort();
      const expected = cluster.nodes.map((n) => n.id).sort();
      const removed = all.filter((s) => s!.removed).map((s) => s!.id);
      if (JSON.stringify(members) !== JSON.stringify(expected)) last = `the leader ${leader.id} lists the members ${members.join(', ') || '-'}, not ${expected.join(', ')} (all voters)`;
      else if (removed.length > 0) last = `${removed.join(', ')} say they were removed`;
      else if (behind.length > 0) last = `behind ${leader.id} (commit ${leader.commit_index}): ${behind.map((s) => `${s!.id} applied ${s!.applied_index}, leader ${s!.leader_id}`).join('; ')}`;
      else if (previousIndex === leader.commit_index) return { converged: true, ms: Date.now() - started, detail: `leader ${leader.id}, term ${leader.term}, applied ${leader.commit_index} on every node` };
      else {
        previousIndex = leader.commit_index;
        last = `all at ${leader.commit_index}; confirming`;
      }
    }
    await sleep(1_000);
  }
  return { converged: false, ms: Date.now() - started, detail: last };
}

/**
 * Reads every name linearizably, through the gateway and from every node, into the history (as
 * processes after the clients'), so that the linearizability check covers the final state.
 * Returns the gateway's answer for each name.
 */
export async function finalReads(workload: Workload, cluster: ChaosCluster, firstProcess: number): Promise<Map<string, string | null | undefined>> {
  const finals = new Map<string, string | null | undefined>();
  // Nodes that do not answer /status (the cluster did not converge) would only cost timeouts.
  const statuses = await cluster.statuses(3_000);
  const answering = cluster.nodes.filter((n) => statuses[n.index] !== null);
  const targets = [{ name: 'gateway', url: cluster.gatewayUrl }, ...answering.map((n) => ({ name: n.id, url: n.url }))];
  for (const key of workload.keys.all) {
    const ops = await Promise.all(targets.map((t, i) => workload.read(firstProcess + i, key, t, { final: true, consistency: 'linearizable' })));
    finals.set(key, ops[0].outcome === 'ok' ? (ops[0].output as string | null) : undefined);
  }
  return finals;
}

export interface HistoryCheck {
  readonly keys: number;
  readonly violations: Violation[];
  /** Keys whose search ran out of time: result unknown. */
  readonly timedOut: string[];
}

/** Linearizability of each key's history (checked key by key: a register per file). */
export function checkHistory(recorder: Recorder, timeoutMs: number): HistoryCheck {
  const violations: Violation[] = [];
  const timedOut: string[] = [];
  const keys = recorder.keys();
  for (const key of keys) {
    const result = checkLinearizable(recorder.eventsOf(key), { timeoutMs });
    if (result.timedOut === true) timedOut.push(key);
    else if (!result.linearizable) violations.push({ kind: 'linearizability', key, message: result.explanation });
  }
  return { keys: keys.length, violations, timedOut };
}

export function checkLostWrites(recorder: Recorder, finals: ReadonlyMap<string, string | null | undefined>): Violation[] {
  const violations: Violation[] = [];
  for (const [key, value] of finals) {
    if (value === undefined) {
      violations.push({ kind: 'convergence', key, message: `the final linearizable read of ${key} through the gateway got no answer` });
      continue;
    }
    const lost = findLostWrite(recorder.ops.filter((op) => op.key === key), value);
    if (lost !== null) violations.push({ kind: 'lost-write', key, message: lost });
  }
  return violations;
}

interface VersionJson {
  version: number;
  etag: string;
  size: number;
  chunks: string[];
}

interface NodeMetadata {
  readonly node: string;
  readonly digest: string;
  readonly files: unknown[];
  readonly versions: Map<string, VersionJson[]>;
}

async function getJson<T>(client: ChaosClient, url: string): Promise<T> {
  const answer = await client.send('GET', url, { headers: { 'x-consistency': 'local' }, timeoutMs: 10_000 });
  if (answer.status !== 200 || answer.body === null) throw new Error(`GET ${url}: ${answer.status ?? answer.error} ${answer.error ?? ''}`);
  return JSON.parse(answer.body.toString('utf8')) as T;
}

/**
 * A node's metadata as seen from outside (beside the node's own digest route): the whole listing and
 * the kept versions of every name the run used, each read locally from that node.
 */
async function nodeMetadata(client: ChaosClient, url: string, node: string, names: readonly string[]): Promise<NodeMetadata> {
  const files: unknown[] = [];
  let after: string | null = null;
  for (let page = 0; page < 1_000; page++) {
    const query: string = `?consistency=local&limit=1000${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    const answer: { files: unknown[]; next: string | null } = await getJson(client, `${url}/files${query}`);
    files.push(...answer.files);
    after = answer.next;
    if (after === null) break;
  }
  const versions = new Map<string, VersionJson[]>();
  for (const name of names) {
    const answer = await getJson<{ versions: VersionJson[] }>(client, fileUrl(url, name, '?versions&consistency=local'));
    versions.set(name, answer.versions);
  }
  const canonical = JSON.stringify({ files, versions: [...versions] });
  return { node, digest: createHash('sha256').update(canonical).digest('hex'), files, versions };
}

/**
 * The chunks the kept versions of these names refer to, as the node at `url` has them applied
 * (for the nemesis: a damaged chunk no version needs any more is no loss).
 */
export async function referencedChunks(client: ChaosClient, url: string, names: readonly string[]): Promise<Set<string>> {
  const hashes = new Set<string>();
  for (const name of names) {
    const answer = await getJson<{ versions: VersionJson[] }>(client, fileUrl(url, name, '?versions&consistency=local'));
    for (const v of answer.versions) for (const hash of v.chunks) hashes.add(hash);
  }
  return hashes;
}

export interface StateCheck {
  readonly violations: Violation[];
  readonly notes: string[];
  /** Per node: the digest of its listing and kept versions, as read from outside. */
  readonly digests: Record<string, string>;
  /** Per node: its own GET /admin/metadata-digest (cluster_settings included). */
  readonly nodeDigests: Record<string, NodeDigest>;
  /** The leader's fsck after the wait for repair. */
  readonly fsck: { clean: boolean; ms: number; summary: string };
  /** Needed chunk copies verified on their holders. */
  readonly chunksChecked: number;
  /** Copies of needed chunks found on nodes that are not their holders (not yet collected). */
  readonly strayCopies: number;
  readonly versionsChecked: number;
}

/**
 * After convergence: every node holds the same metadata (digest of its listing and versions, and
 * its own digest of the replicated state) and lists the same members, serves for each name what
 * the final linearizable read saw, and serves every kept version with bytes matching its etag
 * (a node that does not hold a chunk streams it from a holder); the leader's fsck comes clean,
 * and every chunk a kept version needs is on each of its holders (the nodes' rendezvous
 * placement over the converged members), hash-verified on disk.
 */
export async function checkNodeState(
  client: ChaosClient, cluster: ChaosCluster, workload: Workload,
  finals: ReadonlyMap<string, string | null | undefined>, chunkFaults: readonly ChunkFault[],
): Promise<StateCheck> {
  const violations: Violation[] = [];
  const notes: string[] = [];
  const names = workload.keys.all;
  // Metadata.
  const metadata: NodeMetadata[] = [];
  // A node whose metadata cannot be read is reported once, here, and left out of what follows.
  const nodes: ChaosNode[] = [];
  for (const node of cluster.nodes) {
    try {
      metadata.push(await nodeMetadata(client, node.url, node.id, names));
      nodes.push(node);
    } catch (err) {
      violations.push({ kind: 'metadata', node: node.id, message: `could not read the metadata of ${node.id}: ${(err as Error).message}` });
    }
  }
  const noFsck = { clean: false, ms: 0, summary: 'not run' };
  if (metadata.length === 0) return { violations, notes, digests: {}, nodeDigests: {}, fsck: noFsck, chunksChecked: 0, strayCopies: 0, versionsChecked: 0 };
  const digests = Object.fromEntries(metadata.map((m) => [m.node, m.digest]));
  const reference = metadata[0];
  for (const m of metadata.slice(1)) {
    if (m.digest === reference.digest) continue;
    const differing = names.find((n) => JSON.stringify(m.versions.get(n)) !== JSON.stringify(reference.versions.get(n)));
    const where = differing !== undefined
      ? `versions of ${differing}: ${reference.node} has ${JSON.stringify(reference.versions.get(differing)?.map((v) => [v.version, v.etag.slice(0, 8)]))}, ${m.node} has ${JSON.stringify(m.versions.get(differing)?.map((v) => [v.version, v.etag.slice(0, 8)]))}`
      : `listings differ (${reference.node}: ${reference.files.length} files, ${m.node}: ${m.files.length})`;
    violations.push({ kind: 'metadata', node: m.node, message: `metadata digest of ${m.node} differs from ${reference.node}'s: ${where}` });
  }
  // What placement depends on: the replicated settings (in the nodes' own digest) and the members.
  const own = await compareNodeDigests(cluster);
  violations.push(...own.violations);
  violations.push(...(await compareMemberViews(cluster)));
  // What each node serves now, read locally, against the final linearizable read.
  for (const node of nodes) {
    for (const name of names) {
      const final = finals.get(name);
      const answer = await client.send('GET', fileUrl(node.url, name), { headers: { 'x-consistency': 'local' }, timeoutMs: 10_000 });
      let served: string | null | undefined;
      if (answer.status === 404) served = null;
      else if (answer.status === 200 && answer.body !== null) {
        const end = answer.body.indexOf(0x0a);
        served = end > 0 ? answer.body.subarray(0, end).toString('utf8') : `unparsable:${sha256(answer.body).slice(0, 12)}`;
        if (sha256(answer.body) !== answer.etag) violations.push({ kind: 'integrity', node: node.id, key: name, message: `${node.id} served ${name} with bytes that do not match its ETag` });
      } else {
        violations.push({ kind: 'divergence', node: node.id, key: name, message: `${node.id} could not serve ${name} locally: ${answer.status ?? ''} ${answer.error ?? ''}` });
        continue;
      }
      if (final !== undefined && served !== final) {
        violations.push({ kind: 'divergence', node: node.id, key: name, message: `${node.id} serves ${name} as ${JSON.stringify(served)}, the final linearizable read saw ${JSON.stringify(final)}` });
      }
    }
  }
  // Chunks. First the disk as the run left it (damage not yet found is expected where we did it).
  const needed = new Map<string, Set<string>>(); // hash -> versions needing it
  for (const [name, versions] of reference.versions) {
    for (const v of versions) for (const hash of v.chunks) {
      const set = needed.get(hash) ?? new Set<string>();
      set.add(`${name}@${v.version}`);
      needed.set(hash, set);
    }
  }
  // Where each chunk belongs now: as the leader's fsck places (members marked down skipped).
  let placement: PlacementView = placementOfRun(cluster);
  try {
    placement = placementFromFsck(await leaderFsck(cluster));
  } catch (err) {
    notes.push(`the leader's fsck did not answer before the read-back (${(err as Error).message}): holders computed from ${placement.source}`);
  }
  const injected = new Set(chunkFaults.map((f) => `${f.node}/${f.hash}`));
  const before = scanChunks(nodes, needed.keys(), placement);
  const latentInjected = before.problems.filter((p) => injected.has(`${p.node}/${p.hash}`));
  const latentOther = before.problems.filter((p) => !injected.has(`${p.node}/${p.hash}`));
  if (latentInjected.length > 0) {
    notes.push(`${latentInjected.length} holder cop${latentInjected.length === 1 ? 'y' : 'ies'} of chunks needed by a kept version, damaged by the nemesis, were still damaged after convergence (not read or scrubbed since): ${latentInjected.map((p) => `${p.node} ${p.hash.slice(0, 12)}… ${p.problem}`).join('; ')}`);
  }
  if (latentOther.length > 0) {
    notes.push(`after convergence, before the read-back: ${latentOther.length} needed chunk cop${latentOther.length === 1 ? 'y' : 'ies'} on a holder missing or bad that the nemesis did not touch: ${latentOther.slice(0, 8).map((p) => `${p.node} ${p.hash.slice(0, 12)}… ${p.problem}`).join('; ')}`);
  }
  // Every kept version from every node, read locally: the bytes must hash to the etag (a holder
  // fetches a bad or missing chunk from another and stores it again; a non-holder streams it).
  let versionsChecked = 0;
  for (const node of nodes) {
    for (const [name, versions] of reference.versions) {
      for (const v of versions) {
        versionsChecked++;
        const answer = await client.send('GET', fileUrl(node.url, name, `?version=${v.version}`), { headers: { 'x-consistency': 'local' }, timeoutMs: 15_000 });
        if (answer.status !== 200 || answer.body === null) {
          violations.push({ kind: 'chunk', node: node.id, key: name, message: `${node.id} could not serve version ${v.version} of ${name}: ${answer.status ?? ''} ${answer.error ?? ''}` });
        } else if (sha256(answer.body) !== v.etag) {
          violations.push({ kind: 'integrity', node: node.id, key: name, message: `${node.id} served version ${v.version} of ${name} with bytes hashing to ${sha256(answer.body)}, not its etag ${v.etag}` });
        }
      }
    }
  }
  // The leader's fsck (every referenced chunk on each of its holders, nothing misplaced), given
  // time: the nodes repair and rebalance on their own.
  const fsckWait = await waitFsckClean(cluster, fsckCleanWaitMs);
  const fsckSummary = fsckWait.report === null ? `no answer (${fsckWait.error})` : describeFsck(fsckWait.report);
  if (!fsckWait.clean) {
    violations.push({ kind: 'chunk', message: `the leader's fsck was not clean ${Math.round(fsckWait.ms / 1000)} s after the read-back: ${fsckSummary}${fsckWait.error === null ? '' : `; last error: ${fsckWait.error}`}` });
  }
  if (fsckWait.report !== null) {
    placement = placementFromFsck(fsckWait.report);
    const { replication, replication_setting: setting } = fsckWait.report;
    if (setting !== cluster.replication || replication !== Math.min(cluster.replication, placement.members.length)) {
      violations.push({ kind: 'metadata', message: `the leader's fsck places at replication ${replication} (setting ${setting}), the run set ${cluster.replication}` });
    }
    if (fsckWait.report.chunks !== needed.size) notes.push(`the leader's fsck counts ${fsckWait.report.chunks} referenced chunks, the kept versions need ${needed.size}`);
  }
  if (placement.down.length > 0) notes.push(`members marked down at the end (placement skips them): ${placement.down.join(', ')}`);
  // Then the disk again: every needed chunk on each of its holders, intact.
  const deadline = Date.now() + 30_000;
  let after = scanChunks(nodes, needed.keys(), placement);
  while (after.problems.length > 0 && Date.now() < deadline) {
    await sleep(1_000);
    after = scanChunks(nodes, needed.keys(), placement);
  }
  for (const p of after.problems) {
    violations.push({ kind: 'chunk', node: p.node, message: `${p.node}, a holder of chunk ${p.hash} (holders ${holdersIn(placement, p.hash).join(', ')} at replication ${placement.replication}), lacks a good copy (${p.problem}); it is needed by ${[...needed.get(p.hash)!].slice(0, 3).join(', ')}; 30 s after the fsck wait` });
  }
  if (after.strays.length > 0) {
    notes.push(`${after.strays.length} cop${after.strays.length === 1 ? 'y' : 'ies'} of needed chunks on nodes that are not their holders (not collected yet): ${after.strays.slice(0, 5).map((s) => `${s.node} ${s.hash.slice(0, 12)}…`).join('; ')}`);
  }
  return {
    violations, notes, digests, nodeDigests: own.digests, fsck: { clean: fsckWait.clean, ms: fsckWait.ms, summary: fsckSummary },
    chunksChecked: after.checked, strayCopies: after.strays.length, versionsChecked,
  };
}

interface ChunkProblem {
  readonly node: string;
  readonly hash: string;
  readonly problem: 'missing' | 'corrupt';
}

interface ChunkScan {
  /** Needed chunks a holder lacks or holds with the wrong bytes. */
  readonly problems: ChunkProblem[];
  /** Needed chunks present on a node that is not a holder. */
  readonly strays: Array<{ node: string; hash: string }>;
  /** Holder copies looked at. */
  readonly checked: number;
}

/** Each needed chunk on each of its holders (among `nodes`), read and hashed; copies elsewhere noted. */
function scanChunks(nodes: readonly ChaosNode[], needed: Iterable<string>, placement: PlacementView): ChunkScan {
  const problems: ChunkProblem[] = [];
  const strays: Array<{ node: string; hash: string }> = [];
  let checked = 0;
  for (const hash of needed) {
    const holders = new Set(holdersIn(placement, hash));
    for (const node of nodes) {
      const path = chunkPath(node.dataDir, hash);
      if (!holders.has(node.id)) {
        if (existsSync(path)) strays.push({ node: node.id, hash });
        continue;
      }
      checked++;
      let data: Buffer;
      try {
        data = readFileSync(path);
      } catch {
        problems.push({ node: node.id, hash, problem: 'missing' });
        continue;
      }
      if (sha256(data) !== hash) problems.push({ node: node.id, hash, problem: 'corrupt' });
    }
  }
  return { problems, strays, checked };
}
