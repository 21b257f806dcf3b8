// The driver's linearizable reads: reads that arrive together share one ReadIndex round (etcd's
// linearizableReadLoop), each still waits for an index taken after it arrived, and ids never
// repeat across restarts. Three real RaftNodes in one process, in-memory logs, messages passed
// between them on later event-loop turns.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRaftConfig } from '../../storage-node/src/raft/config.ts';
import type { Entry, Message, ReadIndexMessage } from '../../storage-node/src/raft/types.ts';
import { RaftNode } from '../../storage-node/src/raft-node/raft-node.ts';
import type { RaftTransport } from '../../storage-node/src/raft-node/raft-node.ts';
import { SnapshotFiles } from '../../storage-node/src/raft-node/snapshot-files.ts';
import type { StateMachine } from '../../storage-node/src/raft-node/state-machine.ts';
import { MemoryRaftLogStore } from '../../storage-node/src/raft-storage/memory-raft-log-store.ts';

class CountingStateMachine implements StateMachine {
  applied = 0;
  appliedIndex(): number {
    return this.applied;
  }
  apply(entries: readonly Entry[]): unknown[] {
    this.applied = entries[entries.length - 1].index;
    return entries.map((e) => e.index);
  }
  writeSnapshot(): void {}
  restoreSnapshot(): void {}
}

const ids = ['a', 'b', 'c'];
const dir = mkdtempSync(join(tmpdir(), 'dfs-raft-node-reads-'));
const sent: Message[] = [];

function startCluster(): Map<string, RaftNode> {
  const nodes = new Map<string, RaftNode>();
  for (const id of ids) {
    const transport: RaftTransport = {
      send: (messages) => {
        for (const m of messages) {
          sent.push(m);
          setImmediate(() => nodes.get(m.to)?.deliver(m));
        }
      },
      sendSnapshot: async () => false,
    };
    nodes.set(
      id,
      new RaftNode({
        config: { ...defaultRaftConfig, id, randomInt: (n) => Math.floor(Math.random() * n) },
        membership: { voters: ids },
        store: new MemoryRaftLogStore(),
        stateMachine: new CountingStateMachine(),
        snapshots: new SnapshotFiles(join(dir, id)),
        transport,
        tickMs: 10,
        snapshotEntriesThreshold: 1_000_000,
        requestTimeoutMs: 30_000,
      }),
    );
  }
  for (const node of nodes.values()) node.start();
  return nodes;
}

/** The leader, once every node knows it (a follower that knows no leader fails reads at once). */
async function leaderOf(nodes: Map<string, RaftNode>): Promise<RaftNode> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const leader = [...nodes.values()].find((n) => n.softState().role === 'leader');
    if (leader !== undefined && [...nodes.values()].every((n) => n.softState().leaderId === leader.id)) return leader;
    if (Date.now() > deadline) throw new Error(`no leader known to all in 30 s: ${[...nodes.values()].map((n) => `${n.id} ${n.softState().role} (leader ${n.softState().leaderId})`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RaftNode linearizable reads', () => {
  const nodes = startCluster();
  after(() => {
    for (const node of nodes.values()) node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('confirms 200 reads that arrive together with a few ReadIndex rounds, each at an index after its arrival', async () => {
    const leader = await leaderOf(nodes);
    const committed = await leader.propose('x');
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    for (const node of [leader, follower]) {
      const before = node.readCounts();
      const indexes = await Promise.all(Array.from({ length: 200 }, () => node.readBarrier()));
      const after = node.readCounts();
      assert.equal(after.reads - before.reads, 200);
      const rounds = after.rounds - before.rounds;
      assert.ok(rounds >= 1 && rounds <= 3, `${node.id}: ${rounds} rounds for 200 reads`);
      for (const index of indexes) assert.ok(index >= (committed as number), `read at ${index}, before the write at ${String(committed)}`);
    }
  });

  it('a read that arrives while a round is out waits for the next round', async () => {
    const leader = await leaderOf(nodes);
    const before = leader.readCounts();
    const first = leader.readBarrier();
    // Committed after the first read's round went out: the second read must see it.
    const written = (await leader.propose('y')) as number;
    const second = await leader.readBarrier();
    await first;
    assert.ok(second >= written, `second read at ${second}, the write before it at ${written}`);
    assert.ok(leader.readCounts().rounds - before.rounds >= 2);
  });

  it('names ReadIndex requests uniquely, also across a restart of the node', async () => {
    const followerReadIds = async (cluster: Map<string, RaftNode>) => {
      const leader = await leaderOf(cluster);
      const follower = [...cluster.values()].find((n) => n !== leader)!;
      const from = sent.length;
      await Promise.all([follower.readBarrier(), follower.readBarrier()]);
      await follower.readBarrier();
      return sent.slice(from).filter((m): m is ReadIndexMessage => m.type === 'ReadIndex' && m.from === follower.id).flatMap((m) => [...m.requestIds]);
    };
    const before = await followerReadIds(nodes);
    for (const node of nodes.values()) node.stop();
    // The same nodes made again, as after a restart: their reads must not reuse an id.
    const restarted = startCluster();
    try {
      const afterRestart = await followerReadIds(restarted);
      const all = [...before, ...afterRestart];
      assert.ok(before.length >= 1 && afterRestart.length >= 1, `ids seen: ${JSON.stringify(all)}`);
      assert.equal(new Set(all).size, all.length, `repeated ids: ${JSON.stringify(all)}`);
    } finally {
      for (const node of restarted.values()) node.stop();
    }
  });
});
