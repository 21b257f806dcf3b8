// What the gateway knows of the cluster, all of it learned by polling `GET /status`: the members
// (from the leader's answer, so nodes the gateway was not told about are found too; while no
// leader is known, from any node's answer), the leader (the reachable node that says it leads,
// highest term first), and each node's health (it answers within the status timeout and its
// applied index is not far behind the leader's). Requests that fail tell the view at once, and
// while no leader is known every node is polled fast.
import type { GatewayConfig } from './config.ts';
import { parseNodeStatus } from './node-status.ts';
import type { NodeStatus } from './node-status.ts';
import type { Upstreams } from './upstream.ts';

export interface LeaderInfo {
  readonly id: string;
  readonly url: string;
  readonly term: number;
}

export interface MemberSnapshot {
  readonly id: string | null;
  readonly url: string;
  readonly seed: boolean;
  readonly listed: boolean;
  readonly role: string | null;
  readonly is_leader: boolean;
  readonly reachable: boolean;
  readonly healthy: boolean;
  readonly term: number | null;
  readonly commit_index: number | null;
  readonly applied_index: number | null;
  readonly lag: number | null;
  readonly outstanding: number;
  readonly last_seen_ms_ago: number | null;
  readonly error: string | null;
}

export interface ViewSnapshot {
  readonly leader: LeaderInfo | null;
  /** The leader's last /status answer, for the gateway's own node-shaped /status. */
  readonly leaderStatus: NodeStatus | null;
  readonly leader_changes: number;
  readonly members: readonly MemberSnapshot[];
}

type ViewSettings = Pick<GatewayConfig, 'nodes' | 'pollIntervalMs' | 'failoverPollIntervalMs' | 'statusTimeoutMs' | 'lagEntriesMax'>;

interface Target {
  readonly url: string;
  readonly seed: boolean;
  /** In the current leader's member list. */
  listed: boolean;
  id: string | null;
  status: NodeStatus | null;
  /** performance.now() of the last good /status answer. */
  statusAtMs: number;
  reachable: boolean;
  lastError: string | null;
  /** performance.now() of the last failure a request reported: older polls do not clear it. */
  failedAtMs: number;
  polling: boolean;
  timer: NodeJS.Timeout | null;
  removed: boolean;
}

export class ClusterView {
  readonly #settings: ViewSettings;
  readonly #upstreams: Upstreams;
  readonly #targets = new Map<string, Target>();
  readonly #listeners = new Set<() => void>();
  #leader: Target | null = null;
  #lastLeaderId: string | null = null;
  #leaderChanges = 0;
  #roundRobin = 0;
  #stopped = false;
  #lastPollAllMs = -Infinity;

  constructor(settings: ViewSettings, upstreams: Upstreams) {
    this.#settings = settings;
    this.#upstreams = upstreams;
  }

