// The chaos run's command line: `npm run chaos -- --duration S --seed N [--nodes 3|5] ...`.
// Value flags take `--flag value` or `--flag=value`; switches take no value.
import { allFaultKinds } from './schedule.ts';
import type { FaultKind } from './schedule.ts';

export type NetworkMode = 'auto' | 'netns' | 'loopback';

export interface ChaosOptions {
  /** Seconds of workload under faults (the heal, convergence and checks come after). */
  readonly durationS: number;
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Copies of each chunk (the cluster's replicated setting, set at start); default: every node. */
  readonly replication: number;
  /**
   * The nodes' --dead-after-ms (null: theirs, 10 minutes): short, a node down for longer is
   * marked down during the run and its chunks are re-replicated, then moved back.
   */
  readonly deadAfterMs: number | null;
  /** Concurrent clients; each is one process of the history. */
  readonly clients: number;
  /** Where the report, the history and the node logs go (default: a new temp dir). */
  readonly outDir: string | null;
  /** netns: each node in its own network namespace (root + iproute2); loopback: 127.0.0.1. */
  readonly network: NetworkMode;
  /** Send reads with `X-Consistency: local` while the history calls them linearizable. */
  readonly unsafeLocalReads: boolean;
  /** Give up checking one key's history after this long (its result is then unknown). */
  readonly checkTimeoutS: number;
  /** Seconds the healed cluster may take to converge. */
  readonly convergeTimeoutS: number;
  /** No fault injection: the workload alone (a baseline). */
  readonly noFaults: boolean;
  /** The fault kinds the schedule draws from (--faults); null: all of them. */
  readonly faults: readonly FaultKind[] | null;
  /** Copy node and gateway logs to our stderr as well as the log files. */
  readonly verbose: boolean;
  /** Internal: set by the outer process when it re-runs us inside the control namespace. */
  readonly netnsPrefix: string | null;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const usage = `npm run chaos -- --duration S --seed N [--nodes 3|5] [--replication R] [options]

Starts a real cluster (storage nodes and a gateway as processes), runs concurrent clients through
the gateway and straight to the nodes while a seeded schedule injects faults (kill -9, pauses,
restarts, partitions, corrupted and deleted chunks, a wiped node), then heals everything, waits for
convergence and checks linearizability, lost writes, metadata on every node, and every chunk on
each of its holders (rendezvous placement at the replication) with a clean fsck.

  --duration S            seconds of workload under faults (default 60)
  --seed N                seed of the fault schedule and the workload (default: random, printed)
  --nodes 3|5             cluster size (default 3)
  --replication R         copies of each chunk, 1 to --nodes (default: --nodes, every node holds
                          every chunk); below --nodes each chunk lives on its R holders only
  --dead-after-ms MS      the nodes' --dead-after-ms (default theirs, 10 minutes): a few seconds
                          makes the leader mark killed, paused and cut off nodes down, so their
                          chunks are re-replicated and moved back when they return
  --clients N             concurrent clients (default 2 per node + 2)
  --out DIR               report.json, history.json, node logs (default: a new temp dir)
  --network MODE          auto | netns | loopback (default auto: netns when root with iproute2)
  --unsafe-local-reads    reads use X-Consistency: local but are checked as linearizable
                          (shows that the checker catches stale reads: must report violations)
  --no-faults             the workload alone, no fault injection
  --faults K1,K2,...      only these fault kinds (default all): ${allFaultKinds.join(', ')}
  --check-timeout S       per-key limit of the linearizability search (default 120)
  --converge-timeout S    time the healed cluster has to converge (default 120)
  --verbose               copy node and gateway logs to stderr too

The last line is exactly "chaos: ops N, faults F, violations V"; the exit code is 1 when V > 0.`;

function integer(name: string, text: string | undefined, min: number, max: number): number {
  if (text === undefined) throw new UsageError(`--${name} needs a value`);
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/** Parses argv (without node and script); `randomSeed` is used when --seed is absent. */
export function parseChaosArgs(argv: readonly string[], randomSeed: () => number): ChaosOptions | 'help' {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const valueFlags = ['duration', 'seed', 'nodes', 'replication', 'dead-after-ms', 'clients', 'out', 'network', 'check-timeout', 'converge-timeout', 'netns-prefix', 'faults'];
  const switchFlags = ['unsafe-local-reads', 'no-faults', 'verbose', 'help'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (switchFlags.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      switches.add(name);
    } else if (valueFlags.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, value);
    } else {
      throw new UsageError(`unknown flag --${name}`);
    }
  }
  if (switches.has('help')) return 'help';
  const nodes = integer('nodes', values.get('nodes') ?? '3', 3, 5);
  if (nodes !== 3 && nodes !== 5) throw new UsageError('--nodes must be 3 or 5');
  const network = values.get('network') ?? 'auto';
  if (network !== 'auto' && network !== 'netns' && network !== 'loopback') throw new UsageError('--network must be auto, netns or loopback');
  const prefix = values.get('netns-prefix') ?? null;
  if (prefix !== null && !/^[a-z0-9-]{1,40}$/.test(prefix)) throw new UsageError('bad --netns-prefix');
  const faults = values.has('faults') ? parseFaultKinds(values.get('faults')!) : null;
  if (faults !== null && switches.has('no-faults')) throw new UsageError('--faults and --no-faults: give one of them');
  return {
    durationS: integer('duration', values.get('duration') ?? '60', 5, 24 * 3600),
    seed: values.has('seed') ? integer('seed', values.get('seed'), 0, 2 ** 32 - 1) : randomSeed(),
    nodes,
    replication: integer('replication', values.get('replication') ?? String(nodes), 1, nodes),
    deadAfterMs: values.has('dead-after-ms') ? integer('dead-after-ms', values.get('dead-after-ms'), 1000, 365 * 24 * 3_600_000) : null,
    clients: integer('clients', values.get('clients') ?? String(2 * nodes + 2), 1, 64),
    outDir: values.get('out') ?? null,
    network,
    unsafeLocalReads: switches.has('unsafe-local-reads'),
    checkTimeoutS: integer('check-timeout', values.get('check-timeout') ?? '120', 1, 3600),
    convergeTimeoutS: integer('converge-timeout', values.get('converge-timeout') ?? '120', 5, 3600),
    noFaults: switches.has('no-faults'),
    faults,
    verbose: switches.has('verbose'),
    netnsPrefix: prefix,
  };
}

function parseFaultKinds(text: string): FaultKind[] {
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (kinds.length === 0) throw new UsageError('--faults needs at least one fault kind');
  for (const kind of kinds) {
    if (!allFaultKinds.includes(kind as FaultKind)) throw new UsageError(`--faults: unknown fault kind "${kind}" (known: ${allFaultKinds.join(', ')})`);
  }
  // In the canonical order, once each: the same choice gives the same schedule.
  return allFaultKinds.filter((k) => kinds.includes(k));
}

/** The command that replays a run (same seed, size, duration and mode). */
export function replayCommand(o: ChaosOptions): string {
  const extra = [
    o.clients !== 2 * o.nodes + 2 ? ` --clients ${o.clients}` : '',
    // The run inside the namespaces was started by one with --network auto or netns.
    o.network !== 'auto' && o.netnsPrefix === null ? ` --network ${o.network}` : '',
    o.unsafeLocalReads ? ' --unsafe-local-reads' : '',
    o.noFaults ? ' --no-faults' : '',
    o.faults !== null ? ` --faults ${o.faults.join(',')}` : '',
  ].join('');
  const replication = `${o.replication !== o.nodes ? ` --replication ${o.replication}` : ''}${o.deadAfterMs !== null ? ` --dead-after-ms ${o.deadAfterMs}` : ''}`;
  return `npm run chaos -- --duration ${o.durationS} --seed ${o.seed} --nodes ${o.nodes}${replication}${extra}`;
}

/** The arguments to pass on to the inner run (everything but the network choice). */
export function innerArgs(o: ChaosOptions, outDir: string, prefix: string): string[] {
  return [
    '--duration', String(o.durationS), '--seed', String(o.seed), '--nodes', String(o.nodes),
    '--replication', String(o.replication), ...(o.deadAfterMs !== null ? ['--dead-after-ms', String(o.deadAfterMs)] : []), '--clients', String(o.clients), '--out', outDir, '--network', 'netns', '--netns-prefix', prefix,
    '--check-timeout', String(o.checkTimeoutS), '--converge-timeout', String(o.convergeTimeoutS),
    ...(o.unsafeLocalReads ? ['--unsafe-local-reads'] : []),
    ...(o.noFaults ? ['--no-faults'] : []),
    ...(o.faults !== null ? ['--faults', o.faults.join(',')] : []),
    ...(o.verbose ? ['--verbose'] : []),
  ];
}
