// The deterministic simulation (after TigerBeetle's VOPR and etcd's raft tests): 3 or 5 Raft
// cores in one process over a simulated network and clock, with clients, faults and checkers,
// all driven by ONE seed — a failing seed replays exactly, trace and all.
//
// A run: `ticks` ticks of faults, then a heal phase (no faults, every node up) in which a
// leader must be elected and a fresh proposal commit within a bound (liveness), then a short
// drain for outstanding client operations; then the client history is checked for
// linearizability. Safety checks run throughout (safety-checks.ts). An exception thrown by the
// core (a failed assertion) ends the run as a violation.
import { checkLinearizable } from '../checker/linearizability.ts';
import type { HistoryEvent } from '../checker/history.ts';
import type { UnsafeRules } from '../../storage-node/src/raft/config.ts';
import type { Entry, Membership, NodeId } from '../../storage-node/src/raft/types.ts';
import { decodeMembership } from '../../storage-node/src/raft/membership.ts';
import { Clients, type ClientOptions } from './clients.ts';
import { FaultSchedule, randomFaultSettings, type FaultContext, type FaultSettings } from './faults.ts';
import { formatEntry, formatMessage } from './format.ts';
import { LivenessProbe } from './liveness.ts';
import { MembershipNemesis, type MembershipStats } from './membership-nemesis.ts';
import { Network } from './network.ts';
import { Prng } from './prng.ts';
import { SafetyChecks, type NodeView } from './safety-checks.ts';
import { SimNode, type NodeHooks } from './sim-node.ts';

export type { UnsafeRules };

export interface SimulationOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Ticks of the fault phase; the heal phase and drain come after. */
  readonly ticks: number;
  /** Overrides of the fault profile (the rest is drawn from the seed). */
  readonly faults?: Partial<FaultSettings>;
  readonly unsafe?: UnsafeRules;
  readonly trace?: (line: string) => void;
  readonly clients?: Partial<ClientOptions>;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** AppendEntries batch limit in bytes (0: one entry with data per message); drawn from the seed by default. */
  readonly appendBatchBytesMax?: number;
  /** Stop at the first violation (used by the "checks can fail" tests). */
  readonly stopOnViolation?: boolean;
  /** Chance per tick that a leader's background log sync finishes (default 1/3). */
  readonly backgroundSyncChance?: number;
}

export interface SimulationStats {
  ticks: number;
  nodes: number;
  leaderTerms: number;
  messages: { sent: number; delivered: number; lost: number; cut: number; duplicated: number };
  partitions: number;
  crashes: number;
  restarts: number;
  transfers: number;
  membership: MembershipStats;
  snapshotsCaptured: number;
  snapshotsInstalled: number;
  appliedEntries: number;
  ops: { invoked: number; ok: number; fail: number; info: number };
  /** Ticks from the start of the heal phase until a fresh proposal committed; -1 if it never did. */
  healTicks: number;
  faults: FaultSettings;
}

export interface SimulationResult {
  violations: string[];
  stats: SimulationStats;
  history: HistoryEvent[];
}

/** Liveness bound: a commit within this many election timeouts of the heal phase starting. */
export const LIVENESS_ELECTION_TIMEOUTS = 50;