  start(): void {
    for (const url of this.#settings.nodes) this.#add(url, true);
  }

  stop(): void {
    this.#stopped = true;
    for (const target of this.#targets.values()) if (target.timer !== null) clearTimeout(target.timer);
    for (const listener of [...this.#listeners]) listener();
  }

  leader(): LeaderInfo | null {
    const t = this.#leader;
    return t === null || t.id === null || t.status === null ? null : { id: t.id, url: t.url, term: t.status.term };
  }

  /** Leader changes seen since start (the first leader found is not a change). */
  leaderChanges(): number {
    return this.#leaderChanges;
  }

  isReachable(url: string): boolean {
    return this.#targets.get(url)?.reachable ?? false;
  }

  /** The node's id as last seen, or null. */
  idOf(url: string): string | null {
    return this.#targets.get(url)?.id ?? null;
  }

  /**
   * A request to `url` failed at the connection level (refused, reset, timed out): it is
   * unreachable until a poll that starts after now says otherwise. Everyone is polled now.
   */
  reportFailure(url: string, reason: string): void {
    const target = this.#targets.get(url);
    if (target === undefined) return;
    target.reachable = false;
    target.failedAtMs = performance.now();
    target.lastError = reason;
    this.#recompute();
    this.#pollAllNow();
  }

  /** `url` answered that it cannot take the request now (no leader, not leader): poll everyone. */
  reportRefusal(url: string): void {
    if (this.#targets.has(url)) this.#pollAllNow();
  }

  /**
   * A healthy replica for a read, least outstanding requests first (ties in turn), skipping the
   * nodes in `tried` (by URL). Null when there is none.
   */
  pickReplica(tried: ReadonlySet<string>): { id: string; url: string } | null {
    const candidates = this.#routable().filter((t) => !tried.has(t.url));
    if (candidates.length === 0) return null;
    const start = this.#roundRobin++ % candidates.length;
    let best: Target | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[(start + i) % candidates.length];
      const load = this.#upstreams.outstanding(t.url);
      if (load < bestLoad) {
        best = t;
        bestLoad = load;
      }
    }
    return best === null ? null : { id: best.id!, url: best.url };
  }

  /** Resolves at the next change of the view, at `deadlineMs` (performance.now()) or on abort. */
  changed(deadlineMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadlineMs - performance.now()));
      if (this.#stopped || signal?.aborted) return done();
      this.#listeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** The leader, waiting for one until `deadlineMs`; null if none came (or on abort). */
  async waitForLeader(deadlineMs: number, signal?: AbortSignal): Promise<LeaderInfo | null> {
    for (;;) {
      const leader = this.leader();
      if (leader !== null) return leader;
      if (performance.now() >= deadlineMs || signal?.aborted || this.#stopped) return null;
      await this.changed(deadlineMs, signal);
    }
  }

  /** Calls `listener` at every change of the view until the returned function is called. */
  subscribe(listener: () => void): () => void {
    const wrapped = () => listener();
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

  snapshot(): ViewSnapshot {
    const now = performance.now();
    const leaderApplied = this.#leader?.status?.applied_index ?? null;
    const routable = new Set(this.#routable());
    const members = [...this.#targets.values()].map((t): MemberSnapshot => ({
      id: t.id,
      url: t.url,
      seed: t.seed,
      listed: t.listed,
      role: t.status === null ? null : t.status.is_leader ? 'leader' : t.status.state,
      is_leader: this.#leader === t,
      reachable: t.reachable,
      healthy: routable.has(t),
      term: t.status?.term ?? null,
      commit_index: t.status?.commit_index ?? null,
      applied_index: t.status?.applied_index ?? null,
      lag: leaderApplied === null || t.status === null ? null : Math.max(0, leaderApplied - t.status.applied_index),
      outstanding: this.#upstreams.outstanding(t.url),
      last_seen_ms_ago: t.status === null ? null : Math.round(now - t.statusAtMs),
      error: t.lastError,
    }));
    members.sort((a, b) => (a.id ?? a.url).localeCompare(b.id ?? b.url));
    return { leader: this.leader(), leaderStatus: this.#leader?.status ?? null, leader_changes: this.#leaderChanges, members };
  }

  #add(url: string, seed: boolean): Target {
    const target: Target = {
      url, seed, listed: false, id: null, status: null, statusAtMs: 0, reachable: false,
      lastError: 'not polled yet', failedAtMs: -Infinity, polling: false, timer: null, removed: false,
    };
    this.#targets.set(url, target);
    void this.#poll(target);
    return target;
  }

  #remove(target: Target): void {
    target.removed = true;
    if (target.timer !== null) clearTimeout(target.timer);
    this.#targets.delete(target.url);
    void this.#upstreams.forget(target.url);
  }

  async #poll(target: Target): Promise<void> {
    if (target.polling || target.removed || this.#stopped) return;
    target.polling = true;
    if (target.timer !== null) clearTimeout(target.timer);
    target.timer = null;
    const startedAtMs = performance.now();
    try {
      const status = parseNodeStatus(await this.#upstreams.status(target.url, this.#settings.statusTimeoutMs));
      if (typeof status === 'string') throw new Error(`bad /status answer: ${status}`);
      target.status = status;
      target.id = status.id;
      target.statusAtMs = performance.now();
      if (startedAtMs >= target.failedAtMs) {
        target.reachable = true;
        target.lastError = null;
      }
    } catch (err) {
      target.reachable = false;
      target.lastError = (err as Error).message;
    } finally {
      target.polling = false;
    }
    if (target.removed || this.#stopped) return;
    this.#recompute();
    this.#schedule(target);
  }

  #schedule(target: Target): void {
    if (target.removed || this.#stopped || target.polling) return;
    if (target.timer !== null) clearTimeout(target.timer);
    const delay = this.#leader === null ? this.#settings.failoverPollIntervalMs : this.#settings.pollIntervalMs;
    target.timer = setTimeout(() => void this.#poll(target), delay);
    target.timer.unref();
  }

  #pollAllNow(): void {
    // Bounded: many failing requests at once cause one round of polls, not one each.
    const now = performance.now();
    if (now - this.#lastPollAllMs < this.#settings.failoverPollIntervalMs) return;
    this.#lastPollAllMs = now;
    for (const target of this.#targets.values()) void this.#poll(target);
  }

  #recompute(): void {
    let best: Target | null = null;
    for (const t of this.#targets.values()) {
      if (!t.reachable || t.status === null || !t.status.is_leader) continue;
      if (best === null || t.status.term > best.status!.term || (t.status.term === best.status!.term && t.listed && !best.listed)) best = t;
    }
    const hadLeader = this.#leader !== null;
    this.#leader = best;
    if (best !== null && best.id !== this.#lastLeaderId) {
      if (this.#lastLeaderId !== null) this.#leaderChanges++;
      this.#lastLeaderId = best.id;
    }
    if (best !== null) this.#learnMembers(best.status!);
    else {
      // No leader known: any node's member list (a seed may be a follower) shows where to look.
      for (const t of [...this.#targets.values()]) {
        if (!t.reachable || t.status === null) continue;
        for (const member of t.status.nodes) if (!this.#targets.has(member.client_url)) this.#add(member.client_url, false);
      }
      // The leader is gone: look for the next one fast instead of at the next regular poll.
      if (hadLeader) for (const target of this.#targets.values()) this.#schedule(target);
    }
    for (const listener of [...this.#listeners]) listener();
  }

  /** The leader's member list is the membership: new nodes are polled, departed ones dropped. */
  #learnMembers(leader: NodeStatus): void {
    const urls = new Set(leader.nodes.map((n) => n.client_url));
    for (const url of urls) {
      const target = this.#targets.get(url) ?? this.#add(url, false);
      target.listed = true;
    }
    for (const target of [...this.#targets.values()]) {
      if (urls.has(target.url)) continue;
      target.listed = false;
      if (!target.seed) this.#remove(target);
    }
  }

  /** Healthy nodes, one target per node id (a listed URL before a seed alias of the same node). */
  #routable(): Target[] {
    const now = performance.now();
    const staleAfterMs = this.#settings.pollIntervalMs + this.#settings.statusTimeoutMs + 1000;
    const leaderApplied = this.#leader?.status?.applied_index ?? null;
    const byId = new Map<string, Target>();
    for (const t of this.#targets.values()) {
      if (!t.reachable || t.status === null || t.id === null) continue;
      if (now - t.statusAtMs > staleAfterMs) continue;
      // Not in the leader's member list: a node removed from the cluster (a seed URL stays polled).
      if (this.#leader !== null && !t.listed) continue;
      if (leaderApplied !== null && leaderApplied - t.status.applied_index > this.#settings.lagEntriesMax) continue;
      const other = byId.get(t.id);
      if (other === undefined || (t.listed && !other.listed)) byId.set(t.id, t);
    }
    return [...byId.values()];
  }
}
