// CLI: npm run sim -- --seeds N [--start S] [--nodes 3|5] [--ticks T] [--unsafe RULE]
//      npm run sim -- --seed S [--nodes 3|5] [--ticks T] [--unsafe RULE] [--trace]
// Runs seeds (3 nodes for even seeds, 5 for odd ones unless --nodes), prints a line per failing
// seed with the command that replays it, and ends with "sim: N seeds, V violations".
// --unsafe switches one of the core's safety rules off, under that rule's fault scenario
// (unsafe-scenarios.ts): the seeds are then expected to fail.
import { runSimulation } from './simulation.ts';
import { UNSAFE_RULES, UNSAFE_SCENARIOS, type UnsafeRule } from './unsafe-scenarios.ts';

const DEFAULT_TICKS = 1000;

interface Args {
  seeds: number;
  start: number;
  seed: number | null;
  nodes: 3 | 5 | null;
  ticks: number;
  trace: boolean;
  unsafe: UnsafeRule | null;
}

function usage(msg: string): never {
  process.stderr.write(
    `sim: ${msg}\nusage: npm run sim -- --seeds N [--start S] [--nodes 3|5] [--ticks T]\n` +
      `       npm run sim -- --seed S [--nodes 3|5] [--ticks T] [--unsafe RULE] [--trace]\n` +
      `RULE: ${UNSAFE_RULES.join(' | ')}\n`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 100, start: 1, seed: null, nodes: null, ticks: DEFAULT_TICKS, trace: false, unsafe: null };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i]);
    if (!Number.isInteger(v) || v < 0) usage(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') args.seeds = int(++i, a);
    else if (a === '--start') args.start = int(++i, a);
    else if (a === '--seed') args.seed = int(++i, a);
    else if (a === '--ticks') args.ticks = int(++i, a);
    else if (a === '--trace') args.trace = true;
    else if (a === '--unsafe') {
      const rule = argv[++i] as UnsafeRule;
      if (!UNSAFE_RULES.includes(rule)) usage(`--unsafe must be one of ${UNSAFE_RULES.join(', ')}`);
      args.unsafe = rule;
    }
    else if (a === '--nodes') {
      const n = int(++i, a);
      if (n !== 3 && n !== 5) usage('--nodes must be 3 or 5');
      args.nodes = n;
    } else usage(`unknown argument ${a}`);
  }
  if (args.trace && args.seed === null) usage('--trace needs --seed S');
  return args;
}

function nodesForSeed(seed: number): 3 | 5 {
  return seed % 2 === 0 ? 3 : 5;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const seeds = args.seed !== null ? [args.seed] : Array.from({ length: args.seeds }, (_, i) => args.start + i);
  const extra =
    (args.nodes !== null ? ` --nodes ${args.nodes}` : '') +
    (args.ticks !== DEFAULT_TICKS ? ` --ticks ${args.ticks}` : '') +
    (args.unsafe !== null ? ` --unsafe ${args.unsafe}` : '');
  let violations = 0;
  const started = Date.now();
  for (const seed of seeds) {
    const nodes = args.nodes ?? nodesForSeed(seed);
    const result = runSimulation({
      ...(args.unsafe !== null ? UNSAFE_SCENARIOS[args.unsafe].options : {}),
      unsafe: args.unsafe !== null ? { [args.unsafe]: true } : undefined,
      seed,
      nodes,
      ticks: args.ticks,
      trace: args.trace ? (line) => process.stdout.write(`${line}\n`) : undefined,
    });
    violations += result.violations.length;
    if (result.violations.length > 0) {
      process.stdout.write(
        `seed ${seed} (${nodes} nodes): ${result.violations.length} violation(s); replay: npm run sim -- --seed ${seed}${extra} --trace\n`,
      );
      for (const v of result.violations) process.stdout.write(`  ${v}\n`);
    }
    if (args.seed !== null) {
      const s = result.stats;
      process.stdout.write(
        `seed ${seed}: ${s.ticks} ticks, ${s.leaderTerms} leader terms, ${s.appliedEntries} entries applied, ` +
          `ops ok=${s.ops.ok} fail=${s.ops.fail} info=${s.ops.info}, crashes=${s.crashes}, partitions=${s.partitions}, ` +
          `transfers=${s.transfers}, snapshots=${s.snapshotsCaptured}/${s.snapshotsInstalled}, ` +
          `membership changes=${s.membership.proposed - s.membership.refused} (refused ${s.membership.refused}), ` +
          `messages sent=${s.messages.sent} lost=${s.messages.lost} cut=${s.messages.cut}, heal→commit ${s.healTicks} ticks\n`,
      );
    }
  }
  process.stderr.write(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  process.stdout.write(`sim: ${seeds.length} seeds, ${violations} violations\n`);
  process.exitCode = violations > 0 ? 1 : 0;
}

main();
