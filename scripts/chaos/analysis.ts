// Pure analyses of a recorded run: lost acknowledged writes, unavailability windows, the counts
// of the report. No I/O here, so the unit tests can feed them made-up histories.
import type { JsonValue } from '../../test/checker/history.ts';
import type { OpKind, OpRecord, Outcome } from './recorder.ts';

export interface Violation {
  /** linearizability | lost-write | divergence | metadata | chunk | integrity | convergence | check | membership | crash */
  readonly kind: string;
  readonly key?: string;
  readonly node?: string;
  readonly message: string;
}

/** The value a mutation leaves behind (null: absent); undefined for a read. */
export function effectOf(op: Pick<OpRecord, 'f' | 'value'>): string | null | undefined {
  switch (op.f) {
    case 'write': return op.value as string;
    case 'cas': return (op.value as JsonValue[])[1] as string;
    case 'delete': return null;
    case 'read': return undefined;
  }
}

type Timed = Pick<OpRecord, 'id' | 'f' | 'kind' | 'value' | 'outcome' | 'invokeIndex' | 'completeIndex' | 'final' | 'process'>;

/**
 * Is the final value of a key one that its history allows, as far as acknowledged writes go?
 * The final value F must come from a mutation X that did not fail (or be the initial absence),
 * such that no acknowledged mutation leaving a different value began after X had finished —
 * such a mutation would come after X in every linearization and overwrite F. Values are unique
 * per write, so F cannot come back later. Returns the explanation of a lost write, or null.
 */
export function findLostWrite(ops: readonly Timed[], finalValue: string | null): string | null {
  const mutations = ops.filter((op) => op.f !== 'read' && !op.final && op.outcome !== 'fail');
  const acked = mutations.filter((op) => op.outcome === 'ok');
  /** The acknowledged mutations, leaving something other than F, that began after `endIndex`. */
  const laterThan = (endIndex: number) => acked.filter((y) => effectOf(y) !== finalValue && y.invokeIndex > endIndex);
  const candidates = mutations.filter((op) => effectOf(op) === finalValue);
  const plausible = candidates.some((x) => laterThan(x.completeIndex === null || x.outcome === 'info' ? Infinity : x.completeIndex).length === 0);
  if (plausible) return null;
  if (finalValue === null && laterThan(-1).length === 0) return null; // never written: absent from the start
  // The story: the acknowledged mutation that began last, against the newest candidate.
  const last = [...acked].filter((y) => effectOf(y) !== finalValue).sort((a, b) => b.invokeIndex - a.invokeIndex)[0];
  const what = (op: Timed) => `${op.kind} ${JSON.stringify(op.value)} (process ${op.process}, op ${op.id}, ${op.outcome})`;
  const source = candidates.length === 0
    ? finalValue === null ? 'no delete of it succeeded or was left unknown' : 'no operation wrote that value'
    : `every operation that could have left it (${candidates.slice(-3).map(what).join('; ')}) had finished before`;
  return `the final value is ${finalValue === null ? 'absent' : JSON.stringify(finalValue)}, but ${what(last)} was acknowledged and ${source}`;
}

export interface Window {
  readonly startMs: number;
  readonly endMs: number;
  readonly durationMs: number;
}

/**
 * Gaps longer than `thresholdMs` in which no operation of the kind was answered by the cluster
 * (an ok, or a 412/404 — a decision; a refused connection or a 503 is no answer), among the
 * operations sent through the gateway or all of them. Measured from the workload's start to its end.
 */
export function unavailableWindows(ops: readonly OpRecord[], which: 'write' | 'read', endMs: number, thresholdMs: number, via: 'gateway' | 'all'): Window[] {
  const answered = ops
    .filter((op) => !op.final && (which === 'read' ? op.f === 'read' : op.f !== 'read') && (via === 'all' || op.target === 'gateway'))
    .filter((op) => op.outcome === 'ok' || (op.outcome === 'fail' && op.status !== null))
    .map((op) => op.completeMs!)
    .sort((a, b) => a - b);
  const windows: Window[] = [];
  let previous = 0;
  for (const t of [...answered, endMs]) {
    if (t - previous >= thresholdMs) windows.push({ startMs: previous, endMs: t, durationMs: Math.round(t - previous) });
    previous = Math.max(previous, t);
  }
  return windows;
}

export type OpCounts = Record<OpKind, Record<Outcome, number>>;

export function countOps(ops: readonly OpRecord[]): OpCounts {
  const counts = {} as OpCounts;
  for (const kind of ['read', 'write', 'cas', 'create', 'delete'] as const) counts[kind] = { ok: 0, fail: 0, info: 0 };
  for (const op of ops) if (!op.final && op.outcome !== null) counts[op.kind][op.outcome]++;
  return counts;
}

/** Ops per node (or gateway) they were sent to, with how many were ok. */
export function countTargets(ops: readonly OpRecord[]): Record<string, { sent: number; ok: number }> {
  const out: Record<string, { sent: number; ok: number }> = {};
  for (const op of ops) {
    if (op.final) continue;
    const entry = (out[op.target] ??= { sent: 0, ok: 0 });
    entry.sent++;
    if (op.outcome === 'ok') entry.ok++;
  }
  return out;
}
