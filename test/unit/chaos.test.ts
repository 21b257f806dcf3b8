// The pure parts of the chaos run (scripts/chaos/): its flags, the seeded fault schedule, the
// partition shapes, how answers become ok/fail/info, the recorded history, the lost-write and
// unavailability analyses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseHistory } from '../checker/history.ts';
import { checkLinearizable } from '../checker/linearizability.ts';
import { Prng } from '../sim/prng.ts';
import { countOps, findLostWrite, unavailableWindows } from '../../scripts/chaos/analysis.ts';
import { mutationOutcome, readOutcome, sha256 } from '../../scripts/chaos/client.ts';
import type { Answer } from '../../scripts/chaos/client.ts';
import { chunkPath, lastIntactCopies, runHolders } from '../../scripts/chaos/last-copies.ts';
import { holdersOf } from '../../storage-node/src/placement/rendezvous.ts';
import type { ChaosNode } from '../../scripts/chaos/cluster.ts';
import { innerArgs, parseChaosArgs, replayCommand, UsageError } from '../../scripts/chaos/options.ts';
import { Recorder } from '../../scripts/chaos/recorder.ts';
import type { OpRecord } from '../../scripts/chaos/recorder.ts';
import { summaryLine } from '../../scripts/chaos/report.ts';
import { allFaultKinds, buildSchedule, cooldownMs, pickMinority, pickPartition } from '../../scripts/chaos/schedule.ts';
import { contentId, KeySpace, makeContent } from '../../scripts/chaos/workload.ts';

describe('chaos options', () => {
  it('takes the documented flags, with defaults', () => {
    const o = parseChaosArgs(['--duration', '30', '--seed', '7', '--nodes=5', '--unsafe-local-reads'], () => 99);
    assert.ok(o !== 'help');
    assert.equal(o.durationS, 30);
    assert.equal(o.seed, 7);
    assert.equal(o.nodes, 5);
    assert.equal(o.clients, 12);
    assert.equal(o.unsafeLocalReads, true);
    assert.equal(o.network, 'auto');
    assert.equal(replayCommand(o), 'npm run chaos -- --duration 30 --seed 7 --nodes 5 --unsafe-local-reads');
    assert.equal(o.replication, 5, 'every node holds every chunk by default');
  });

  it('takes --replication from 1 to the node count, and replays it', () => {
    const o = parseChaosArgs(['--seed', '1', '--nodes', '5', '--replication', '3'], () => 1);
    assert.ok(o !== 'help');
    assert.equal(o.replication, 3);
    assert.equal(replayCommand(o), 'npm run chaos -- --duration 60 --seed 1 --nodes 5 --replication 3');
    assert.ok(innerArgs(o, '/tmp/x', 'p').join(' ').includes('--replication 3'));
    const three = parseChaosArgs(['--nodes', '3'], () => 1);
    assert.ok(three !== 'help');
    assert.equal(three.replication, 3);
    assert.throws(() => parseChaosArgs(['--nodes', '3', '--replication', '4'], () => 1), /--replication must be an integer from 1 to 3/);
    assert.throws(() => parseChaosArgs(['--replication', '0'], () => 1), UsageError);
    assert.equal(o.deadAfterMs, null, "the nodes' own --dead-after-ms unless given");
    const short = parseChaosArgs(['--seed', '1', '--nodes', '5', '--replication', '3', '--dead-after-ms', '3000'], () => 1);
    assert.ok(short !== 'help');
    assert.equal(short.deadAfterMs, 3000);
    assert.equal(replayCommand(short), 'npm run chaos -- --duration 60 --seed 1 --nodes 5 --replication 3 --dead-after-ms 3000');
    assert.ok(innerArgs(short, '/tmp/x', 'p').join(' ').includes('--dead-after-ms 3000'));
    assert.throws(() => parseChaosArgs(['--dead-after-ms', '10'], () => 1), UsageError);
  });

  it('draws a seed when none is given, so that it can be printed', () => {
    const o = parseChaosArgs([], () => 4242);
    assert.ok(o !== 'help');
    assert.equal(o.seed, 4242);
  });

  it('refuses a cluster size other than 3 or 5, unknown flags and missing values', () => {
    assert.throws(() => parseChaosArgs(['--nodes', '4'], () => 1), UsageError);
    assert.throws(() => parseChaosArgs(['--bogus'], () => 1), UsageError);
    assert.throws(() => parseChaosArgs(['--seed'], () => 1), UsageError);
    assert.throws(() => parseChaosArgs(['--network', 'wifi'], () => 1), UsageError);
    assert.equal(parseChaosArgs(['--help'], () => 1), 'help');
  });

  it('restricts the fault kinds with --faults, in a canonical order the replay keeps', () => {
    const o = parseChaosArgs(['--seed', '4', '--faults', 'wipe-node,replace-member,wipe-node'], () => 1);
    assert.ok(o !== 'help');
    assert.deepEqual(o.faults, ['wipe-node', 'replace-member']);
    assert.equal(replayCommand(o), 'npm run chaos -- --duration 60 --seed 4 --nodes 3 --faults wipe-node,replace-member');
    const all = parseChaosArgs([], () => 1);
    assert.ok(all !== 'help');
    assert.equal(all.faults, null);
    assert.throws(() => parseChaosArgs(['--faults', 'replace-nodes'], () => 1), /unknown fault kind "replace-nodes"/);
    assert.throws(() => parseChaosArgs(['--faults', ','], () => 1), UsageError);
    assert.throws(() => parseChaosArgs(['--faults', 'kill-leader', '--no-faults'], () => 1), UsageError);
  });
});

