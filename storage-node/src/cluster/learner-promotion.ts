// A node that joined (without --learner) asks the leader to make it a voter once it has caught
// up: its state machine within a few entries of the leader's commit and every chunk its files
// refer to stored here (etcd's rule, plus the data: a voter must be able to serve and to count
// towards a majority of every chunk). The leader checks the log distance again before it agrees.
import { request } from 'undici';
import { peerAgent } from '../../../shared/tls-client.ts';
import { defaultRaftConfig } from '../raft/config.ts';
import type { NodeContext } from '../node/node-context.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';

/** Time between two looks at whether this learner may ask for its promotion. */
export const promotionCheckMs = 1000;
/** Applied entries this close to the leader's commit count as caught up (the leader allows more). */
const caughtUpEntries = Math.floor(defaultRaftConfig.learnerCatchUpEntriesMax / 2);
/** Chunks checked per page when counting what is missing. */
const scanPage = 1000;
/** Missing chunks remembered from one look to the next (the repairer's queue bound). */
const missingListedMax = 10_000;

export interface LearnerPromotion {
  stop(): void;
}

/** `joinedAt`: the index of the config entry that added this node (join.json). */
export function startLearnerPromotion(ctx: NodeContext, joinedAt: number): LearnerPromotion {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let lastProblem = '';
  /** Chunks missing at the first look and not fetched yet (null: no look yet). */
  let missingBefore: string[] | null = null;
  const say = (problem: string) => {
    if (problem !== lastProblem) console.log(`node ${ctx.config.id}: not promoted yet: ${problem}`);
    lastProblem = problem;
    ctx.promotion.waiting = problem;
  };
  const round = async (): Promise<boolean> => {
    const { raft, members, metadata, config } = ctx;
    const view = raft.membership();
    // A configuration from before this node was added says nothing about it: a wiped node that
    // rejoins under its old id installs a snapshot in which that id may still be a voter.
    if (view.index < joinedAt) {
      say(`the entry that adds it (index ${joinedAt}) is not applied here yet`);
      return false;
    }
    if (view.removed || members.isVoter(config.id)) {
      ctx.promotion.waiting = null;
      return true;
    }
    if (!members.isLearner(config.id)) {
      say('it is not a learner of the configuration in effect');
      return false;
    }
    const status = raft.status();
    if (status.leaderId === null) {
      say('no leader known');
      return false;
    }
    const behind = status.leaderCommit - metadata.appliedIndex();
    if (behind > caughtUpEntries) {
      say(`${behind} entries behind the leader's commit`);
      return false;
    }
    // Under write load some chunk is always on its way here (pushed, or fetched after its
    // apply), so the rule is: every chunk that was missing at the first look is here now. The
    // list only shrinks, so a busy node gets there too; later chunks come with the writes.
    const stillMissing = missingBefore === null ? await missingChunks(ctx) : await absent(ctx, missingBefore);
    missingBefore = stillMissing;
    if (stillMissing.length > 0) {
      ctx.repairer.enqueue(stillMissing);
      say(`${stillMissing.length} chunks still to fetch`);
      return false;
    }
    const leader = members.urlsOf(status.leaderId);
    if (leader === undefined) {
      say(`no address known for the leader ${status.leaderId}`);
      return false;
    }
    const response = await request(`${leader.clientUrl}/admin/members/${encodeURIComponent(config.id)}/promote`, {
      method: 'POST',
      headers: { [CLUSTER_SECRET_HEADER]: config.clusterSecret },
      dispatcher: peerAgent(config.tlsCa),
      headersTimeout: config.requestTimeoutMs * 2,
      bodyTimeout: config.requestTimeoutMs * 2,
    });
    const text = await response.body.text();
    if (response.statusCode === 200) {
      console.log(`node ${config.id}: caught up and promoted to voter`);
      ctx.promotion.waiting = null;
      return true;
    }
    // 409 not_learner: promoted already (an answer lost on the way).
    if (response.statusCode === 409 && text.includes('"not_learner"')) return true;
    say(`the leader answered ${response.statusCode} ${text.slice(0, 300)}`);
    return false;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      round().then(
        (done) => {
          if (!done) schedule();
        },
        (err: unknown) => {
          say(`asking failed: ${(err as Error).message}`);
          schedule();
        },
      );
    }, promotionCheckMs);
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}

/** Chunks referenced by the metadata that this node holds and lacks (at most `missingListedMax`). */
async function missingChunks(ctx: NodeContext): Promise<string[]> {
  const missing: string[] = [];
  let after = '';
  for (;;) {
    const page = ctx.metadata.referencedChunks({ after, limit: scanPage });
    if (page.length === 0) return missing;
    for (const row of page) {
      // Only what this node holds (placement): the other chunks live on other members.
      if (ctx.placement.isHolder(row.hash) && !(await ctx.blobs.has(row.hash))) missing.push(row.hash);
      if (missing.length >= missingListedMax) return missing;
    }
    after = page[page.length - 1].hash;
  }
}

async function absent(ctx: NodeContext, hashes: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const hash of hashes) if (ctx.metadata.hasChunkRef(hash) && ctx.placement.isHolder(hash) && !(await ctx.blobs.has(hash))) out.push(hash);
  return out;
}
