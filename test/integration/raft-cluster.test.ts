// The consensus layer in real processes: three kv-node members over HTTP, with kill -9, restarts
// past the compacted log (InstallSnapshot), cluster auth and graceful leader shutdown. The tests
// run in order on one cluster; each leaves it with a leader for the next.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Cluster, sleep } from '../support/cluster.ts';
import type { NodeStatus } from '../support/cluster.ts';

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('raft cluster of kv-node processes', () => {
  let cluster: Cluster;
  /** Every acknowledged write: each key written once, with a unique value. */
  const acked = new Map<string, string>();
  let killedId = '';

  before(async () => {
    // Small snapshot threshold: a node down for a few hundred entries needs InstallSnapshot.
    cluster = await Cluster.start({ size: 3, snapshotEntries: 50 });
  });

  after(async () => {
    await cluster?.stopAll();
  });

  async function assertReadEverywhere(keys: Iterable<string>, ids = cluster.liveIds()): Promise<void> {
    const pairs = [...keys].flatMap((key) => ids.map((id) => ({ key, id })));
    await forEachLimit(pairs, 16, async ({ key, id }) => {
      const { status, value } = await cluster.read(id, key);
      assert.equal(status, 200, `read ${key} on ${id}`);
      assert.equal(value, acked.get(key), `read ${key} on ${id}`);
    });
  }

  it('elects one leader, commits, reads linearizably on every node, refuses writes on followers', async () => {
    const leader = await cluster.waitForLeader();
    // Never two leaders in one term, sampled for a while.
    for (let sample = 0; sample < 10; sample++) {
      const leaders = (await cluster.statuses()).filter((s) => s.role === 'leader');
      assert.ok(leaders.length <= 1 || new Set(leaders.map((s) => s.term)).size === leaders.length, JSON.stringify(leaders));
      await sleep(30);
    }
    assert.equal((await cluster.statuses()).filter((s) => s.role === 'leader').length, 1);

    // Overwrite one key: a read right after each ack must see it, on followers too.
    for (let i = 1; i <= 5; i++) {
      const value = `v${i}-${randomUUID()}`;
      const res = await cluster.propose(leader, 'a-key', value);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(typeof res.body.index === 'number' && res.body.index > 0);
      acked.set('a-key', value);
      await assertReadEverywhere(['a-key']);
    }

    const follower = cluster.liveIds().find((id) => id !== leader)!;
    const refused = await cluster.propose(follower, 'never', 'x');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.leaderId, leader);
    assert.equal(typeof refused.body.error?.code, 'string');
    assert.equal((await cluster.read(leader, 'never')).status, 404);
  });

  it('keeps every acknowledged write across kill -9 of the leader under load', async () => {
    const oldLeader = await cluster.waitForLeader();
    // Shared by the clients: whoever learns of a new leader moves everyone there.
    let target = oldLeader;
    let killed = false;
    let ackedAfterKill = 0;
    let stop = false;
    let seq = 0;
    const rotate = () => {
      const live = cluster.liveIds().filter((id) => id !== target);
      target = live[seq % live.length] ?? target;
    };
    // A few clients at once, so the kill lands with proposals in flight.
    const client = async () => {
      while (!stop) {
        const key = `b-${seq}`;
        const value = `v-${seq}-${randomUUID()}`;
        seq++;
        try {
          const res = await cluster.propose(target, key, value);
          if (res.status === 200) {
            acked.set(key, value);
            if (killed) ackedAfterKill++;
            continue;
          }
          const leaderId = res.body.leaderId;
          if (res.status === 503 && leaderId && leaderId !== target && cluster.node(leaderId).child !== null) target = leaderId;
          else rotate();
        } catch {
          rotate(); // refused or reset: the node is gone
        }
        await sleep(20);
      }
    };
    const clients = Promise.all(Array.from({ length: 4 }, client));

    await waitUntil('writes before the kill', async () => acked.size >= 30);
    const exit = await cluster.kill(oldLeader, 'SIGKILL');
    killed = true;
    killedId = oldLeader;
    assert.equal(exit.signal, 'SIGKILL');
    const newLeader = await cluster.waitForLeader();
    assert.notEqual(newLeader, oldLeader);
    await waitUntil('writes after the kill', async () => ackedAfterKill >= 20);
    stop = true;
    await clients;
    console.log(`  ${acked.size - 1} writes acknowledged, ${ackedAfterKill} after the kill; new leader ${newLeader}`);
    await assertReadEverywhere(acked.keys());
  });

  it('a node restarted behind the compacted log catches up through InstallSnapshot', async () => {
    const leader = await cluster.waitForLeader();
    const keys = Array.from({ length: 200 }, (_, i) => `c-${i}`);
    await forEachLimit(keys, 8, async (key) => {
      const value = `v-${randomUUID()}`;
      const res = await cluster.propose(leader, key, value);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      acked.set(key, value);
    });
    const before = await cluster.status(leader);
    assert.ok(before.snapshot !== null && before.snapshot.index > 100, `leader compacted: ${JSON.stringify(before.snapshot)}`);

    await cluster.restart(killedId);
    let restarted: NodeStatus | undefined;
    await waitUntil('the restarted node to catch up', async () => {
      restarted = await cluster.status(killedId).catch(() => undefined);
      return restarted !== undefined && restarted.applied >= before.commit;
    });
    assert.ok(restarted!.installedSnapshots >= 1, `no snapshot installed: ${JSON.stringify(restarted)}`);
    await assertReadEverywhere(acked.keys(), [killedId]);
    await assertReadEverywhere(keys.slice(-5));
  });

  it('the cluster port refuses requests without the secret', async () => {
    const node = cluster.node(cluster.liveIds()[0]);
    const body = JSON.stringify({ messages: [] });
    for (const headers of [{}, { 'x-dfs-cluster-secret': 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${node.clusterUrl}/raft/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    }
    const ok = await fetch(`${node.clusterUrl}/raft/messages`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-dfs-cluster-secret': cluster.secret },
    });
    assert.equal(ok.status, 204);
  });

  it('SIGTERM of the leader hands leadership over and exits 0', async () => {
    const oldLeader = await cluster.waitForLeader();
    const oldTerm = (await cluster.status(oldLeader)).term;
    const started = Date.now();
    const exit = await cluster.kill(oldLeader, 'SIGTERM');
    assert.equal(exit.code, 0, cluster.node(oldLeader).stderr);
    const newLeader = await cluster.waitForLeader();
    const elapsed = Date.now() - started;
    assert.notEqual(newLeader, oldLeader);
    const status = await cluster.status(newLeader);
    console.log(`  ${oldLeader} -> ${newLeader} in ${elapsed} ms (term ${oldTerm} -> ${status.term})`);
    const value = `after-transfer-${randomUUID()}`;
    const res = await cluster.propose(newLeader, 'e-key', value);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    acked.set('e-key', value);
    await assertReadEverywhere(['e-key']);
  });
});