describe('chaos fault schedule', () => {
  const options = { seed: 13, durationMs: 30_000, nodes: 3, netns: true };

  it('is a pure function of the seed', () => {
    assert.deepEqual(buildSchedule(options), buildSchedule(options));
    assert.notDeepEqual(buildSchedule(options), buildSchedule({ ...options, seed: 14 }));
  });

  it('keeps every fault inside the run, leaves a quiet end, and pauses longer than an election timeout', () => {
    for (let seed = 0; seed < 50; seed++) {
      const episodes = buildSchedule({ ...options, seed });
      assert.ok(episodes.length >= 4, `seed ${seed}: only ${episodes.length} faults in 30 s`);
      episodes.forEach((e, i) => {
        assert.equal(e.index, i);
        if (i > 0) assert.ok(e.atMs >= episodes[i - 1].atMs, 'in time order');
        assert.ok(e.atMs + e.holdMs <= options.durationMs - cooldownMs);
        if (e.kind.startsWith('pause') || e.kind === 'partition') assert.ok(e.holdMs >= 2_000, `${e.kind} held ${e.holdMs} ms`);
      });
      // Process and network faults do not overlap each other (chunk faults may overlap them).
      const main = episodes.filter((e) => e.kind !== 'corrupt-chunk' && e.kind !== 'delete-chunk');
      for (let i = 1; i < main.length; i++) assert.ok(main[i].atMs >= main[i - 1].atMs + main[i - 1].holdMs);
    }
  });

  it('sees every kind in a long run, and no slow link without namespaces', () => {
    const long = new Set(buildSchedule({ ...options, durationMs: 600_000 }).map((e) => e.kind));
    assert.deepEqual([...long].sort(), [...allFaultKinds].sort());
    const loopback = buildSchedule({ ...options, durationMs: 600_000, netns: false });
    assert.ok(!loopback.some((e) => e.kind === 'slow-link'));
  });

  it('draws only the kinds asked for, and plans time for a replaced member to come back', () => {
    const only = buildSchedule({ ...options, durationMs: 120_000, kinds: ['replace-member'] });
    assert.ok(only.length >= 3, `${only.length} replacements in 120 s`);
    assert.ok(only.every((e) => e.kind === 'replace-member'));
    // Admission, catch-up and promotion take seconds after the hold: the next one starts later.
    for (let i = 1; i < only.length; i++) assert.ok(only[i].atMs >= only[i - 1].atMs + only[i - 1].holdMs + 12_000);
    const mixed = buildSchedule({ ...options, durationMs: 120_000, kinds: ['kill-leader', 'delete-chunk'] });
    assert.deepEqual([...new Set(mixed.map((e) => e.kind))].sort(), ['delete-chunk', 'kill-leader']);
    // The default mix has replacements too.
    assert.ok(buildSchedule({ ...options, durationMs: 300_000 }).some((e) => e.kind === 'replace-member'));
  });

  it('hits a minority: 1 of 3 nodes, 1 or 2 of 5', () => {
    const rng = new Prng(1);
    for (let i = 0; i < 100; i++) {
      assert.equal(pickMinority(rng, 3).length, 1);
      const five = pickMinority(rng, 5);
      assert.ok(five.length >= 1 && five.length <= 2);
      assert.equal(new Set(five).size, five.length);
    }
  });

  it('cuts a partition between a minority and the rest (or around a bridge node)', () => {
    const rng = new Prng(2);
    const shapes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const leader = i % 5;
      const p = pickPartition(rng, 5, leader);
      shapes.add(p.shape);
      assert.ok(p.minority.length <= 2);
      if (p.shape === 'isolate-leader') assert.deepEqual(p.minority, [leader]);
      for (const [a, b] of p.cuts) {
        assert.ok(a < b);
        // Every cut separates a minority node from a node outside the minority.
        assert.ok(p.minority.includes(a) !== p.minority.includes(b));
      }
      if (p.shape === 'bridge') {
        const cutOff = new Set(p.cuts.flat());
        assert.equal(cutOff.size, 4, 'the bridge node keeps all its links');
      } else {
        assert.equal(p.cuts.length, p.minority.length * (5 - p.minority.length));
      }
    }
    assert.deepEqual([...shapes].sort(), ['bridge', 'isolate-leader', 'split']);
  });
});

