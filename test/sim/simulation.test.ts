// The deterministic simulation as a test: many seeds with no violations (membership changes
// included), the checks failing when a safety rule of the core is switched off, and a seed
// replaying to the identical trace.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSimulation } from './simulation.ts';
import { UNSAFE_RULES, UNSAFE_SCENARIOS, violationCheck } from './unsafe-scenarios.ts';

const SEEDS = 300;
const TICKS = 1000;
const nodesFor = (seed: number): 3 | 5 => (seed % 2 === 0 ? 3 : 5);

describe('raft simulation', () => {
  it(`finds no violation in ${SEEDS} seeds (3 and 5 nodes), membership changes included`, () => {
    const failures: string[] = [];
    const changes = { removals: 0, leaderRemovals: 0, readds: 0, promotions: 0, refused: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { violations, stats } = runSimulation({ seed, nodes: nodesFor(seed), ticks: TICKS });
      if (violations.length > 0) {
        failures.push(`seed ${seed} (replay: npm run sim -- --seed ${seed} --trace):\n    ${violations.join('\n    ')}`);
      }
      for (const key of Object.keys(changes) as (keyof typeof changes)[]) changes[key] += stats.membership[key];
    }
    assert.equal(failures.length, 0, `violations in ${failures.length} seed(s):\n${failures.join('\n')}`);
    // The runs did change the membership in every way (else the seeds prove nothing about it).
    for (const [kind, count] of Object.entries(changes)) assert.ok(count >= 10, `only ${count} ${kind} in ${SEEDS} seeds`);
  });

  it('replays a seed to the identical trace', () => {
    const traceOf = (seed: number) => {
      const lines: string[] = [];
      const result = runSimulation({ seed, nodes: 5, ticks: 600, trace: (line) => lines.push(line) });
      return { lines, result };
    };
    const a = traceOf(4242);
    const b = traceOf(4242);
    assert.ok(a.lines.length > 1000, `a trace of ${a.lines.length} lines is suspiciously short`);
    assert.deepEqual(b.lines, a.lines);
    assert.deepEqual(b.result.history, a.result.history);
    const other = traceOf(4243);
    assert.notDeepEqual(other.lines, a.lines, 'different seeds should give different runs');
  });

  describe('the checks can fail', () => {
    for (const rule of UNSAFE_RULES) {
      const scenario = UNSAFE_SCENARIOS[rule];
      it(`catches unsafe rule ${rule}`, () => {
        const seen: string[] = [];
        for (let seed = 1; seed <= scenario.seeds; seed++) {
          const { violations } = runSimulation({
            ...scenario.options,
            seed,
            nodes: nodesFor(seed),
            ticks: TICKS,
            unsafe: { [rule]: true },
            stopOnViolation: true,
          });
          if (violations.length === 0) continue;
          if (violations.some((v) => scenario.caughtBy.includes(violationCheck(v)))) return;
          seen.push(`seed ${seed}: ${violations[0].slice(0, 200)}`);
        }
        assert.fail(
          `no ${scenario.caughtBy.join('/')} violation in ${scenario.seeds} seeds with ${rule}; other violations:\n${seen.slice(0, 5).join('\n')}`,
        );
      });
    }
  });
});
