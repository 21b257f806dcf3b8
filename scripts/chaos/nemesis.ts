// Runs the fault schedule against the cluster: each episode at its time, targets chosen from the
// episode's seed (and the leader of the moment), the heal after its hold. Every fault is
// recorded with what it hit and when, for the report and for explaining what the checks find.
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prng } from '../../test/sim/prng.ts';
import type { Violation } from './analysis.ts';
import type { ChaosCluster } from './cluster.ts';
import { lastIntactCopies, runHolders } from './last-copies.ts';
import type { HoldersOf } from './last-copies.ts';
import { cutLink, healAllLinks, healLink, throttle, unthrottle } from './netns.ts';
import type { Recorder } from './recorder.ts';
import { awaitRemovedExit, awaitVoter, describeMembers, removeMember } from './replace-member.ts';
import { chunkFaultKinds, instantFaults, pickMinority, pickPartition } from './schedule.ts';
import type { Episode, FaultKind } from './schedule.ts';

export interface FaultRecord {
  readonly index: number;
  readonly kind: FaultKind;
  /** Node ids (or `gateway`) it hit. */
  targets: string[];
  detail: string;
  startMs: number;
  endMs: number | null;
}

/** A chunk file this run damaged on purpose, so the checks can tell it from one the system lost. */
export interface ChunkFault {
  readonly node: string;
  readonly hash: string;
  readonly kind: 'corrupt' | 'delete';
}

export interface NemesisOptions {
  readonly nodes: number;
  /** Copies of each chunk: a chunk lives on its holders only (see last-copies.ts). */
  readonly replication: number;
  /** Links can be cut (netns); otherwise a partition pauses its minority side. */
  readonly netnsPrefix: string | null;
}

/** The chunk files stored on a node: blobs/ab/cd/<sha256>. */
export function listChunkFiles(dataDir: string): Array<{ hash: string; path: string }> {
  const root = join(dataDir, 'blobs');
  const out: Array<{ hash: string; path: string }> = [];
  const dirs = (path: string) => {
    try {
      return readdirSync(path).filter((name) => /^[0-9a-f]{2}$/.test(name)).sort();
    } catch {
      return [];
    }
  };
  for (const a of dirs(root)) {
    for (const b of dirs(join(root, a))) {
      let names: string[] = [];
      try {
        names = readdirSync(join(root, a, b)).filter((name) => /^[0-9a-f]{64}$/.test(name)).sort();
      } catch {
        // removed under us
      }
      for (const hash of names) out.push({ hash, path: join(root, a, b, hash) });
    }
  }
  return out;
}