export function runSimulation(options: SimulationOptions): SimulationResult {
  const root = new Prng(options.seed);
  const electionTicks = options.electionTicks ?? 10;
  const heartbeatTicks = options.heartbeatTicks ?? 2;
  const ids: NodeId[] = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const faultSettings: FaultSettings = { ...randomFaultSettings(root.derive('fault-profile'), options.nodes), ...options.faults };
  const appendBatchBytesMax = options.appendBatchBytesMax ?? root.derive('batch').pick([0, 200, 1024 * 1024]);

  let now = 0;
  const userTrace = options.trace;
  const trace = userTrace ? (line: string) => userTrace(`t=${now} ${line}`) : null;

  const checks = new SafetyChecks(trace);
  const network = new Network(
    root.derive('network'),
    faultSettings,
    trace ? (m, reason) => trace(`drop(${reason}) ${formatMessage(m)}`) : undefined,
  );
  const clientOptions: ClientOptions = {
    count: 4,
    keys: ['a', 'b', 'c'],
    timeoutTicks: 6 * electionTicks,
    opRate: 0.1,
    readRatio: 0.4,
    casRatio: 0.25,
    ...options.clients,
  };
  const clients = new Clients(root.derive('clients'), ids, clientOptions, trace, (detail) => checks.report('harness', [], detail));
  const faults = new FaultSchedule(root.derive('faults'), faultSettings);
  const nemesis = new MembershipNemesis(
    root.derive('membership'),
    faultSettings.memberRate,
    options.nodes === 3 ? 2 : 3,
    (index, term) => checks.committedEntry(index)?.term === term,
  );
  const counters = { snapshotsCaptured: 0, snapshotsInstalled: 0 };

  const view = (node: SimNode): NodeView => {
    const s = node.core!.status();
    return {
      id: node.id,
      role: s.role,
      term: s.term,
      commit: s.commit,
      snapshot: s.snapshot,
      log: node.core!.log(),
      membership: s.membership,
      membershipIndex: s.membershipIndex,
      bootstrapMembership: { voters: node.storage.bootstrapVoters, learners: [] },
      joinedAt: node.storage.joinedAt,
    };
  };
  // The configurations known committed (applied somewhere, or in a restored snapshot), by index.
  const committedConfigs = new Map<number, Membership>();
  const committedConfigAt = (index: number): Membership => {
    let best = 0;
    for (const at of committedConfigs.keys()) if (at <= index && at > best) best = at;
    return committedConfigs.get(best) ?? { voters: ids, learners: [] };
  };
  /** Do the nodes holding `entry` durably form a majority of the voters of `membership`? */
  const durableOnMajority = (entry: Entry, membership: Membership): boolean => {
    const holders = membership.voters.filter((id) => nodes.get(id)?.storage.holds(entry) === true);
    return holders.length >= Math.floor(membership.voters.length / 2) + 1;
  };
  const hooks: NodeHooks = {
    observe(node) {
      const s = node.core!.status();
      if (s.term > checks.maxTerm) checks.maxTerm = s.term;
      if (s.role !== 'follower') checks.campaignerIsVoter(view(node));
      if (s.role === 'leader') checks.observe(view(node));
    },
    send(_from, message, snapshotData) {
      trace?.(`send ${formatMessage(message)}`);
      network.send(now, message, snapshotData);
    },
    applied(node, entry, result) {
      if (!checks.isCommitted(entry.index)) {
        // Committed by a majority of the voters of the configuration at its index, or of the
        // applier's latest one (a leader counts by its latest, possibly one change ahead).
        const atIndex = committedConfigAt(entry.index);
        const latest = node.core!.status().membership;
        if (!durableOnMajority(entry, atIndex) && !durableOnMajority(entry, latest)) {
          const holders = [...nodes.values()].filter((n) => n.storage.holds(entry));
          checks.report(
            'committed-durability',
            [node.id],
            `${formatEntry(entry)} applied by ${node.id} while durable only on [${holders.map((n) => n.id).join(',')}]; voters [${atIndex.voters.join(',')}] at its index, [${latest.voters.join(',')}] latest`,
          );
        }
      }
      if (entry.type === 'config' && !committedConfigs.has(entry.index)) committedConfigs.set(entry.index, decodeMembership(entry.data));
      checks.applied(node.id, entry);
      clients.onApplied(node, entry, result);
    },
    restored(node, meta, data) {
      counters.snapshotsInstalled++;
      if (!committedConfigs.has(meta.index)) committedConfigs.set(meta.index, meta.membership);
      checks.restored(node.id, meta, data);
      clients.onRestored(node, meta.index);
    },
    captured(node, meta, data) {
      counters.snapshotsCaptured++;
      checks.captured(node.id, meta, data);
    },
    readServed: (node, requestId, kv) => clients.onReadServed(node, requestId, kv),
    readFailed: (node, requestId) => clients.onReadFailed(node, requestId),
    crashed: (node) => clients.onCrashed(node),
    violation: (node, check, detail) => checks.report(check, [node.id], detail),
    trace,
  };

  const coreRng = root.derive('cores');
  const snapshotRng = root.derive('snapshot-every');
  const nodes = new Map<NodeId, SimNode>();
  for (const id of ids) {
    const options_ = { id, voters: ids, electionTicks, heartbeatTicks, appendBatchBytesMax, snapshotEvery: snapshotRng.range(20, 100), rng: coreRng, unsafe: options.unsafe, backgroundSyncChance: options.backgroundSyncChance ?? 1 / 3 };
    nodes.set(id, new SimNode(options_, hooks));
  }
  const leaders = (): SimNode[] =>
    ids
      .map((id) => nodes.get(id)!)
      .filter((n) => n.up && n.core!.status().role === 'leader')
      .sort((a, b) => b.core!.status().term - a.core!.status().term);
  const ctx: FaultContext = { network, nodes, ids, leaders, trace: (line) => trace?.(line) };
  const tickOrder = root.derive('tick-order');
  const liveness = new LivenessProbe(nodes, electionTicks, checks, trace);
  const healStart = options.ticks + 1;
  const livenessDeadline = healStart + LIVENESS_ELECTION_TIMEOUTS * electionTicks;

  /** One tick of the world; returns true when the run is over. */
  const simulateTick = (): boolean => {
    const healing = now >= healStart;
    if (now === healStart) faults.heal(now, ctx);
    if (!healing) faults.step(now, ctx);
    if (!healing) nemesis.step(ctx);
    faults.restartDue(now, ctx);

    for (const d of network.takeDue(now)) {
      const to = nodes.get(d.message.to);
      if (to === undefined || !to.up) {
        trace?.(`drop(down) ${formatMessage(d.message)}`);
        // As over TCP, the sender learns that nothing listens there.
        const from = nodes.get(d.message.from);
        if (to !== undefined && from?.up === true) from.reportPeerDown(d.message.to);
        continue;
      }
      trace?.(`recv ${formatMessage(d.message)}`);
      to.receive(d);
    }
    for (const id of tickOrder.shuffle(ids)) nodes.get(id)!.tick();
    clients.tick(now, nodes, !liveness.done);

    if (now % 5 === 0 || healing) {
      const views = ids.filter((id) => nodes.get(id)!.up).map((id) => view(nodes.get(id)!));
      checks.logMatching(views);
      for (const v of views) {
        checks.leaderCompleteness(v);
        checks.configFromLog(v);
      }
    }

    if (!healing) return false;
    liveness.step(now, leaders()[0]);
    if (!liveness.done && now >= livenessDeadline) {
      checks.report(
        'liveness',
        ids,
        `no fresh proposal committed within ${LIVENESS_ELECTION_TIMEOUTS} election timeouts (${now - healStart} ticks) of healing: ${liveness.describeNodes()}`,
      );
      return true;
    }
    return liveness.done && (clients.outstanding() === 0 || now >= liveness.doneAt + clientOptions.timeoutTicks);
  };

  trace?.(`seed=${options.seed} nodes=${options.nodes} ticks=${options.ticks} appendBatchBytesMax=${appendBatchBytesMax} faults=${JSON.stringify(faultSettings)}`);
  const stopped = () => options.stopOnViolation === true && checks.violations.length > 0;
  try {
    for (const id of ids) nodes.get(id)!.start();
    for (now = 1; !stopped(); now++) {
      checks.now = now;
      if (simulateTick()) break;
    }
  } catch (err) {
    checks.report('exception', [], describeError(err));
  }

  if (!stopped()) {
    const lin = checkLinearizable(clients.history, { timeoutMs: 20_000 });
    if (!lin.linearizable) {
      const what = lin.timedOut ? 'the checker timed out' : 'the client history is not linearizable';
      checks.report('linearizability', [], `${what}: ${lin.explanation}`);
    }
  }

  return {
    violations: checks.violations,
    history: clients.history,
    stats: {
      ticks: now,
      nodes: options.nodes,
      leaderTerms: checks.leaderTerms(),
      messages: { ...network.stats },
      ...faults.stats,
      membership: { ...nemesis.stats },
      ...counters,
      appliedEntries: Math.max(0, ...ids.map((id) => nodes.get(id)!.applied)),
      ops: { ...clients.stats },
      healTicks: liveness.done ? liveness.doneAt - healStart : -1,
      faults: faultSettings,
    },
  };
}

/** An exception's message and its first frames, so a report says where it was thrown. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `thrown: ${String(err)}`;
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((l) => l.trim().startsWith('at '))
    .slice(0, 3)
    .map((l) => l.trim().replace(/\(?(?:file:\/\/)?\/\S*?\/((?:storage-node|test|shared)\/[^)\s]*)\)?/, '($1)'));
  return `${err.message} ${frames.join(' ')}`;
}
