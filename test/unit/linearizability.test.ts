import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HistoryFormatError, parseHistory, toOperations,
  type EventType, type Fn, type HistoryEvent, type JsonValue,
} from '../checker/history.ts';
import { checkLinearizable } from '../checker/linearizability.ts';

const ev = (type: EventType) => (process: number, f: Fn, value: JsonValue = null, key = 'k'): HistoryEvent =>
  ({ process, type, f, key, value });
const inv = ev('invoke'), ok = ev('ok'), fail = ev('fail'), info = ev('info');

/** A whole operation with nothing concurrent to it. */
const seq = (p: number, f: Fn, value: JsonValue, out?: JsonValue, key = 'k'): HistoryEvent[] =>
  [inv(p, f, f === 'read' ? null : value, key), ok(p, f, f === 'read' ? (out ?? null) : value, key)];

function assertLinearizable(events: HistoryEvent[]): void {
  const r = checkLinearizable(parseHistory(events));
  assert.equal(r.linearizable, true, r.explanation);
}

function assertNotLinearizable(events: HistoryEvent[], key = 'k'): string {
  const r = checkLinearizable(parseHistory(events));
  assert.equal(r.linearizable, false, 'expected a violation');
  assert.equal(r.failingKey, key);
  assert.match(r.explanation, new RegExp(`key "${key}"`));
  return r.explanation;
}

// --- linearizable histories -------------------------------------------------

test('sequential history is linearizable', () => {
  assertLinearizable([
    ...seq(0, 'read', null, null), ...seq(0, 'write', 1), ...seq(1, 'read', null, 1),
    ...seq(0, 'cas', [1, 2]), ...seq(1, 'read', null, 2), ...seq(1, 'delete', null),
    ...seq(0, 'read', null, null), ...seq(0, 'cas', [null, 3]), ...seq(2, 'read', null, 3),
  ]);
});

test('a read concurrent with two overlapping writes may see either', () => {
  for (const seen of [1, 2]) {
    assertLinearizable([
      inv(0, 'write', 1), inv(1, 'write', 2), inv(2, 'read'),
      ok(0, 'write', 1), ok(1, 'write', 2), ok(2, 'read', seen),
    ]);
  }
  // After both writes the value is whichever went last, but it must then stay put.
  assertLinearizable([
    inv(0, 'write', 1), inv(1, 'write', 2), ok(1, 'write', 2), ok(0, 'write', 1),
    ...seq(2, 'read', null, 2), ...seq(0, 'read', null, 2),
  ]);
});

test('an info write that is later seen is linearizable', () => {
  assertLinearizable([
    ...seq(0, 'write', 1), inv(1, 'write', 2), info(1, 'write', 2),
    ...seq(0, 'read', null, 1), ...seq(2, 'read', null, 2), ...seq(0, 'read', null, 2),
  ]);
});

test('an info write that is never seen is linearizable', () => {
  assertLinearizable([
    ...seq(0, 'write', 1), inv(1, 'write', 2), info(1, 'write', 2),
    ...seq(0, 'read', null, 1), ...seq(2, 'read', null, 1),
    inv(3, 'cas', [7, 8]), // never completes: treated as info
  ]);
});

test('failed operations and info reads are dropped', () => {
  assertLinearizable([
    ...seq(0, 'write', 1), inv(1, 'cas', [1, 5]), fail(1, 'cas', [1, 5]),
    inv(2, 'delete'), fail(2, 'delete'), inv(3, 'read'), info(3, 'read'), ...seq(0, 'read', null, 1),
  ]);
});

test('cas chains, including concurrent ones, are linearizable', () => {
  assertLinearizable([
    ...seq(0, 'write', 0),
    inv(1, 'cas', [1, 2]), inv(2, 'cas', [0, 1]), inv(3, 'read'),
    ok(2, 'cas', [0, 1]), ok(1, 'cas', [1, 2]), ok(3, 'read', 1),
    ...seq(0, 'cas', [2, 3]), ...seq(1, 'read', null, 3),
  ]);
});

