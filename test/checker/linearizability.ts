// Linearizability checker for a per-key register (write, cas, delete, read), in the
// style of Porcupine: Wing & Gong's search with Lowe's memoisation of
// (set of linearized ops, state), run on each key separately (P-compositionality).
import {
  formatValue, groupByKey, toOperations, valueKey,
  type HistoryEvent, type JsonValue, type Operation,
} from './history.ts';

export interface CheckOptions {
  /** Give up after this long; the result is then `linearizable: false, timedOut: true`. */
  timeoutMs?: number;
}

export interface CheckResult {
  linearizable: boolean;
  keysChecked: number;
  /** Operations that constrain the search: failed ops and info reads are dropped. */
  operations: number;
  explanation: string;
  failingKey?: string;
  timedOut?: boolean;
}

const ABSENT = 0; // interned id of null

/** One call or return in the time-ordered doubly linked list. */
interface Entry {
  op: number; // index into the key's op list
  match: Entry | null; // call -> its return (null for info: returns at +infinity); null on returns
  isCall: boolean;
  prev: Entry | null;
  next: Entry | null;
}

/** An op compiled for the hot loop: values interned to small integers. */
interface Step {
  f: Operation['f'];
  a: number; // write: value; cas: expected; read: value read
  b: number; // cas: new value
}

interface Failure {
  prefix: number[]; // longest linearizable prefix found (op indices, in order)
  state: number; // register state after it
  blocked: number; // the op whose return could not be passed
}

class Timeout extends Error {}

/** Register semantics; returns the new state, or -1 if the op cannot happen in `state`. */
function apply(s: Step, state: number): number {
  switch (s.f) {
    case 'read': return state === s.a ? state : -1;
    case 'write': return s.a;
    case 'cas': return state === s.a ? s.b : -1;
    case 'delete': return state !== ABSENT ? ABSENT : -1;
  }
}

/** Deterministic 30-bit random numbers (xorshift), so runs are reproducible. */
function randomHashes(n: number): Int32Array {
  const out = new Int32Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0x3fffffff;
  }
  return out;
}

