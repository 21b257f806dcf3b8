// `dfs members` and `dfs cluster add|promote|remove`, run as a user runs them (a new CLI process
// each time) through the gateway of a real cluster: three storage nodes and one gateway, started
// once for the file. The cluster grows to four with the command `cluster add` prints, shrinks
// back with `cluster remove` (the removed process exits 0), and takes a learner that stays one
// until `cluster promote`, and loses the node the gateway was seeded with. Refusals give exit 1
// with the server's code, usage errors exit 2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** How long one CLI run may take before the test gives up on it, ms. */
const runTimeoutMs = 60_000;
/** How long a membership change may take to show (a join, a catch-up, a promotion, an exit), ms. */
const settleTimeoutMs = 60_000;
const adminToken = randomBytes(16).toString('hex');

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface MembersJson {
  leader_id: string | null;
  membership_index: number;
  change_pending: boolean;
  members: { id: string; client_url: string; cluster_url: string; voter: boolean }[];
}

describe('dfs members and cluster add/promote/remove against a real cluster', () => {
  let cluster: GatewayCluster;

  function dfs(args: readonly string[], env: Record<string, string> = { DFS_ENDPOINT: cluster.url, DFS_ADMIN_TOKEN: adminToken }): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'cli/src/main.ts', ...args], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        reject(new Error(`dfs ${args.join(' ')} did not finish in ${runTimeoutMs} ms; stderr: ${stderr}`));
      }, runTimeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  async function ok(args: readonly string[]): Promise<string> {
    const result = await dfs(args);
    assert.equal(result.code, 0, `dfs ${args.join(' ')} exited ${result.code}; stderr: ${result.stderr}`);
    return result.stdout;
  }

  const members = async () => JSON.parse(await ok(['members', '--json'])) as MembersJson;

  /** Runs `dfs members --json` until `done` holds of it; fails with the last list seen. */
  async function waitForMembers(what: string, done: (list: MembersJson) => boolean): Promise<MembersJson> {
    const deadline = Date.now() + settleTimeoutMs;
    for (;;) {
      const list = await members();
      if (done(list)) return list;
      assert.ok(Date.now() < deadline, `${what} not seen within ${settleTimeoutMs} ms; last members: ${JSON.stringify(list)}`);
      await sleep(500);
    }
  }

  /** `dfs status` rows (after the leader line and the header), split on runs of spaces. */
  async function statusRows(): Promise<string[][]> {
    const lines = (await ok(['status'])).trim().split('\n');
    assert.match(lines[1] ?? '', /^member\s+role\s+voter\s+leader/, lines.join('\n'));
    return lines.slice(2).map((line) => line.split(/\s+/));
  }

  async function waitForStatus(what: string, done: (rows: string[][]) => boolean): Promise<void> {
    const deadline = Date.now() + settleTimeoutMs;
    for (;;) {
      const rows = await statusRows();
      if (done(rows)) return;
      assert.ok(Date.now() < deadline, `${what} not seen in dfs status within ${settleTimeoutMs} ms; last rows: ${JSON.stringify(rows)}`);
      await sleep(500);
    }
  }

  /**
   * Starts the node `cluster add` was told of, with the --id, --host, ports, --join and
   * --learner of the command line it printed (our test settings besides: data dir, secret, ticks).
   */
  function startAsPrinted(startCommand: string): StorageNodeHandle {
    const words = startCommand.split(/\s+/);
    const flag = (name: string) => {
      const at = words.indexOf(name);
      assert.ok(at >= 0 && at + 1 < words.length, `${name} missing from: ${startCommand}`);
      return words[at + 1];
    };
    assert.match(startCommand, /^npm run node -- /);
    const id = flag('--id');
    const handle: StorageNodeHandle = {
      id,
      url: `http://${flag('--host')}:${flag('--client-port')}`,
      clusterPort: Number(flag('--cluster-port')),
      dataDir: join(cluster.storage.dir, `${id}-${Date.now().toString(36)}`),
      child: null,
      joinVia: flag('--join'),
      flags: words.includes('--learner') ? ['--learner'] : [],
    };
    const index = cluster.storage.nodes.findIndex((n) => n.id === id);
    if (index >= 0) cluster.storage.nodes[index] = handle;
    else cluster.storage.nodes.push(handle);
    cluster.storage.startNode(id);
    // after() stops it with the others; this covers a test process that ends without after().
    const child = handle.child;
    process.once('exit', () => {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    });
    return handle;
  }

  async function waitForExit(handle: StorageNodeHandle): Promise<number | null | undefined> {
    const deadline = Date.now() + settleTimeoutMs;
    while (handle.child !== null) {
      assert.ok(Date.now() < deadline, `${handle.id} still runs ${settleTimeoutMs} ms after its removal`);
      await sleep(100);
    }
    return handle.exitCode;
  }

  before(async () => {
    cluster = await GatewayCluster.start({ storage: { flags: ['--admin-token', adminToken] } });
  });

  after(async () => {
    await cluster?.stopAll();
  });

  it('members lists the three founders as voters, the leader marked, through the gateway and from a node', async () => {
    const leader = await cluster.waitForLeader();
    const list = await members();
    assert.deepEqual(list.members.map((m) => [m.id, m.voter]), [['n1', true], ['n2', true], ['n3', true]]);
    assert.equal(list.leader_id, leader);
    assert.equal(list.change_pending, false);
    for (const m of list.members) assert.equal(m.client_url, cluster.storage.node(m.id).url);

    const table = (await ok(['members'])).trim().split('\n');
    assert.match(table[0], new RegExp(`^3 members \\(3 voters, 0 learners\\), leader ${leader}, membership index \\d+$`), table.join('\n'));
    assert.match(table[1], /^id\s+role\s+leader\s+client URL\s+cluster URL\s+zone\s+placement$/);
    assert.deepEqual(table.slice(2).map((row) => row.split(/\s+/).slice(0, 2)), [['n1', 'voter'], ['n2', 'voter'], ['n3', 'voter']]);
    assert.equal(table.slice(2).filter((row) => /\syes\s/.test(row)).length, 1, table.join('\n'));

    const fromNode = await dfs(['members', '--json', '--endpoint', cluster.storage.nodes[2].url]);
    assert.equal(fromNode.code, 0, fromNode.stderr);
    assert.deepEqual((JSON.parse(fromNode.stdout) as MembersJson).members.map((m) => m.id), ['n1', 'n2', 'n3']);
  });

  it('grows to four with cluster add and the printed command, then shrinks with cluster remove: the removed node exits 0', async () => {
    const [clientPort, clusterPort] = await freePorts(2);
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const clusterUrl = `http://127.0.0.1:${clusterPort}`;
    const added = await dfs(['cluster', 'add', 'n4', clientUrl, clusterUrl, '--json']);
    assert.equal(added.code, 0, added.stderr);
    const answer = JSON.parse(added.stdout) as { id: string; voter: boolean; joined_at: number; members: MembersJson['members']; start_command: string };
    assert.equal(answer.id, 'n4');
    assert.equal(answer.voter, false);
    assert.ok(answer.joined_at > 0);
    assert.deepEqual(answer.members.find((m) => m.id === 'n4'), { id: 'n4', client_url: clientUrl, cluster_url: clusterUrl, voter: false });
    assert.match(answer.start_command, new RegExp(`^npm run node -- --id n4 --host 127\\.0\\.0\\.1 --client-port ${clientPort} --cluster-port ${clusterPort} --join http://127\\.0\\.0\\.1:\\d+ --cluster-secret "\\$DFS_CLUSTER_SECRET"$`));
    const joinVia = /--join (\S+)/.exec(answer.start_command)![1];
    assert.ok(cluster.storage.nodes.slice(0, 3).some((n) => n.url === joinVia), `--join ${joinVia} is a founder's client URL`);

    // Before the node runs it is a learner in the list. The same add again is answered as done
    // (a joining node asks so); n4 at another address is refused.
    assert.deepEqual((await members()).members.find((m) => m.id === 'n4')?.voter, false);
    const [again, elsewhere] = await Promise.all([
      dfs(['cluster', 'add', 'n4', clientUrl, clusterUrl]),
      dfs(['cluster', 'add', 'n4', clientUrl, `http://127.0.0.1:${clusterPort === 65535 ? 1 : clusterPort + 1}`]),
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^n4 added as a learner at /);
    assert.equal(elsewhere.code, 1, elsewhere.stderr);
    assert.match(elsewhere.stderr, /^dfs: cluster add n4: 409 already_member: n4 is already a learner at another address/);

    const n4 = startAsPrinted(answer.start_command);
    const grown = await waitForMembers('n4 promoted to voter', (list) => list.members.some((m) => m.id === 'n4' && m.voter));
    assert.deepEqual(grown.members.map((m) => m.id), ['n1', 'n2', 'n3', 'n4']);
    const table = await ok(['members']);
    assert.match(table, /^4 members \(4 voters, 0 learners\)/, table);
    assert.match(table, new RegExp(`\\nn4\\s+voter\\s+(yes\\s+)?${clientUrl.replace(/\./g, '\\.')}\\s+${clusterUrl.replace(/\./g, '\\.')}\\n?`), table);
    // The gateway learns n4 from the leader's /status; dfs status shows it as a voter.
    await waitForStatus('n4 as a healthy voter', (rows) => rows.some((r) => r[0] === 'n4' && r[2] === 'voter' && r[r.length - 1] === 'healthy'));

    const removed = await dfs(['cluster', 'remove', 'n4']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /^n4 removed; it stops and exits \(members left: n1, n2, n3\)/);
    assert.equal(await waitForExit(n4), 0, 'a removed node exits with code 0');
    assert.deepEqual((await members()).members.map((m) => m.id), ['n1', 'n2', 'n3']);
    // Right after the removal, and once the gateway polled again: never a failure, then no n4.
    await waitForStatus('the three founders alone', (rows) => rows.map((r) => r[0]).join(',') === 'n1,n2,n3');
  });

  it('a node added with --learner stays a learner (members and status say so) until cluster promote', async () => {
    const [clientPort, clusterPort] = await freePorts(2);
    const added = await dfs(['--json', 'cluster', 'add', 'n5', `http://127.0.0.1:${clientPort}`, `http://127.0.0.1:${clusterPort}`, '--learner']);
    assert.equal(added.code, 0, added.stderr);
    const startCommand = (JSON.parse(added.stdout) as { start_command: string }).start_command;
    assert.match(startCommand, / --learner /);
    const n5 = startAsPrinted(startCommand);
    await waitForStatus('n5 as a healthy learner', (rows) => rows.some((r) => r[0] === 'n5' && r[2] === 'learner' && r[r.length - 1] === 'healthy'));
    const learners = await ok(['members']);
    assert.match(learners, /^4 members \(3 voters, 1 learner\)/, learners);
    assert.match(learners, /\nn5\s+learner\s/, learners);

    const promoted = await dfs(['cluster', 'promote', 'n5']);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /^n5 is a voter now \(voters: n1, n2, n3, n5\)/);
    assert.equal((await members()).members.find((m) => m.id === 'n5')?.voter, true);
    const twice = await dfs(['cluster', 'promote', 'n5']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /^dfs: cluster promote n5: 409 not_learner: /);

    const removed = await dfs(['cluster', 'remove', 'n5', '--json']);
    assert.equal(removed.code, 0, removed.stderr);
    const answer = JSON.parse(removed.stdout) as { id: string; removed: boolean; members: MembersJson['members'] };
    assert.deepEqual([answer.id, answer.removed, answer.members.map((m) => m.id)], ['n5', true, ['n1', 'n2', 'n3']]);
    assert.equal(await waitForExit(n5), 0);
  });

  it('refusals are exit 1 with the server\'s code; a wrong token exit 1, no token or bad arguments exit 2', async () => {
    const env = { DFS_ENDPOINT: cluster.url, DFS_ADMIN_TOKEN: adminToken };
    const [notMember, removeUnknown, badId, wrongToken, noToken, noTokenMembers, sameHostPorts, twoHosts, withPath] = await Promise.all([
      dfs(['cluster', 'promote', 'n9']),
      dfs(['cluster', 'remove', 'n9']),
      dfs(['cluster', 'add', 'n!4', 'http://127.0.0.1:1', 'http://127.0.0.1:2']),
      dfs(['members'], { ...env, DFS_ADMIN_TOKEN: 'not-the-token' }),
      dfs(['cluster', 'promote', 'n1'], { ...env, DFS_ADMIN_TOKEN: '' }),
      dfs(['members'], { ...env, DFS_ADMIN_TOKEN: '' }),
      dfs(['cluster', 'add', 'n6', 'http://127.0.0.1:8086', 'http://127.0.0.1:8086']),
      dfs(['cluster', 'add', 'n6', 'http://127.0.0.1:8086', 'http://127.0.0.2:3036']),
      dfs(['cluster', 'add', 'n6', 'http://127.0.0.1:8086/x', 'http://127.0.0.1:3036']),
    ]);
    assert.equal(notMember.code, 1, notMember.stderr);
    assert.match(notMember.stderr, /^dfs: cluster promote n9: 404 not_member: .*n9/);
    assert.equal(removeUnknown.code, 1, removeUnknown.stderr);
    assert.match(removeUnknown.stderr, /^dfs: cluster remove n9: 404 not_member: /);
    assert.equal(badId.code, 1, badId.stderr);
    assert.match(badId.stderr, /400 invalid_id: /);
    assert.equal(wrongToken.code, 1, wrongToken.stderr);
    assert.match(wrongToken.stderr, /^dfs: members: 401 unauthorized: admin routes need the cluster secret .* or the admin token/);
    for (const missing of [noToken, noTokenMembers]) {
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /needs the admin token: --admin-token <token> or env DFS_ADMIN_TOKEN/);
    }
    for (const [usage, reason] of [[sameHostPorts, /different ports/], [twoHosts, /must share scheme and host/], [withPath, /only scheme, host and port/]] as const) {
      assert.equal(usage.code, 2, usage.stderr);
      assert.match(usage.stderr, reason);
    }
    // None of them changed the membership.
    assert.deepEqual((await members()).members.map((m) => [m.id, m.voter]), [['n1', true], ['n2', true], ['n3', true]]);
  });

  it('removing the gateway\'s seed node (n1): it exits 0, and status and members leave it out', async () => {
    // The gateway (seeded with n1's URL alone) keeps polling it after the removal: dfs status must not list it.
    const n1 = cluster.storage.node('n1');
    const removed = await dfs(['cluster', 'remove', 'n1']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /^n1 removed; it stops and exits \(members left: n2, n3\)/);
    assert.equal(await waitForExit(n1), 0);
    await waitForStatus('n2 and n3 alone, one of them leading', (rows) =>
      rows.map((r) => r[0]).join(',') === 'n2,n3' && rows.filter((r) => r[3] === 'yes').length === 1 && rows.every((r) => r[r.length - 1] === 'healthy'));
    const list = await members();
    assert.deepEqual(list.members.map((m) => [m.id, m.voter]), [['n2', true], ['n3', true]]);
    assert.ok(list.leader_id === 'n2' || list.leader_id === 'n3', `leader ${list.leader_id}`);
  });
});