// --- non-linearizable histories ---------------------------------------------

test('stale read: a read after a completed write returns the old value', () => {
  const why = assertNotLinearizable([
    ...seq(0, 'write', 1), ...seq(0, 'write', 2), ...seq(1, 'read', null, 1),
  ]);
  assert.match(why, /read of "k" returned 1 .* but the value was 2/);
});

test('lost write: an acknowledged write, then reads of the older value forever', () => {
  assertNotLinearizable([
    ...seq(0, 'write', 'a'), inv(1, 'write', 'b'), inv(2, 'read'), ok(2, 'read', 'a'), ok(1, 'write', 'b'),
    ...seq(2, 'read', null, 'a'), ...seq(0, 'read', null, 'a'), ...seq(2, 'read', null, 'a'),
  ]);
});

test('two compare-and-sets both succeed from the same value', () => {
  const why = assertNotLinearizable([
    ...seq(0, 'write', 0), inv(1, 'cas', [0, 1]), inv(2, 'cas', [0, 2]), ok(1, 'cas', [0, 1]), ok(2, 'cas', [0, 2]),
  ]);
  assert.match(why, /cas of "k" 0→\d succeeded/);
});

test('an info write seen by one read, then unseen by a later read', () => {
  assertNotLinearizable([
    ...seq(0, 'write', 1), inv(1, 'write', 2), info(1, 'write', 2),
    ...seq(2, 'read', null, 2), ...seq(0, 'read', null, 1),
  ]);
});

test('a read of a value never written', () => {
  const why = assertNotLinearizable([...seq(0, 'write', 1), ...seq(1, 'read', null, 7)]);
  assert.match(why, /returned 7 .* no operation ever wrote that value/);
});

test('a delete that succeeds on an absent key', () => {
  const why = assertNotLinearizable([...seq(0, 'write', 1, undefined, 'x'), ...seq(0, 'delete', null)]);
  assert.match(why, /delete of "k" succeeded .* the key was absent/);
  assertNotLinearizable([...seq(0, 'write', 1), ...seq(0, 'delete', null), ...seq(1, 'delete', null)]);
});

test('keys are checked independently and the failing one is named', () => {
  const r = checkLinearizable([
    ...seq(0, 'write', 1, undefined, 'a'), ...seq(1, 'write', 1, undefined, 'b'),
    ...seq(0, 'read', null, 1, 'b'), ...seq(1, 'read', null, 1, 'a'), ...seq(0, 'read', null, null, 'b'),
  ]);
  assert.equal(r.linearizable, false);
  assert.equal(r.failingKey, 'b');
});

// --- format validation ------------------------------------------------------