const answer = (status: number | null, errorCode: string | null = null): Answer =>
  ({ status, body: null, etag: null, servedBy: null, error: null, errorCode });

describe('chaos nemesis never destroys the last intact copy of a chunk', () => {
  const makeNodes = (dir: string, count: number) =>
    [...Array(count).keys()].map((index) => ({ index, id: `n${index + 1}`, dataDir: join(dir, `n${index + 1}`) }) as unknown as ChaosNode);
  const put = (nodes: readonly ChaosNode[], node: number, bytes: string, corrupt = false) => {
    const hash = sha256(Buffer.from(bytes));
    const path = chunkPath(nodes[node].dataDir, hash);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, corrupt ? `${bytes}!` : bytes);
    return hash;
  };

  it('finds the chunks only the victim still holds intact, not counting nodes being wiped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-chaos-copies-'));
    try {
      const nodes = makeNodes(dir, 3);
      const holders = runHolders(nodes, 3);
      const a = put(nodes, 0, 'chunk a');
      put(nodes, 1, 'chunk a', true); // n2's copy of a is corrupt, n3 has none
      const b = put(nodes, 0, 'chunk b');
      put(nodes, 2, 'chunk b');
      const c = sha256(Buffer.from('chunk c')); // on no node
      assert.deepEqual(lastIntactCopies(nodes, 0, [a, b, c], new Set(), holders), [a]);
      // n3 is about to be wiped: its copy of b does not count.
      assert.deepEqual(lastIntactCopies(nodes, 0, [a, b, c], new Set([2]), holders), [a, b]);
      // n2 holds only a bad copy: nothing of its is the last intact one.
      assert.deepEqual(lastIntactCopies(nodes, 1, [a, b], new Set(), holders), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('at replication 3 of 5 counts only the copies on the chunk\'s holders (the nodes\' rendezvous placement)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-chaos-copies-'));
    try {
      const nodes = makeNodes(dir, 5);
      const holders = runHolders(nodes, 3);
      const hash = sha256(Buffer.from('chunk d'));
      const [first, second, third] = holders(hash);
      assert.equal(holders(hash).length, 3);
      assert.deepEqual(holders(hash).map((i) => nodes[i].id), holdersOf(hash, nodes.map((n) => ({ id: n.id })), 3));
      const strays = [0, 1, 2, 3, 4].filter((i) => !holders(hash).includes(i));
      put(nodes, first, 'chunk d');
      put(nodes, second, 'chunk d', true);
      // Intact copies on both non-holders (not collected yet) do not make the first's copy spare.
      for (const i of strays) put(nodes, i, 'chunk d');
      assert.deepEqual(lastIntactCopies(nodes, first, [hash], new Set(), holders), [hash]);
      // Neither is a stray's copy spare: no other holder has a good one.
      assert.deepEqual(lastIntactCopies(nodes, strays[0], [hash], new Set([first]), holders), [hash]);
      // Once the third holder has it, the first's copy may go.
      put(nodes, third, 'chunk d');
      assert.deepEqual(lastIntactCopies(nodes, first, [hash], new Set(), holders), []);
      assert.deepEqual(lastIntactCopies(nodes, first, [hash], new Set([third]), holders), [hash]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('chaos answers to outcomes', () => {
  it('calls a mutation failed only when it definitely did not happen', () => {
    assert.equal(mutationOutcome('write', answer(201)), 'ok');
    assert.equal(mutationOutcome('delete', answer(204)), 'ok');
    assert.equal(mutationOutcome('cas', answer(412)), 'fail');
    assert.equal(mutationOutcome('create', answer(412)), 'fail');
    assert.equal(mutationOutcome('delete', answer(404)), 'fail');
    assert.equal(mutationOutcome('write', answer(400)), 'fail');
    assert.equal(mutationOutcome('write', answer(null, 'ECONNREFUSED')), 'fail');
    // No leader, a timeout inside the cluster, a lost connection, our own deadline: unknown.
    assert.equal(mutationOutcome('write', answer(503)), 'info');
    assert.equal(mutationOutcome('cas', answer(500)), 'info');
    assert.equal(mutationOutcome('write', answer(404)), 'info');
    assert.equal(mutationOutcome('write', answer(null, 'ECONNRESET')), 'info');
    assert.equal(mutationOutcome('delete', answer(null, 'TIMEOUT')), 'info');
  });

  it('reads ok on 200 and 404 (absent), without effect otherwise', () => {
    assert.equal(readOutcome(answer(200)), 'ok');
    assert.equal(readOutcome(answer(404)), 'ok');
    assert.equal(readOutcome(answer(503)), 'fail');
    assert.equal(readOutcome(answer(null, 'TIMEOUT')), 'info');
  });
});

describe('chaos workload pieces', () => {
  it('writes contents that carry their id and differ for every id', () => {
    for (const size of [1, 10, 600, 48_000]) {
      const content = makeContent('w3-17', size);
      assert.equal(content.length, Math.max(size, 'w3-17\n'.length));
      assert.equal(contentId(Buffer.from(content)), 'w3-17');
      assert.notEqual(sha256(content), sha256(makeContent('w3-18', size)));
    }
    assert.equal(contentId(Buffer.from('no newline here')), null);
  });

  it('retires a name after its operations and gives the slot a fresh one', () => {
    const keys = new KeySpace(2, 3);
    const seen = Array.from({ length: 7 }, () => keys.next(0));
    assert.deepEqual(seen, ['chaos/k0-g0', 'chaos/k0-g0', 'chaos/k0-g0', 'chaos/k0-g1', 'chaos/k0-g1', 'chaos/k0-g1', 'chaos/k0-g2']);
    assert.deepEqual(keys.all, ['chaos/k0-g0', 'chaos/k1-g0', 'chaos/k0-g1', 'chaos/k0-g2']);
  });
});

/** Builds a history through the Recorder: [process, kind, key, value, outcome, output?] steps. */
function record(steps: ReadonlyArray<['invoke', number, OpRecord['kind'], unknown] | ['complete', number, 'ok' | 'fail' | 'info', unknown?]>): Recorder {
  const r = new Recorder();
  const open = new Map<number, OpRecord>();
  for (const step of steps) {
    if (step[0] === 'invoke') open.set(step[1], r.invoke(step[1], step[2], 'k', step[3] as never, 'gateway'));
    else {
      r.complete(open.get(step[1])!, step[2], { output: (step[3] ?? null) as never, status: step[2] === 'info' ? null : 200 });
      open.delete(step[1]);
    }
  }
  return r;
}

describe('chaos history and analyses', () => {
  it('records a history the checker accepts, and a stale read in it is caught', () => {
    const good = record([
      ['invoke', 0, 'write', 'w0-0'], ['complete', 0, 'ok'],
      ['invoke', 1, 'create', [null, 'w1-0']], ['complete', 1, 'fail'],
      ['invoke', 1, 'cas', ['w0-0', 'w1-1']], ['complete', 1, 'ok'],
      ['invoke', 0, 'read', null], ['complete', 0, 'ok', 'w1-1'],
    ]);
    const events = parseHistory(JSON.parse(JSON.stringify(good.events)));
    assert.equal(checkLinearizable(events).linearizable, true);
    const stale = record([
      ['invoke', 0, 'write', 'w0-0'], ['complete', 0, 'ok'],
      ['invoke', 1, 'write', 'w1-0'], ['complete', 1, 'ok'],
      ['invoke', 0, 'read', null], ['complete', 0, 'ok', 'w0-0'],
    ]);
    assert.equal(checkLinearizable(stale.events).linearizable, false);
    assert.deepEqual(countOps(good.ops).cas, { ok: 1, fail: 0, info: 0 });
    assert.deepEqual(countOps(good.ops).create, { ok: 0, fail: 1, info: 0 });
  });

  it('finds no lost write when the final value is the last acknowledged one, or a concurrent one', () => {
    const r = record([
      ['invoke', 0, 'write', 'a'], ['complete', 0, 'ok'],
      ['invoke', 0, 'write', 'b'], ['invoke', 1, 'write', 'c'], ['complete', 0, 'ok'], ['complete', 1, 'ok'],
    ]);
    assert.equal(findLostWrite(r.ops, 'b'), null);
    assert.equal(findLostWrite(r.ops, 'c'), null);
    assert.match(findLostWrite(r.ops, 'a')!, /acknowledged/);
  });

  it('lets an unknown (info) write be the final value however late, but not a failed one', () => {
    const r = record([
      ['invoke', 0, 'write', 'a'], ['complete', 0, 'info'],
      ['invoke', 1, 'write', 'b'], ['complete', 1, 'ok'],
      ['invoke', 1, 'create', [null, 'c']], ['complete', 1, 'fail'],
    ]);
    assert.equal(findLostWrite(r.ops, 'a'), null);
    assert.equal(findLostWrite(r.ops, 'b'), null);
    assert.match(findLostWrite(r.ops, 'c')!, /no operation wrote that value/);
  });

  it('judges a final absence by the deletes', () => {
    const deleted = record([
      ['invoke', 0, 'write', 'a'], ['complete', 0, 'ok'],
      ['invoke', 0, 'delete', null], ['complete', 0, 'ok'],
    ]);
    assert.equal(findLostWrite(deleted.ops, null), null);
    const rewritten = record([
      ['invoke', 0, 'delete', null], ['complete', 0, 'ok'],
      ['invoke', 0, 'write', 'a'], ['complete', 0, 'ok'],
    ]);
    assert.match(findLostWrite(rewritten.ops, null)!, /final value is absent/);
    assert.equal(findLostWrite(record([['invoke', 0, 'write', 'a'], ['complete', 0, 'fail']]).ops, null), null);
  });

  it('measures windows without an answered operation', () => {
    const op = (completeMs: number, outcome: 'ok' | 'fail' | 'info', status: number | null = 200) =>
      ({ f: 'write', final: false, target: 'gateway', completeMs, outcome, status }) as OpRecord;
    const ops = [op(500, 'ok'), op(900, 'fail', 412), op(2_000, 'info', null), op(3_000, 'fail', null), op(4_200, 'ok')];
    assert.deepEqual(unavailableWindows(ops, 'write', 5_000, 1_000, 'gateway'), [{ startMs: 900, endMs: 4_200, durationMs: 3_300 }]);
    assert.deepEqual(unavailableWindows(ops, 'read', 5_000, 1_000, 'gateway'), [{ startMs: 0, endMs: 5_000, durationMs: 5_000 }]);
  });

  it('ends the report with the exact summary line', () => {
    assert.equal(summaryLine({ ops: { total: 12 } as never, faults: { total: 3 } as never, violations: [] }), 'chaos: ops 12, faults 3, violations 0');
  });
});
