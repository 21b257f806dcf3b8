// Runtime membership over real processes: a cluster grows from 3 to 5 nodes under gateway write
// load, loses its leader and a follower through removals, and gets a wiped node back under its old
// id; afterwards every acknowledged write reads back byte-exact from every member and the
// metadata digests match. Also: a learner that stays one, the routes' refusals, a node that
// cannot join.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { programArgs } from '../../scripts/programs.ts';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { waitFor } from '../support/wait-for.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface MemberStatus {
  id: string;
  state: string;
  is_leader: boolean;
  leader_id: string | null;
  applied_index: number;
  commit_index: number;
  membership_index: number;
  nodes: { id: string; voter: boolean; client_url: string }[];
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function statusOf(node: StorageNodeHandle): Promise<MemberStatus | null> {
  try {
    const response = await fetch(`${node.url}/status`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? ((await response.json()) as MemberStatus) : null;
  } catch {
    return null;
  }
}


describe('membership at runtime', () => {
  let cluster: GatewayCluster;
  const adminHeaders = () => ({ 'x-dfs-cluster-secret': cluster.storage.secret });
  const running = () => cluster.storage.nodes.filter((n) => n.child !== null);
  const member = (id: string) => cluster.storage.node(id);

  /** The leader's view, once every running node agrees on it. */
  async function leaderStatus(): Promise<MemberStatus> {
    return waitFor('one leader', async () => {
      const statuses = (await Promise.all(running().map(statusOf))).filter((s): s is MemberStatus => s !== null);
      const leader = statuses.find((s) => s.is_leader);
      return leader !== undefined && statuses.every((s) => s.leader_id === leader.id) ? leader : undefined;
    });
  }

  async function waitVoter(id: string): Promise<void> {
    await waitFor(`${id} a voter`, async (see) => {
      const leader = await leaderStatus();
      // The learner's own word on why it has not asked yet, for a timeout's message.
      const own = await fetch(`${member(id).url}/status`).then((r) => r.json() as Promise<{ promotion_waiting: string | null; applied_index: number }>, (err: Error) => err.message);
      see({ members: leader.nodes.map((n) => `${n.id}:${n.voter ? 'voter' : 'learner'}`), learner: own, leader_commit: leader.commit_index });
      return leader.nodes.some((n) => n.id === id && n.voter) ? true : undefined;
    }, 180_000);
  }

  async function remove(id: string, via: StorageNodeHandle): Promise<void> {
    await waitFor(`removing ${id}`, async () => {
      const response = await fetch(`${via.url}/admin/members/${id}`, { method: 'DELETE', headers: adminHeaders() });
      const body = await response.text();
      if (response.status === 200) return true;
      // Another change still committing, or a leader change: ask again.
      if (response.status === 409 && (body.includes('change_pending') || body.includes('quorum_behind'))) return undefined;
      if (response.status === 503) return undefined;
      throw new Error(`DELETE ${id}: ${response.status} ${body}`);
    });
  }

  async function waitExit(id: string): Promise<number | null | undefined> {
    const node = member(id);
    await waitFor(`${id} exits`, async () => (node.child === null ? true : undefined), 30_000);
    return node.exitCode;
  }

  before(async () => {
    cluster = await GatewayCluster.start({ storage: { size: 3, flags: ['--chunk-size', '64KiB', '--snapshot-entries', '200'] }});
  });
  after(async () => {
    await cluster?.stopAll();
  });

  test('grows 3 → 5 under write load, removes the leader and a follower, takes a wiped node back: nothing acknowledged is lost', async () => {
    const acknowledged = new Map<string, string>();
    let failures = 0;
    let stop = false;
    let sequence = 0;
    // Four writers through the gateway: small (inline) and multi-chunk bodies.
    const writer = async (w: number) => {
      while (!stop) {
        const name = `load/w${w}/${sequence++}`;
        const body = randomBytes(sequence % 5 === 0 ? 150_000 : 2_000);
        try {
          const response = await fetch(`${cluster.url}/files/${name}`, { method: 'PUT', body, signal: AbortSignal.timeout(30_000) });
          await response.arrayBuffer();
          if (response.status === 201) acknowledged.set(name, sha256(body));
          else failures++;
        } catch {
          failures++;
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    try {
      await waitFor('some writes', async () => (acknowledged.size >= 20 ? true : undefined));
      const seed = member('n1');
      await cluster.addNode('n4', seed.url);
      await waitVoter('n4');
      await cluster.addNode('n5', member('n2').url);
      await waitVoter('n5');
      let leader = await leaderStatus();
      assert.deepEqual(leader.nodes.map((n) => n.id).sort(), ['n1', 'n2', 'n3', 'n4', 'n5']);
      assert.ok(leader.nodes.every((n) => n.voter), JSON.stringify(leader.nodes));

      // The gateway finds the new members from the leader's /status and sends them reads.
      const servedBy = new Set<string>();
      await waitFor('the gateway reads from n4 and n5', async () => {
        const [name] = acknowledged.keys();
        const response = await fetch(`${cluster.url}/files/${name}`);
        await response.arrayBuffer();
        servedBy.add(response.headers.get('x-dfs-node') ?? '?');
        return servedBy.has('n4') && servedBy.has('n5') ? true : undefined;
      });

      // Remove the leader (through a follower, which forwards), then a founding follower.
      const oldLeader = leader.id;
      const follower = running().find((n) => n.id !== oldLeader)!;
      await remove(oldLeader, follower);
      assert.equal(await waitExit(oldLeader), 0, `${oldLeader} exits 0 once removed`);
      leader = await leaderStatus();
      assert.notEqual(leader.id, oldLeader);
      const founder = ['n1', 'n2', 'n3'].find((id) => id !== oldLeader && id !== leader.id)!;
      await remove(founder, member(leader.id));
      assert.equal(await waitExit(founder), 0, `${founder} exits 0 once removed`);
      leader = await leaderStatus();
      assert.equal(leader.nodes.length, 3, JSON.stringify(leader.nodes));

      // The gateway stops reading from removed members, once its view has them gone.
      await waitFor('the gateway drops the removed members', async (see) => {
        const view = (await (await fetch(`${cluster.url}/status`)).json()) as { nodes: { id: string }[] };
        see(view.nodes.map((n) => n.id));
        return view.nodes.every((n) => n.id !== oldLeader && n.id !== founder) ? true : undefined;
      });
      for (let i = 0; i < 20; i++) {
        const [name] = acknowledged.keys();
        const response = await fetch(`${cluster.url}/files/${name}`);
        await response.arrayBuffer();
        const node = response.headers.get('x-dfs-node');
        assert.ok(node !== oldLeader && node !== founder, `read served by removed ${node}`);
      }

      // A member dies for good; it is removed and a wiped node takes its id.
      const victim = leader.nodes.find((n) => n.id !== leader.id)!.id;
      await cluster.killNode(victim);
      await remove(victim, member(leader.id));
      await cluster.addNode(victim, member(leader.id).url);
      await waitVoter(victim);
      assert.ok(existsSync(join(member(victim).dataDir, 'join.json')), 'the new node keeps its join record');
      // Restarted on its data, it finds the cluster without --join.
      await cluster.killNode(victim, 'SIGTERM');
      cluster.storage.startNode(victim);
      assert.ok(!member(victim).child!.spawnargs.includes('--join'), 'a restart needs no --join');
      await waitFor(`${victim} ready again`, async () => ((await fetch(`${member(victim).url}/ready`).then((r) => r.ok, () => false)) ? true : undefined));
      await waitVoter(victim);
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    assert.ok(acknowledged.size > 50, `writes acknowledged: ${acknowledged.size}, failed: ${failures}`);

    // Every member applies the same log: equal applied indexes, equal digests, every write there.
    const members = running();
    assert.equal(members.length, 3);
    await waitFor('members applied alike', async () => {
      const statuses = await Promise.all(members.map(statusOf));
      return statuses.every((s) => s !== null && s.applied_index === statuses[0]!.applied_index && s.applied_index === s.commit_index) ? true : undefined;
    });
    const digests = await Promise.all(members.map(async (n) => {
      const response = await fetch(`${n.url}/admin/metadata-digest`, { headers: adminHeaders() });
      return (await response.json()) as { digest: string; applied_index: number; id: string };
    }));
    assert.ok(digests.every((d) => d.digest === digests[0].digest && d.applied_index === digests[0].applied_index), JSON.stringify(digests));
    for (const node of members) {
      let missing = 0;
      for (const [name, hash] of acknowledged) {
        const response = await fetch(`${node.url}/files/${name}?consistency=local`);
        const body = new Uint8Array(await response.arrayBuffer());
        if (response.status !== 200 || sha256(body) !== hash) missing++;
      }
      assert.equal(missing, 0, `${node.id}: ${missing} of ${acknowledged.size} acknowledged writes missing or different`);
    }
  });

  test('a learner stays a learner, serves reads, and is refused what is not a change', async () => {
    const leader = await leaderStatus();
    const leaderNode = member(leader.id);
    await cluster.addNode('l1', leaderNode.url, ['--learner']);
    await waitFor('l1 listed as a learner', async () => {
      const now = await leaderStatus();
      return now.nodes.some((n) => n.id === 'l1' && !n.voter) ? true : undefined;
    });
    const write = await fetch(`${cluster.url}/files/learner/a.txt`, { method: 'PUT', body: 'seen by the learner' });
    assert.equal(write.status, 201);
    // Linearizable (default) and local reads on the learner.
    const read = await waitFor('the learner reads', async () => {
      const response = await fetch(`${member('l1').url}/files/learner/a.txt`);
      return response.status === 200 ? response.text() : undefined;
    });
    assert.equal(read, 'seen by the learner');
    await sleep(3000);
    const still = await leaderStatus();
    assert.equal(still.nodes.find((n) => n.id === 'l1')?.voter, false, 'a --learner node never asks to be promoted');

    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = adminHeaders()) => {
      const response = await fetch(`${leaderNode.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
    };
    assert.equal((await call('DELETE', '/admin/members/nobody')).body.error?.code, 'not_member');
    assert.equal((await call('POST', '/admin/members/nobody/promote')).status, 404);
    const badId = await call('POST', '/admin/members', { id: '../x', client_url: 'http://127.0.0.1:1', cluster_url: 'http://127.0.0.1:2' });
    assert.deepEqual([badId.status, badId.body.error?.code], [400, 'invalid_id']);
    const badUrl = await call('POST', '/admin/members', { id: 'x9', client_url: 'ftp://x', cluster_url: 'http://127.0.0.1:2' });
    assert.deepEqual([badUrl.status, badUrl.body.error?.code], [400, 'invalid_address']);
    const taken = await call('POST', '/admin/members', { id: 'l1', client_url: 'http://127.0.0.1:1', cluster_url: 'http://127.0.0.1:2' });
    assert.deepEqual([taken.status, taken.body.error?.code], [409, 'already_member']);
    const unauthenticated = await call('DELETE', '/admin/members/l1', undefined, {});
    assert.equal(unauthenticated.status, 401);
    // Removed again: the learner exits.
    assert.equal((await call('DELETE', '/admin/members/l1')).status, 200);
    assert.equal(await waitExit('l1'), 0);
  });

  test('a node with the wrong cluster secret is not admitted and says why', async () => {
    const [clientPort, clusterPort] = await freePorts(2);
    const args = [
      ...programArgs('storage-node'),
      '--id', 'intruder', '--host', '127.0.0.1', '--client-port', String(clientPort), '--cluster-port', String(clusterPort),
      '--data-dir', join(cluster.storage.dir, 'intruder'), '--cluster-secret', 'not-the-secret', '--join', member((await leaderStatus()).id).url,
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /refused to admit intruder: 401/);
  });
});