test('parseHistory rejects malformed histories with the event and the problem', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /must be a JSON array/],
    [[{ process: 0, type: 'start', f: 'read', key: 'k', value: null }], /event #0: "type"/],
    [[inv(0, 'write', 1), { process: 0, type: 'ok', f: 'write', key: 'k' }], /event #1: missing "value"/],
    [[ok(0, 'read', 1)], /event #0: .*no outstanding invoke/],
    [[inv(0, 'read'), inv(0, 'read')], /event #1: process 0 invokes again/],
    [[inv(0, 'read'), ok(0, 'write', 1)], /event #1: .*completes a read/],
    [[inv(0, 'cas', 3)], /event #0: cas value must be \[expected, new\]/],
    [[inv(0, 'write', 1), ok(0, 'write', 2)], /event #1: completion value 2 differs/],
  ];
  for (const [json, msg] of bad) {
    assert.throws(() => parseHistory(json), (err: unknown) => err instanceof HistoryFormatError && msg.test(err.message));
  }
});

test('toOperations pairs invokes with completions; info returns at infinity', () => {
  const ops = toOperations([inv(0, 'write', 1), inv(1, 'read'), ok(1, 'read', 1), info(0, 'write', 1), inv(2, 'delete')]);
  assert.deepEqual(ops.map((o) => [o.f, o.status, o.call, o.return, o.output]), [
    ['write', 'info', 0, Infinity, null], ['read', 'ok', 1, 2, 1], ['delete', 'info', 4, Infinity, null],
  ]);
});

// --- generated histories ----------------------------------------------------

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface GenOp { p: number; f: Fn; key: string; value: JsonValue; out: JsonValue; status: EventType; call: number; ret: number; at: number; completion: number }

interface GenOptions { info?: number; domain?: number }

/**
 * Simulates an atomic register: each op takes effect at a random point inside its
 * interval. Written values are unique unless `domain` makes them collide.
 */
function generate(nOps: number, nKeys: number, nProcs: number, seed: number, opts: GenOptions = {}): { events: HistoryEvent[]; ops: GenOp[] } {
  const rand = rng(seed);
  const fresh = () => (opts.domain ? 1 + Math.floor(rand() * opts.domain) : ++counter);
  const clock = new Array<number>(nProcs).fill(0);
  const written = new Map<string, JsonValue[]>();
  let counter = 0;
  const ops: GenOp[] = [];
  for (let i = 0; i < nOps; i++) {
    const p = Math.floor(rand() * nProcs);
    const key = `k${Math.floor(rand() * nKeys)}`;
    const call = clock[p] + rand();
    const ret = call + 0.5 + rand() * 4;
    clock[p] = ret;
    const x = rand();
    const f: Fn = x < 0.45 ? 'read' : x < 0.75 ? 'write' : x < 0.92 ? 'cas' : 'delete';
    const recent = written.get(key) ?? [null];
    const value: JsonValue = f === 'write' ? fresh()
      : f === 'cas' ? [recent[Math.floor(rand() * recent.length)], fresh()] : null;
    if (f === 'write') written.set(key, [...recent.slice(-2), value]);
    // Some ops time out (3% by default): they take effect later, even after the response, or never.
    const lost = rand() < (opts.info ?? 0.03);
    const at = lost ? (rand() < 0.5 ? Infinity : call + rand() * 10) : call + rand() * (ret - call);
    ops.push({ p, f, key, value, out: null, status: lost ? 'info' : 'ok', call, ret, at, completion: -1 });
  }
  const state = new Map<string, JsonValue>();
  for (const op of [...ops].sort((a, b) => a.at - b.at)) {
    if (op.at === Infinity) break;
    const cur = state.get(op.key) ?? null;
    if (op.f === 'read') op.out = op.status === 'ok' ? cur : null;
    else if (op.f === 'write') state.set(op.key, op.value);
    else if (op.f === 'cas') {
      const [e, n] = op.value as JsonValue[];
      if (cur === e) state.set(op.key, n);
      else if (op.status === 'ok') op.status = 'fail';
    } else if (cur !== null) state.delete(op.key);
    else if (op.status === 'ok') op.status = 'fail';
  }
  const timed = ops.flatMap((op) => [
    { t: op.call, op: null, e: inv(op.p, op.f, op.value, op.key) },
    { t: op.ret, op, e: ev(op.status)(op.p, op.f, op.f === 'read' ? op.out : op.value, op.key) },
  ]);
  timed.sort((a, b) => a.t - b.t);
  timed.forEach((x, i) => { if (x.op) x.op.completion = i; });
  return { events: timed.map((x) => x.e), ops };
}

const last = <T>(xs: T[], pred: (x: T) => boolean): T | undefined => [...xs].reverse().find(pred);

/** Makes one ok read return a value that a completed write had already overwritten. */
function staleRead(events: HistoryEvent[], ops: GenOp[]): HistoryEvent[] {
  const done = (o: GenOp) => o.status === 'ok' && o.f !== 'read';
  for (const r of ops.slice(ops.length / 2)) {
    if (r.f !== 'read' || r.status !== 'ok') continue;
    // Values are unique, so once `w` completed nothing can bring back `old`'s value.
    const w = last(ops, (o) => o.key === r.key && done(o) && o.ret < r.call);
    const old = w && last(ops, (o) => o.key === r.key && o.f === 'write' && o.status === 'ok' && o.ret < w.call);
    if (!old || old.value === r.out) continue;
    const copy = structuredClone(events);
    copy[r.completion].value = old.value;
    return copy;
  }
  throw new Error('no read suitable for mutation');
}

test('a generated 10,000-op history over 10 keys is linearizable; a stale read breaks it', (t) => {
  const { events, ops } = generate(10_000, 10, 5, 42);
  let start = performance.now();
  const good = checkLinearizable(parseHistory(events));
  t.diagnostic(`linearizable history: ${(performance.now() - start).toFixed(0)} ms, ${good.operations} ops checked`);
  assert.equal(good.linearizable, true, good.explanation);
  assert.equal(good.keysChecked, 10);

  const mutated = staleRead(events, ops);
  start = performance.now();
  const bad = checkLinearizable(parseHistory(mutated));
  t.diagnostic(`mutated history: ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(bad.linearizable, false);
  t.diagnostic(bad.explanation.split('\n')[1]);
});

/** Tries every order that respects real time; info ops may be left out. Tiny histories only. */
function bruteForce(events: HistoryEvent[]): boolean {
  const ops = toOperations(events).filter((o) => o.status === 'ok' || (o.status === 'info' && o.f !== 'read'));
  const used = ops.map(() => false);
  const same = (a: JsonValue, b: JsonValue) => JSON.stringify(a) === JSON.stringify(b);
  const step = (o: (typeof ops)[number], s: JsonValue): JsonValue | undefined => {
    if (o.f === 'read') return same(s, o.output) ? s : undefined;
    if (o.f === 'write') return o.value;
    const [e, n] = o.f === 'cas' ? (o.value as JsonValue[]) : [];
    if (o.f === 'cas') return same(s, e) ? n : undefined;
    return s !== null ? null : undefined;
  };
  const search = (s: JsonValue): boolean => {
    if (ops.every((o, i) => used[i] || o.status === 'info')) return true;
    const deadline = Math.min(...ops.filter((_, i) => !used[i]).map((o) => o.return));
    return ops.some((o, i) => {
      const next = used[i] || o.call > deadline ? undefined : step(o, s);
      if (next === undefined) return false;
      used[i] = true;
      const found = search(next);
      used[i] = false;
      return found;
    });
  };
  return search(null);
}

test('agrees with brute force on small random histories with colliding values and many info ops', () => {
  const verdicts = { true: 0, false: 0 };
  for (let seed = 0; seed < 400; seed++) {
    const { events, ops } = generate(9, 1, 3, seed, { info: 0.3, domain: 3 });
    const reads = ops.filter((o) => o.f === 'read' && o.status === 'ok');
    if (seed % 2 && reads.length > 0) events[reads[seed % reads.length].completion].value = 1 + (seed % 3);
    const expected = bruteForce(events);
    assert.equal(checkLinearizable(events).linearizable, expected, JSON.stringify(events));
    verdicts[`${expected}`]++;
  }
  assert.ok(verdicts.true > 50 && verdicts.false > 50, JSON.stringify(verdicts));
});

// --- CLI ----------------------------------------------------------------------

test('check-history CLI exits 0, 1 and 2', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const dir = mkdtempSync(join(tmpdir(), 'check-history-'));
  const run = (file: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/check-history.ts', file], { cwd: root, encoding: 'utf8' });
  try {
    const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
    const good = run(write('good.json', JSON.stringify([...seq(0, 'write', 1), ...seq(1, 'read', null, 1)])));
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /^linearizable: true\n/);

    const bad = run(write('bad.json', JSON.stringify([...seq(0, 'write', 1), ...seq(0, 'write', 2), ...seq(1, 'read', null, 1)])));
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stdout, /^linearizable: false\n.*key "k"/);

    for (const file of [join(dir, 'missing.json'), write('junk.json', '[{'), write('shape.json', '[{"process":0}]')]) {
      const r = run(file);
      assert.equal(r.status, 2, `${file}: ${r.stdout}`);
      assert.match(r.stderr, /check-history: /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
