// The replace-member fault, step by step: remove a node through the membership route (as an
// operator would a failed machine), see its process exit on its own (code 0), wipe its data dir,
// start it again with the same id and ports and `--join`, and wait until the leader lists it as
// a voter again. Each step has a generous deadline; a step that misses it is a violation.
import type { Violation } from './analysis.ts';
import type { ChaosCluster, ExitOutcome, NodeStatus } from './cluster.ts';

/** How long the membership route may keep answering "retry" (no leader, change pending). */
export const removeDeadlineMs = 60_000;
/** How long a removed node may take to learn it and exit. */
export const exitDeadlineMs = 60_000;
/** How long a rejoining node may take to be admitted, catch up and be promoted. */
export const promoteDeadlineMs = 120_000;
const requestTimeoutMs = 20_000;
const retryMs = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Answers that say "ask again": no leader yet, another change uncommitted, a leader handing over. */
function retryable(status: number, code: string): boolean {
  return status === 503 || (status === 409 && (code === 'change_pending' || code === 'quorum_behind'));
}

export interface Removal {
  /** The member the request went to (followers forward it to the leader). */
  readonly via: string;
  readonly attempts: number;
  readonly ms: number;
}

/**
 * DELETE /admin/members/<id>, sent to the running members in turn until one answers 200.
 * An attempt whose outcome is unknown (timeout, connection lost) may have removed the node
 * already: a later 404 not_member then means done.
 */
export async function removeMember(cluster: ChaosCluster, victim: number, order: readonly number[]): Promise<Removal> {
  const id = cluster.nodes[victim].id;
  const started = Date.now();
  let attempts = 0;
  let uncertain = false;
  let last = '';
  while (Date.now() - started < removeDeadlineMs) {
    const via = cluster.nodes[order[attempts % order.length]];
    attempts++;
    if (via.child === null || via.paused) continue;
    try {
      const res = await fetch(`${via.url}/admin/members/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        headers: { 'x-dfs-cluster-secret': cluster.secret },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const text = await res.text();
      const code = (() => {
        try {
          return (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          return '';
        }
      })();
      if (res.status === 200) return { via: via.id, attempts, ms: Date.now() - started };
      if (res.status === 404 && code === 'not_member' && uncertain) return { via: via.id, attempts, ms: Date.now() - started };
      last = `${via.id} answered ${res.status} ${text.slice(0, 300)}`;
      if (!retryable(res.status, code)) {
        // A 5xx other than 503 may come after the change was proposed: its outcome is unknown.
        if (res.status >= 500) uncertain = true;
        else throw new Error(`removing ${id}: ${last}`);
      }
    } catch (err) {
      if ((err as Error).message.startsWith(`removing ${id}:`)) throw err;
      uncertain = true;
      last = `${via.id}: ${(err as Error).message}`;
    }
    await sleep(retryMs);
  }
  throw new Error(`removing ${id}: no member accepted the removal in ${removeDeadlineMs / 1000} s (${attempts} attempts; last: ${last})`);
}

/** Waits for the removed node's process to end; a violation when it does not, or not with code 0. */
export async function awaitRemovedExit(cluster: ChaosCluster, victim: number, exit: Promise<ExitOutcome>): Promise<{ outcome: ExitOutcome | null; ms: number; violation: Violation | null }> {
  const node = cluster.nodes[victim];
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([exit, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), exitDeadlineMs)))]);
  clearTimeout(timer);
  const ms = Date.now() - started;
  if (outcome === null) {
    const status = await cluster.status(victim, 3_000);
    await cluster.signal(victim, 'SIGKILL');
    return {
      outcome, ms,
      violation: {
        kind: 'membership', node: node.id,
        message: `${node.id} was removed from the cluster but still ran ${exitDeadlineMs / 1000} s later (killed then); its /status said ${status === null ? 'nothing' : `role ${status.state}, removed ${status.removed}, membership index ${status.membership_index}, members ${describeMembers(status)}`} (see ${node.logPath})`,
      },
    };
  }
  if (outcome.code !== 0) {
    return {
      outcome, ms,
      violation: { kind: 'membership', node: node.id, message: `${node.id} was removed from the cluster and exited with ${outcome.signal ?? `code ${outcome.code}`}, not code 0 (see ${node.logPath})` },
    };
  }
  return { outcome, ms, violation: null };
}

export function describeMembers(status: NodeStatus): string {
  return (status.nodes ?? []).map((n) => `${n.id}${n.voter ? '' : ' (learner)'}`).join(', ') || '-';
}

/**
 * Waits until the leader of the moment lists the node as a voter, and the node itself answers
 * and does not think it is removed. Gives up early if the node's process ends.
 */
export async function awaitVoter(cluster: ChaosCluster, victim: number): Promise<{ ms: number; violation: Violation | null }> {
  const node = cluster.nodes[victim];
  const started = Date.now();
  let seen = 'nothing yet';
  while (Date.now() - started < promoteDeadlineMs) {
    if (node.child === null) {
      return { ms: Date.now() - started, violation: { kind: 'membership', node: node.id, message: `${node.id} exited while rejoining the cluster (last seen: ${seen}; see ${node.logPath})` } };
    }
    const leaderIndex = await cluster.leader();
    const [leader, own] = await Promise.all([leaderIndex === null ? null : cluster.status(leaderIndex), cluster.status(victim)]);
    const entry = leader?.nodes?.find((n) => n.id === node.id);
    seen = `leader ${leader === null ? 'unknown' : `${leader.id} (membership index ${leader.membership_index}) lists ${describeMembers(leader)}`}; ${node.id} says ${own === null ? 'nothing' : `${own.state}, applied ${own.applied_index} of commit ${own.commit_index}, removed ${own.removed}`}`;
    if (entry?.voter === true && own !== null && !own.removed) return { ms: Date.now() - started, violation: null };
    await sleep(retryMs);
  }
  return {
    ms: Date.now() - started,
    violation: { kind: 'membership', node: node.id, message: `${node.id} rejoined with --join but was not a voter ${promoteDeadlineMs / 1000} s later: ${seen} (see ${node.logPath})` },
  };
}