/** How long replace-member waits for every node to answer, and every member to be a voter. */
const wholeClusterWaitMs = 20_000;

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  readonly chunkFaults: ChunkFault[] = [];
  /** What a fault itself found broken (a removed node that did not exit, one never promoted). */
  readonly violations: Violation[] = [];
  /** How partitions were made: by cutting links or by pausing the minority side. */
  readonly partitionMethod: 'netns' | 'pause';
  readonly #cluster: ChaosCluster;
  readonly #options: NemesisOptions;
  readonly #recorder: Recorder;
  readonly #currentEtags: () => string[];
  readonly #neededChunks: () => Promise<ReadonlySet<string> | null>;
  #stopping = false;
  /** Nodes a fault is about to wipe: their chunk copies do not count as the ones that remain. */
  readonly #leaving = new Set<number>();
  readonly #wakers = new Set<() => void>();
  readonly #holders: HoldersOf;

  constructor(
    cluster: ChaosCluster, options: NemesisOptions, recorder: Recorder, currentEtags: () => string[],
    neededChunks: () => Promise<ReadonlySet<string> | null> = async () => null,
  ) {
    this.#neededChunks = neededChunks;
    this.#cluster = cluster;
    this.#options = options;
    this.#recorder = recorder;
    this.#currentEtags = currentEtags;
    this.partitionMethod = options.netnsPrefix === null ? 'pause' : 'netns';
    this.#holders = runHolders(cluster.nodes, options.replication);
  }

  /**
   * Runs the episodes until they end or stop() is called; heals the last one. Chunk faults run
   * on their own timeline, concurrently with the others (which run one at a time).
   */
  async run(episodes: readonly Episode[]): Promise<void> {
    await Promise.all([
      this.#runInOrder(episodes.filter((e) => !chunkFaultKinds.has(e.kind))),
      this.#runInOrder(episodes.filter((e) => chunkFaultKinds.has(e.kind))),
    ]);
  }

  async #runInOrder(episodes: readonly Episode[]): Promise<void> {
    for (const episode of episodes) {
      if (!(await this.#sleepUntil(episode.atMs))) break;
      const record: FaultRecord = { index: episode.index, kind: episode.kind, targets: [], detail: '', startMs: this.#recorder.now(), endMs: null };
      this.faults.push(record);
      let heal: (() => Promise<void>) | null = null;
      try {
        heal = await this.#inject(episode, record);
      } catch (err) {
        record.detail += ` (injection failed: ${(err as Error).message})`;
      }
      // The hold counts from the injection (a slow one, a graceful stop say, delays the start).
      if (heal !== null && !instantFaults.has(episode.kind)) await this.#sleepUntil(record.startMs + episode.holdMs);
      if (heal !== null) await heal().catch((err: Error) => { record.detail += ` (heal failed: ${err.message})`; });
      record.endMs = this.#recorder.now();
    }
  }

  /** Ends the schedule now; run() heals the episode in progress and returns. */
  stop(): void {
    this.#stopping = true;
    for (const wake of this.#wakers) wake();
  }

  /** Heals everything, whatever happened: nodes resumed and restarted, links restored, gateway up. */
  async healAll(): Promise<void> {
    if (this.#options.netnsPrefix !== null) {
      await healAllLinks(this.#options.netnsPrefix, this.#options.nodes);
      for (let i = 0; i < this.#options.nodes; i++) await unthrottle(this.#options.netnsPrefix, i);
    }
    for (const node of this.#cluster.nodes) {
      if (node.paused) await this.#cluster.signal(node.index, 'SIGCONT');
      if (node.child === null) this.#cluster.startNode(node.index);
    }
    if (this.#cluster.gateway === null) this.#cluster.startGateway();
  }

  async #sleepUntil(atMs: number): Promise<boolean> {
    while (!this.#stopping) {
      const left = atMs - this.#recorder.now();
      if (left <= 0) return true;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#wakers.add(wake);
      });
    }
    return false;
  }

  /**
   * Chunks still needed by a kept version (`needed`; null: every chunk on the victim counts)
   * whose only intact copy among their holders is on `victim`: wiping it would lose them
   * (last-copies.ts). Not only the chunks the nemesis damaged: a chunk has `replication` copies,
   * a fresh one maybe only a majority of them, and a holder wiped before may not have its copy
   * back yet. Synchronous: the caller awaits `needed` first, then checks and acts with no await
   * between.
   */
  #lastCopiesOn(victim: number, needed: ReadonlySet<string> | null): string[] {
    const candidates = needed ?? listChunkFiles(this.#cluster.nodes[victim].dataDir).map((f) => f.hash);
    return lastIntactCopies(this.#cluster.nodes, victim, candidates, this.#leaving, this.#holders);
  }

  async #leaderOrRandom(rng: Prng, record: FaultRecord): Promise<number> {
    const leader = await this.#cluster.leader();
    if (leader !== null) return leader;
    record.detail += 'no leader known, a random node instead; ';
    return rng.int(this.#options.nodes);
  }

  /**
   * Removes a node (the leader or a follower) through the membership route, sees it exit and
   * wipes it; the heal starts it with --join and waits until it is a voter again. Only from a
   * whole cluster: every node running, every member a voter, so that the rest keep a majority
   * of the original voters while it is out.
   */
  async #replaceMember(rng: Prng, record: FaultRecord, holdMs: number): Promise<(() => Promise<void>) | null> {
    const cluster = this.#cluster;
    const n = this.#options.nodes;
    // A node restarted by the fault before may still be starting or catching up: wait a while.
    const waitStarted = performance.now();
    let whole = '';
    let leader: number | null = null;
    for (;;) {
      const statuses = await cluster.statuses(3_000);
      const up = statuses.filter((s) => s !== null).length;
      leader = await cluster.leader();
      const leaderStatus = leader === null ? null : statuses[leader];
      const voters = leaderStatus?.nodes?.filter((m) => m.voter).length ?? 0;
      if (up === n && leaderStatus !== null && voters === n && leaderStatus.nodes.length === n) break;
      whole = `${up} of ${n} nodes answer, leader ${leaderStatus?.id ?? 'unknown'}, members ${leaderStatus === null ? '?' : describeMembers(leaderStatus)}`;
      if (this.#stopping || performance.now() - waitStarted > wholeClusterWaitMs) {
        record.detail += `skipped: needs the whole cluster (${whole})`;
        return null;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (whole !== '') record.detail += `waited ${Math.round(performance.now() - waitStarted)} ms for the whole cluster; `;
    const needed = await this.#neededChunks();
    const followers = [...Array(n).keys()].filter((i) => i !== leader);
    const victim = rng.chance(0.4) ? leader! : rng.pick(followers);
    const node = cluster.nodes[victim];
    record.targets = [node.id];
    const last = this.#lastCopiesOn(victim, needed);
    if (last.length > 0) {
      record.detail += `skipped: ${node.id} holds the last intact copy of chunk ${last[0].slice(0, 12)}… (the other holders' copies are damaged or not there yet)`;
      return null;
    }
    // From here its copies do not count: a chunk fault must leave an intact copy elsewhere.
    const others = rng.shuffle([...Array(n).keys()].filter((i) => i !== victim));
    this.#leaving.add(victim);
    try {
      return await this.#removeAndWipe(rng, record, holdMs, victim, leader!, others);
    } finally {
      this.#leaving.delete(victim);
    }
  }

  async #removeAndWipe(rng: Prng, record: FaultRecord, holdMs: number, victim: number, leader: number, others: number[]): Promise<() => Promise<void>> {
    const cluster = this.#cluster;
    const node = cluster.nodes[victim];
    // Usually a follower takes the request (it forwards to the leader); sometimes the victim itself.
    const order = rng.chance(0.2) ? [victim, ...others] : others;
    const exit = cluster.expectExit(victim);
    if (exit === null) throw new Error(`${node.id} is not running`);
    const removal = await removeMember(cluster, victim, order);
    record.detail += `removed ${node.id}${victim === leader ? ' (the leader)' : ''} via ${removal.via} in ${removal.ms} ms`;
    const exited = await awaitRemovedExit(cluster, victim, exit);
    if (exited.violation !== null) this.violations.push(exited.violation);
    record.detail += exited.outcome === null ? `, did not exit in time (killed)` : `, it exited (${exited.outcome.signal ?? `code ${exited.outcome.code}`}) ${exited.ms} ms later`;
    const joinVia = cluster.nodes[others[0]].url;
    await cluster.wipe(victim, joinVia);
    node.replaced++;
    const wipedAt = this.#recorder.now();
    record.detail += '; wiped its data dir';
    return async () => {
      // The hold is the time it stays out, counted from the wipe (removing it took a while).
      await this.#sleepUntil(wipedAt + holdMs);
      const outMs = Math.round(this.#recorder.now() - wipedAt);
      if (node.child === null) cluster.startNode(victim);
      const promoted = await awaitVoter(cluster, victim);
      if (promoted.violation !== null) this.violations.push(promoted.violation);
      record.detail += `; ${outMs} ms later started with --join ${cluster.nodes[others[0]].id}, `
        + (promoted.violation === null ? `a voter again ${promoted.ms} ms after that` : `NOT a voter after ${promoted.ms} ms`);
    };
  }

  /** Injects one fault; returns its heal (null for a fault that needs none). */
  async #inject(episode: Episode, record: FaultRecord): Promise<(() => Promise<void>) | null> {
    const rng = new Prng(episode.seed);
    const cluster = this.#cluster;
    const ids = (indices: readonly number[]) => indices.map((i) => cluster.nodes[i].id);
    const restart = (indices: readonly number[]) => async () => {
      for (const i of indices) if (cluster.nodes[i].child === null) cluster.startNode(i);
    };
    const resume = (indices: readonly number[]) => async () => {
      for (const i of indices) if (cluster.nodes[i].paused) await cluster.signal(i, 'SIGCONT');
    };
    switch (episode.kind) {
      case 'kill-leader':
      case 'kill-nodes': {
        const victims = episode.kind === 'kill-leader' ? [await this.#leaderOrRandom(rng, record)] : pickMinority(rng, this.#options.nodes);
        for (const i of victims) await cluster.signal(i, 'SIGKILL');
        record.targets = ids(victims);
        record.detail += `SIGKILL ${record.targets.join(', ')} for ${episode.holdMs} ms`;
        return restart(victims);
      }
      case 'pause-leader':
      case 'pause-nodes': {
        const victims = episode.kind === 'pause-leader' ? [await this.#leaderOrRandom(rng, record)] : pickMinority(rng, this.#options.nodes);
        for (const i of victims) await cluster.signal(i, 'SIGSTOP');
        record.targets = ids(victims);
        record.detail += `SIGSTOP ${record.targets.join(', ')} for ${episode.holdMs} ms`;
        return resume(victims);
      }
      case 'restart-node': {
        const leader = await cluster.leader();
        const victim = rng.chance(0.5) && leader !== null ? leader : rng.int(this.#options.nodes);
        const stopping = performance.now();
        await cluster.signal(victim, 'SIGTERM');
        const stopMs = Math.round(performance.now() - stopping);
        cluster.startNode(victim);
        record.targets = ids([victim]);
        record.detail += `SIGTERM ${record.targets[0]}${victim === leader ? ' (the leader: it hands leadership over)' : ''}, exited in ${stopMs} ms, started again`;
        return null;
      }
      case 'wipe-node': {
        let victim = rng.chance(0.3) ? await this.#leaderOrRandom(rng, record) : rng.int(this.#options.nodes);
        // A wiped node comes back as a founder (--peers), with no record of when it joined: one
        // that was replaced would replay the log from before, and may take the removal of its
        // earlier self, still in the leader's log, for its own (it then stops). Only a node
        // removed and joined again (replace-member) is a safe way to bring back a wiped member
        // once the membership changed, so the founders that never left are wiped instead.
        if (cluster.nodes[victim].replaced > 0) {
          const founders = cluster.nodes.filter((n) => n.replaced === 0).map((n) => n.index);
          if (founders.length === 0) {
            record.targets = ids([victim]);
            record.detail += `skipped: every node was replaced (joined with --join), none can be wiped and restarted as a founder`;
            return null;
          }
          record.detail += `${cluster.nodes[victim].id} was replaced, a founder instead; `;
          victim = rng.pick(founders);
        }
        const needed = await this.#neededChunks();
        const last = this.#lastCopiesOn(victim, needed);
        if (last.length > 0) {
          record.targets = ids([victim]);
          record.detail += `skipped: ${cluster.nodes[victim].id} holds the last intact copy of chunk ${last[0].slice(0, 12)}… (the other holders' copies are damaged or not there yet)`;
          return null;
        }
        this.#leaving.add(victim);
        await cluster.wipe(victim).finally(() => this.#leaving.delete(victim));
        record.targets = ids([victim]);
        record.detail += `SIGKILL ${record.targets[0]}, delete its data dir, start it empty after ${episode.holdMs} ms`;
        return restart([victim]);
      }
      case 'partition': {
        const leader = await cluster.leader();
        const partition = pickPartition(rng, this.#options.nodes, leader);
        record.targets = ids(partition.minority);
        const prefix = this.#options.netnsPrefix;
        if (prefix === null) {
          for (const i of partition.minority) await cluster.signal(i, 'SIGSTOP');
          record.detail += `${partition.shape}: ${record.targets.join(', ')} cut off for ${episode.holdMs} ms, by pausing them (no network namespaces)`;
          return resume(partition.minority);
        }
        for (const [a, b] of partition.cuts) await cutLink(prefix, a, b);
        const cuts = partition.cuts.map(([a, b]) => `${cluster.nodes[a].id}|${cluster.nodes[b].id}`).join(' ');
        record.detail += `${partition.shape}: links cut ${cuts} for ${episode.holdMs} ms`;
        return async () => {
          for (const [a, b] of partition.cuts) await healLink(prefix, a, b);
        };
      }
      case 'slow-link': {
        const prefix = this.#options.netnsPrefix;
        const victim = rng.chance(0.5) ? await this.#leaderOrRandom(rng, record) : rng.int(this.#options.nodes);
        record.targets = ids([victim]);
        if (prefix === null) {
          record.detail += 'skipped: needs network namespaces';
          return null;
        }
        const rateKbit = rng.pick([32, 128, 512]);
        await throttle(prefix, victim, rateKbit);
        record.detail += `${record.targets[0]} sends at ${rateKbit} kbit/s for ${episode.holdMs} ms (tc htb)`;
        return () => unthrottle(prefix, victim);
      }
      case 'corrupt-chunk':
      case 'delete-chunk': {
        const victim = rng.int(this.#options.nodes);
        const node = cluster.nodes[victim];
        const needed = await this.#neededChunks();
        const files = listChunkFiles(node.dataDir);
        record.targets = [node.id];
        if (files.length === 0) {
          record.detail += `no chunk stored on ${node.id} yet`;
          return null;
        }
        // Half the time a chunk of a value being read now, so that a read meets it soon.
        const current = new Set(this.#currentEtags());
        const hot = files.filter((f) => current.has(f.hash));
        let file = hot.length > 0 && rng.chance(0.5) ? rng.pick(hot) : rng.pick(files);
        // Never the last intact copy (the others damaged before, or on a node being wiped).
        const isLast = (f: { hash: string }) => (needed === null || needed.has(f.hash)) && lastIntactCopies(cluster.nodes, victim, [f.hash], this.#leaving, this.#holders).length > 0;
        if (isLast(file)) {
          const instead = rng.shuffle(files).find((f) => !isLast(f));
          if (instead === undefined) {
            record.detail += `skipped: every chunk on ${node.id} is the last intact copy`;
            return null;
          }
          record.detail += `${file.hash.slice(0, 12)}… is the last intact copy, another chunk instead; `;
          file = instead;
        }
        if (episode.kind === 'delete-chunk') {
          unlinkSync(file.path);
          record.detail += `deleted chunk ${file.hash.slice(0, 12)}… on ${node.id}`;
        } else {
          const data = readFileSync(file.path);
          const at = rng.int(Math.max(1, data.length));
          if (data.length === 0) writeFileSync(file.path, Buffer.from([0x42]));
          else {
            data[at] ^= 0xff;
            writeFileSync(file.path, data);
          }
          record.detail += `flipped byte ${at} of chunk ${file.hash.slice(0, 12)}… on ${node.id}`;
        }
        this.chunkFaults.push({ node: node.id, hash: file.hash, kind: episode.kind === 'delete-chunk' ? 'delete' : 'corrupt' });
        return null;
      }
      case 'replace-member':
        return this.#replaceMember(rng, record, episode.holdMs);
      case 'kill-gateway': {
        await cluster.killGateway();
        record.targets = ['gateway'];
        record.detail += `SIGKILL the gateway for ${episode.holdMs} ms`;
        return async () => {
          if (cluster.gateway === null) cluster.startGateway();
        };
      }
    }
  }
}
