// A 3-member etcd cluster for the benchmark's side-by-side figures: the `etcd` binary on PATH
// (Debian: `apt-get install etcd-server`), its settings as shipped, free ports on 127.0.0.1, data
// under the given directory (the bench's scratch folder, on the repository's disk). Every member
// is tracked by PID and stopped on stop() (and on our own exit); stop() removes the data.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { freePorts } from '../../test/support/cluster.ts';
import { sleep } from './common.ts';

const memberCount = 3;
/** How the members run, for bench/results.json. */
export const etcdSettingsText = 'as shipped (heartbeat 100 ms, election 1000 ms, snapshot every 100,000 entries), 3 members on 127.0.0.1, data under bench/scratch/';
/** How long a member may take from spawn to a cluster with a leader everyone follows. */
const startTimeoutMs = 30_000;
/** SIGTERM, then SIGKILL after this long. */
const stopGraceMs = 5_000;
const statusTimeoutMs = 1_000;
/** The tail of a member's output kept for error messages. */
const logTailBytes = 8_192;

/** The etcd binary found on PATH, or null. */
export function findEtcd(): { binary: string; version: string } | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const binary = path.join(dir, 'etcd');
    try {
      fs.accessSync(binary, fs.constants.X_OK);
    } catch {
      continue;
    }
    // A binary that cannot tell its version is still tried: starting the cluster says what is wrong.
    let version: string;
    try {
      const out = execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      version = /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? out.trim().split('\n')[0];
    } catch (err) {
      version = `unknown (etcd --version failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    }
    return { binary, version };
  }
  return null;
}

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  child: ChildProcess | null;
  exited: Promise<void>;
  log: string;
}

export interface MemberStatus {
  readonly index: number;
  readonly memberId: string;
  readonly leaderId: string;
  readonly raftIndex: number;
  readonly raftAppliedIndex: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) if (child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export class EtcdCluster {
  readonly members: Member[];
  /** The JSON gateway's path prefix this etcd serves: `/v3` (3.4 and later) or `/v3beta` (3.3). */
  apiPrefix = '/v3';
  readonly #binary: string;
  readonly #root: string;

  private constructor(binary: string, root: string, ports: number[]) {
    this.#binary = binary;
    this.#root = root;
    this.members = Array.from({ length: memberCount }, (_, i) => ({
      name: `etcd${i + 1}`,
      clientUrl: `http://127.0.0.1:${ports[i]}`,
      peerUrl: `http://127.0.0.1:${ports[memberCount + i]}`,
      dataDir: path.join(root, `etcd${i + 1}`),
      child: null,
      exited: Promise.resolve(),
      log: '',
    }));
  }

  /** Starts three members under `root` (created; removed by stop()) and waits for a leader. */
  static async start(binary: string, root: string): Promise<EtcdCluster> {
    fs.mkdirSync(root, { recursive: true });
    const cluster = new EtcdCluster(binary, root, await freePorts(memberCount * 2));
    try {
      for (let i = 0; i < memberCount; i++) cluster.#spawn(i);
      await cluster.waitForLeader(startTimeoutMs);
      cluster.apiPrefix = await cluster.#probeApiPrefix();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** The member's status through the JSON gateway, or null when it does not answer. */
  async status(index: number, prefix = this.apiPrefix): Promise<MemberStatus | null> {
    try {
      const res = await request(`${this.members[index].clientUrl}${prefix}/maintenance/status`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
        headersTimeout: statusTimeoutMs,
        bodyTimeout: statusTimeoutMs,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return null;
      }
      // The gateway writes uint64 fields as strings.
      const body = (await res.body.json()) as { header: { member_id: string }; leader?: string; raftIndex?: string; raftAppliedIndex?: string };
      return {
        index,
        memberId: body.header.member_id,
        leaderId: body.leader ?? '0',
        raftIndex: Number(body.raftIndex ?? 0),
        raftAppliedIndex: Number(body.raftAppliedIndex ?? 0),
      };
    } catch {
      return null;
    }
  }

  /** The index of the leader, once every running member answers and follows it. */
  async waitForLeader(timeoutMs = 10_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let seen: Array<MemberStatus | null> = [];
    for (;;) {
      const running = this.members.map((m, i) => (m.child !== null ? i : -1)).filter((i) => i >= 0);
      // Before the prefix is known, ask on /v3beta too (etcd 3.3 serves only that one).
      seen = await Promise.all(running.map(async (i) => (await this.status(i)) ?? (await this.status(i, '/v3beta'))));
      const answered = seen.filter((s): s is MemberStatus => s !== null);
      const leaderId = answered[0]?.leaderId;
      const leader = answered.find((s) => s.memberId === leaderId);
      if (answered.length === running.length && leader !== undefined && answered.every((s) => s.leaderId === leaderId)) return leader.index;
      if (performance.now() > deadline) {
        const logs = this.members.map((m) => `${m.name}: ${m.log.slice(-600)}`).join('\n');
        throw new Error(`etcd: no leader all members follow within ${timeoutMs} ms: ${JSON.stringify(seen)}\n${logs}`);
      }
      await sleep(50);
    }
  }

  /** Sends `signal` to member `index` by its PID and waits until the process is gone. */
  async kill(index: number, signal: NodeJS.Signals): Promise<void> {
    const member = this.members[index];
    const pid = member.child?.pid;
    if (pid === undefined) throw new Error(`etcd: ${member.name} is not running`);
    process.kill(pid, signal);
    await member.exited;
  }

  /** Starts a stopped member again on its ports and data (it rejoins from its WAL). */
  restart(index: number): void {
    if (this.members[index].child !== null) throw new Error(`etcd: ${this.members[index].name} is still running`);
    this.#spawn(index);
  }

  /** Stops every member by PID (SIGTERM, SIGKILL after 5 s) and removes the data. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (member) => {
      const pid = member.child?.pid;
      if (pid === undefined) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch { /* gone */ }
      }, stopGraceMs);
      await member.exited;
      clearTimeout(timer);
    }));
    fs.rmSync(this.#root, { recursive: true, force: true });
  }

  #spawn(index: number): void {
    const member = this.members[index];
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    // Settings as shipped (heartbeat 100 ms, election 1000 ms, snapshot every 100,000 entries);
    // only names, addresses and the data directory are given. On a restart the member finds its
    // data directory and ignores the initial-cluster flags.
    const args = [
      '--name', member.name,
      '--data-dir', member.dataDir,
      '--listen-client-urls', member.clientUrl,
      '--advertise-client-urls', member.clientUrl,
      '--listen-peer-urls', member.peerUrl,
      '--initial-advertise-peer-urls', member.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', `raft-dfs-bench-${path.basename(this.#root)}`,
      '--initial-cluster-state', 'new',
    ];
    const child = spawn(this.#binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    member.child = child;
    member.log = '';
    const keepTail = (text: string) => {
      member.log = (member.log + text).slice(-logTailBytes);
    };
    child.stdout!.setEncoding('utf8').on('data', keepTail);
    child.stderr!.setEncoding('utf8').on('data', keepTail);
    member.exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (member.child === child) member.child = null;
        resolve();
      });
    });
    // A spawn that fails may never emit 'exit'.
    child.once('error', (err) => {
      keepTail(`spawn failed: ${err.message}\n`);
      if (child.pid === undefined) child.emit('exit', null, null);
    });
  }

  async #probeApiPrefix(): Promise<string> {
    for (const prefix of ['/v3', '/v3beta']) if ((await this.status(0, prefix)) !== null) return prefix;
    throw new Error('etcd: the JSON gateway answers neither /v3/maintenance/status nor /v3beta/maintenance/status');
  }
}