function buildList(ops: readonly Operation[]): Entry {
  const timed: Array<{ t: number; e: Entry }> = [];
  ops.forEach((op, i) => {
    const call: Entry = { op: i, match: null, isCall: true, prev: null, next: null };
    timed.push({ t: op.call, e: call });
    if (op.return !== Infinity) {
      call.match = { op: i, match: null, isCall: false, prev: null, next: null };
      timed.push({ t: op.return, e: call.match });
    }
  });
  timed.sort((x, y) => x.t - y.t); // event indices are distinct, so no ties
  const head: Entry = { op: -1, match: null, isCall: false, prev: null, next: null };
  let last = head;
  for (const { e } of timed) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(e: Entry): void {
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
  const m = e.match;
  if (m) {
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  }
}

function unlift(e: Entry): void {
  const m = e.match;
  if (m) {
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
  }
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

/**
 * Is a cached configuration at least as free as the current one? Same ok ops
 * placed, and a subset of the info ops: info ops are optional and never block
 * anything, so whatever the current one can still do, the cached one could too.
 */
function subsumes(cached: Uint32Array, current: Uint32Array, okMask: Uint32Array): boolean {
  for (let i = 0; i < cached.length; i++) {
    if (((cached[i] & ~current[i]) | ((cached[i] ^ current[i]) & okMask[i])) !== 0) return false;
  }
  return true;
}

/**
 * Searches for a linearization of one key's ops. Info ops never need placing:
 * leaving one out means it never took effect. Returns null when linearizable.
 */
function searchKey(ops: readonly Operation[], steps: readonly Step[], deadline: number): Failure | null {
  const head = buildList(ops);
  const hashes = randomHashes(ops.length);
  const bits = new Uint32Array((ops.length + 31) >>> 5);
  const okMask = new Uint32Array(bits.length);
  ops.forEach((op, i) => { if (op.status === 'ok') okMask[i >>> 5] |= 1 << (i & 31); });
  const cache = new Map<number, Array<{ bits: Uint32Array; state: number }>>();
  const stack: Array<{ entry: Entry; state: number }> = [];
  let remainingOk = ops.filter((op) => op.status === 'ok').length;
  let hash = 0; // of the ok ops placed; info ops are left out so subsumed sets share a slot
  let state = ABSENT;
  let best: Failure | null = null;
  let entry = head.next;
  // Try ok ops before info ops at each step: the info-free configurations then
  // get cached first and subsume those that merely add (overwritten) info ops.
  let infoPhase = false;
  let iterations = 0;

  while (remainingOk > 0) {
    if ((++iterations & 0xfff) === 0 && Date.now() > deadline) throw new Timeout();
    // An unplaced ok op keeps its return in the list, so we meet it before the end.
    const e = entry!;
    if (e.isCall) {
      if ((ops[e.op].status === 'info') !== infoPhase) {
        entry = e.next;
        continue;
      }
      const next = apply(steps[e.op], state);
      if (next >= 0) {
        const word = e.op >>> 5, bit = 1 << (e.op & 31);
        const h = ops[e.op].status === 'ok' ? hashes[e.op] : 0;
        bits[word] |= bit;
        hash ^= h;
        const slot = (hash ^ Math.imul(next + 1, 0x9e3779b1)) & 0x3fffffff;
        let seen = cache.get(slot);
        if (!seen || !seen.some((c) => c.state === next && subsumes(c.bits, bits, okMask))) {
          if (!seen) cache.set(slot, (seen = []));
          seen.push({ bits: bits.slice(), state: next });
          stack.push({ entry: e, state });
          state = next;
          lift(e);
          if (ops[e.op].status === 'ok') remainingOk--;
          entry = head.next;
          infoPhase = false;
          continue;
        }
        bits[word] &= ~bit; // already explored from here, or from somewhere freer
        hash ^= h;
      }
      entry = e.next;
    } else if (!infoPhase) {
      infoPhase = true; // ok candidates exhausted; now the info ones
      entry = head.next;
    } else {
      // A return: its op must come before anything later, so backtrack.
      if (!best || stack.length > best.prefix.length) {
        best = { prefix: stack.map((s) => s.entry.op), state, blocked: e.op };
      }
      const top = stack.pop();
      if (!top) return best;
      state = top.state;
      bits[top.entry.op >>> 5] &= ~(1 << (top.entry.op & 31));
      unlift(top.entry);
      infoPhase = ops[top.entry.op].status === 'info';
      if (!infoPhase) {
        hash ^= hashes[top.entry.op];
        remainingOk++;
      }
      entry = top.entry.next;
    }
  }
  return null;
}

function span(op: Operation): string {
  return `[${op.call}, ${op.return === Infinity ? '∞' : op.return}]`;
}

function describe(op: Operation): string {
  const v = op.value as JsonValue[];
  const what =
    op.f === 'read' ? `read → ${op.output === null ? 'absent' : formatValue(op.output)}`
    : op.f === 'write' ? `write ${formatValue(op.value)}`
    : op.f === 'cas' ? `cas ${formatValue(v[0])}→${formatValue(v[1])}`
    : 'delete';
  return `${what} (process ${op.process}, ${span(op)}${op.status === 'info' ? ', info' : ''})`;
}

function explain(key: string, ops: readonly Operation[], steps: readonly Step[], values: readonly JsonValue[], f: Failure): string {
  const k = JSON.stringify(key);
  const op = ops[f.blocked];
  const stateText = f.state === ABSENT ? 'absent' : formatValue(values[f.state]);
  const placed = new Set(f.prefix);
  const rivals = ops.filter((o, i) => !placed.has(i) && i !== f.blocked && o.call < op.return);
  const nobody = `no order of the ${rivals.length} concurrent operation(s) allows it`;
  const written = new Set(steps.flatMap((s) => (s.f === 'write' ? [s.a] : s.f === 'cas' ? [s.b] : [])));
  let why: string;
  if (op.f === 'read' && op.output !== null && !written.has(steps[f.blocked].a)) {
    why = `read of ${k} returned ${formatValue(op.output)} at ${span(op)}, but no operation ever wrote that value`;
  } else if (apply(steps[f.blocked], f.state) >= 0) {
    why = `${describe(op)} could not be placed: every order of it and the ${rivals.length} concurrent operation(s) contradicts a later one`;
  } else if (op.f === 'read') {
    why = `read of ${k} returned ${op.output === null ? 'absent' : formatValue(op.output)} at ${span(op)}, but the value was ${stateText} and ${nobody}`;
  } else if (op.f === 'cas') {
    why = `cas of ${k} ${formatValue((op.value as JsonValue[])[0])}→${formatValue((op.value as JsonValue[])[1])} succeeded at ${span(op)}, but the value was ${stateText} and ${nobody}`;
  } else {
    why = `delete of ${k} succeeded at ${span(op)}, but the key was absent and ${nobody}`;
  }
  const lines = [
    `key ${k} is not linearizable (${ops.length} operations; times are event indices).`,
    why + '.',
    `Longest linearizable prefix: ${f.prefix.length} operation(s), leaving ${k} ${stateText}${f.prefix.length > 5 ? '; its last 5' : ''}:`,
    ...f.prefix.slice(-5).map((i) => `  ${describe(ops[i])}`),
  ];
  if (rivals.length > 0) {
    lines.push(`Concurrent operations tried:${rivals.length > 5 ? ` (first 5 of ${rivals.length})` : ''}`);
    lines.push(...rivals.slice(0, 5).map((o) => `  ${describe(o)}`));
  }
  return lines.join('\n');
}

/** Interns values per key so the search compares small integers. */
function compile(ops: readonly Operation[]): { steps: Step[]; values: JsonValue[] } {
  const ids = new Map<string, number>([[valueKey(null), ABSENT]]);
  const values: JsonValue[] = [null];
  const id = (v: JsonValue): number => {
    const k = valueKey(v);
    let n = ids.get(k);
    if (n === undefined) {
      ids.set(k, (n = values.length));
      values.push(v);
    }
    return n;
  };
  const steps = ops.map((op): Step => {
    const v = op.value as JsonValue[];
    switch (op.f) {
      case 'read': return { f: op.f, a: id(op.output), b: -1 };
      case 'write': return { f: op.f, a: id(op.value), b: -1 };
      case 'cas': return { f: op.f, a: id(v[0]), b: id(v[1]) };
      case 'delete': return { f: op.f, a: -1, b: -1 };
    }
  });
  return { steps, values };
}

export function checkLinearizable(events: HistoryEvent[], options: CheckOptions = {}): CheckResult {
  const deadline = Date.now() + (options.timeoutMs ?? Infinity);
  // fail = definitely did not happen; an info read constrains nothing.
  const relevant = toOperations(events).filter(
    (op) => op.status === 'ok' || (op.status === 'info' && op.f !== 'read'),
  );
  const byKey = groupByKey(relevant);
  let keysChecked = 0;
  let operations = 0;
  for (const [key, ops] of byKey) {
    keysChecked++;
    operations += ops.length;
    const { steps, values } = compile(ops);
    let failure: Failure | null;
    try {
      failure = searchKey(ops, steps, deadline);
    } catch (err) {
      if (!(err instanceof Timeout)) throw err;
      return {
        linearizable: false, keysChecked, operations, failingKey: key, timedOut: true,
        explanation: `timed out after ${options.timeoutMs} ms while checking key ${JSON.stringify(key)} (${ops.length} operations): result unknown`,
      };
    }
    if (failure) {
      return { linearizable: false, keysChecked, operations, failingKey: key, explanation: explain(key, ops, steps, values, failure) };
    }
  }
  return {
    linearizable: true, keysChecked, operations,
    explanation: `all ${operations} operation(s) on ${keysChecked} key(s) are linearizable`,
  };
}
