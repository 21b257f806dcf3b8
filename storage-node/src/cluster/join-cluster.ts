// A new node asks a running cluster to admit it (`--join <client URL of any member>`): the member
// passes the request to the leader, which adds the node as a learner and answers once that change
// is committed, with the index of its config entry and the members' addresses. Refusals that
// pass (no leader yet, another change pending) are retried until a deadline; the others end the
// start with the cluster's reason.
import { request } from 'undici';
import { StartError } from '../../../shared/run-program.ts';
import { peerAgent } from '../../../shared/tls-client.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';
import type { MemberUrls } from './member-address.ts';
import type { JoinRecord } from './join-record.ts';

/** How long a node keeps asking to be admitted before it gives up. */
export const joinDeadlineMs = 120_000;
const joinRetryMs = 500;
/** Answers worth asking again for: the cluster is busy or between leaders. */
const retryableCodes = new Set(['no_leader', 'change_pending', 'leader_not_ready', 'transferring', 'timeout', 'outcome_unknown']);

export class JoinRefusedError extends StartError {
  override readonly name = 'JoinRefusedError';
}

export interface MemberJson {
  readonly id: string;
  readonly client_url: string;
  readonly cluster_url: string;
  readonly voter: boolean;
}

export interface JoinOptions {
  readonly id: string;
  readonly self: MemberUrls;
  readonly joinUrl: string;
  readonly learner: boolean;
  readonly clusterSecret: string;
  readonly tlsCa: string | null;
  readonly log: (line: string) => void;
}

export async function joinCluster(options: JoinOptions): Promise<JoinRecord> {
  const deadline = Date.now() + joinDeadlineMs;
  let lastProblem = '';
  for (;;) {
    const outcome = await askOnce(options).catch((err: unknown) => ({ retry: true as const, problem: `${options.joinUrl} unreachable: ${(err as Error).message}` }));
    if ('record' in outcome) return outcome.record;
    if (!outcome.retry) throw new JoinRefusedError(`the cluster refused to admit ${options.id}: ${outcome.problem}`);
    if (outcome.problem !== lastProblem) options.log(`node ${options.id}: not admitted yet (${outcome.problem}); asking again`);
    lastProblem = outcome.problem;
    if (Date.now() + joinRetryMs > deadline) throw new JoinRefusedError(`${options.id} was not admitted within ${joinDeadlineMs / 1000} s: ${outcome.problem}`);
    await new Promise((resolve) => setTimeout(resolve, joinRetryMs));
  }
}

async function askOnce(options: JoinOptions): Promise<{ record: JoinRecord } | { retry: boolean; problem: string }> {
  const response = await request(`${options.joinUrl}/admin/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CLUSTER_SECRET_HEADER]: options.clusterSecret },
    body: JSON.stringify({ id: options.id, client_url: options.self.clientUrl, cluster_url: options.self.clusterUrl }),
    dispatcher: peerAgent(options.tlsCa),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { retry: response.statusCode >= 500, problem: `${response.statusCode} ${text.slice(0, 200)}` };
  }
  if (response.statusCode === 201) {
    const answer = body as { joined_at: number; members: MemberJson[] };
    const members: Record<string, MemberUrls> = {};
    for (const member of answer.members) members[member.id] = { clientUrl: member.client_url, clusterUrl: member.cluster_url };
    return { record: { id: options.id, joinedAt: answer.joined_at, learner: options.learner, members } };
  }
  const error = (body as { error?: { code?: string; message?: string } }).error ?? {};
  const problem = `${response.statusCode} ${error.code ?? '?'}: ${error.message ?? text.slice(0, 200)}`;
  return { retry: retryableCodes.has(error.code ?? '') || response.statusCode === 503, problem };
}
