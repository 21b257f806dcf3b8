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
const UNOBSERVED = 1; // interned id of every value that no op ever checks for

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
 * For each info op, the previous info op with the same effect, or -1. Twins are
 * interchangeable, so the search places them in call order: then checking the
 * previous one is placed means all earlier ones are.
 */
function previousTwins(ops: readonly Operation[], steps: readonly Step[]): Int32Array {
  const last = new Map<string, number>();
  const prev = new Int32Array(ops.length).fill(-1);
  ops.forEach((op, i) => {
    if (op.status !== 'info') return;
    const effect = `${op.f} ${steps[i].a} ${steps[i].b}`;
    prev[i] = last.get(effect) ?? -1;
    last.set(effect, i);
  });
  return prev;
}

/**
 * Searches for a linearization of one key's ops; returns null when there is one.
 * Info ops may be left out (never took effect), and are only placed in a normal
 * form that loses no linearization: an info op must change the state, the next
 * op must notice that change, and of interchangeable info ops the earliest goes
 * first. Without this, unobserved info ops make failing searches exponential.
 */
function searchKey(ops: readonly Operation[], steps: readonly Step[], deadline: number): Failure | null {
  const head = buildList(ops);
  const hashes = randomHashes(ops.length);
  const isInfo = ops.map((op) => op.status === 'info');
  const twin = previousTwins(ops, steps);
  const bits = new Uint32Array((ops.length + 31) >>> 5);
  const okMask = new Uint32Array(bits.length);
  isInfo.forEach((info, i) => { if (!info) okMask[i >>> 5] |= 1 << (i & 31); });
  const placed = (i: number) => (bits[i >>> 5] & (1 << (i & 31))) !== 0;
  const cache = new Map<number, Array<{ bits: Uint32Array; state: number }>>();
  const stack: Array<{ entry: Entry; state: number }> = [];
  let remainingOk = ops.length - isInfo.filter(Boolean).length;
  let hash = 0; // of the ok ops placed; info ops are left out so subsumed sets share a slot
  let state = ABSENT;
  let best: Failure | null = null;
  let entry = head.next;
  let iterations = 0;

  /** Normal-form rules for placing op i (giving state `next`) now. */
  const allowed = (i: number, next: number): boolean => {
    if (isInfo[i] && (next === state || (twin[i] >= 0 && !placed(twin[i])))) return false;
    const top = stack[stack.length - 1];
    // If the info op on top made no difference to this op, it was pointless there.
    return !(top && isInfo[top.entry.op] && apply(steps[i], top.state) === next);
  };

  while (remainingOk > 0) {
    if ((++iterations & 0xfff) === 0 && Date.now() > deadline) throw new Timeout();
    // An unplaced ok op keeps its return in the list, so we meet it before the end.
    const e = entry!;
    if (e.isCall) {
      const i = e.op;
      const next = apply(steps[i], state);
      if (next >= 0 && allowed(i, next)) {
        bits[i >>> 5] |= 1 << (i & 31);
        let fresh = true;
        // Configurations just after an info op depend on it (rule above), so only
        // those after an ok op are memoised.
        if (!isInfo[i]) {
          hash ^= hashes[i];
          const slot = (hash ^ Math.imul(next + 1, 0x9e3779b1)) & 0x3fffffff;
          const seen = cache.get(slot);
          fresh = !seen || !seen.some((c) => c.state === next && subsumes(c.bits, bits, okMask));
          if (fresh) {
            if (seen) seen.push({ bits: bits.slice(), state: next });
            else cache.set(slot, [{ bits: bits.slice(), state: next }]);
          } else {
            hash ^= hashes[i];
          }
        }
        if (fresh) {
          stack.push({ entry: e, state });
          state = next;
          lift(e);
          if (!isInfo[i]) remainingOk--;
          entry = head.next;
          continue;
        }
        bits[i >>> 5] &= ~(1 << (i & 31)); // explored already, here or somewhere freer
      }
      entry = e.next;
    } else {
      // A return: its op must come before anything later, so backtrack.
      if (!best || stack.length > best.prefix.length) {
        best = { prefix: stack.map((s) => s.entry.op), state, blocked: e.op };
      }
      const top = stack.pop();
      if (!top) return best;
      const i = top.entry.op;
      state = top.state;
      bits[i >>> 5] &= ~(1 << (i & 31));
      unlift(top.entry);
      if (!isInfo[i]) {
        hash ^= hashes[i];
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

/** The register's value after running `prefix` (real values, not interned ids). */
function replay(ops: readonly Operation[], prefix: readonly number[]): JsonValue {
  let value: JsonValue = null;
  for (const i of prefix) {
    const op = ops[i];
    if (op.f === 'write') value = op.value;
    else if (op.f === 'cas') value = (op.value as JsonValue[])[1];
    else if (op.f === 'delete') value = null;
  }
  return value;
}

function explain(key: string, ops: readonly Operation[], steps: readonly Step[], f: Failure): string {
  const k = JSON.stringify(key);
  const op = ops[f.blocked];
  const value = replay(ops, f.prefix);
  const stateText = value === null ? 'absent' : formatValue(value);
  // Ok ops first: old info ops stay "concurrent" forever but are rarely the story.
  const rivals = ops.filter((o, i) => i !== f.blocked && o.call < op.return && o.return > op.call)
    .sort((x, y) => Number(x.status === 'info') - Number(y.status === 'info') || x.call - y.call);
  const nobody = rivals.length === 0 ? 'no operation was concurrent with it'
    : `no order of the ${rivals.length} concurrent operation(s) allows it`;
  const written = new Set(ops.map((o) => valueKey(o.f === 'cas' ? (o.value as JsonValue[])[1] : o.value)));
  let why: string;
  if (op.f === 'read' && op.output !== null && !written.has(valueKey(op.output))) {
    why = `read of ${k} returned ${formatValue(op.output)} at ${span(op)}, but no operation ever wrote that value`;
  } else if (apply(steps[f.blocked], f.state) >= 0) {
    why = `${describe(op)} could not be placed: every order of it and the ${rivals.length} operation(s) concurrent with it contradicts a later one`;
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
    lines.push(`Operations concurrent with it${rivals.length > 5 ? ` (first 5 of ${rivals.length})` : ''}:`);
    lines.push(...rivals.slice(0, 5).map((o) => `  ${describe(o)}`));
  }
  return lines.join('\n');
}

/**
 * Interns values per key so the search compares small integers. Values that no
 * read returns and no cas expects behave alike (only their non-nullness can
 * matter), so they share one id: fewer distinct states, more ops interchangeable.
 */
function compile(ops: readonly Operation[]): Step[] {
  const observed = new Map<string, number>([[valueKey(null), ABSENT]]);
  const see = (v: JsonValue) => { if (!observed.has(valueKey(v))) observed.set(valueKey(v), observed.size + 1); };
  for (const op of ops) {
    if (op.f === 'read') see(op.output);
    if (op.f === 'cas') see((op.value as JsonValue[])[0]);
  }
  const id = (v: JsonValue): number => observed.get(valueKey(v)) ?? UNOBSERVED;
  return ops.map((op): Step => {
    const v = op.value as JsonValue[];
    switch (op.f) {
      case 'read': return { f: op.f, a: id(op.output), b: -1 };
      case 'write': return { f: op.f, a: id(op.value), b: -1 };
      case 'cas': return { f: op.f, a: id(v[0]), b: id(v[1]) };
      case 'delete': return { f: op.f, a: -1, b: -1 };
    }
  });
}

export function checkLinearizable(events: readonly HistoryEvent[], options: CheckOptions = {}): CheckResult {
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
    const steps = compile(ops);
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
      return { linearizable: false, keysChecked, operations, failingKey: key, explanation: explain(key, ops, steps, failure) };
    }
  }
  return {
    linearizable: true, keysChecked, operations,
    explanation: `all ${operations} operation(s) on ${keysChecked} key(s) are linearizable`,
  };
}
