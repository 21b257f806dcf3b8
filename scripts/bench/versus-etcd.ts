// Our small-file figures next to etcd's from the same run, with the ratio ours / etcd's: rates
// (higher is better for us) and, for latencies and the failover pause, ours / etcd's too (lower is
// better for us). A ratio is null with the reason when either side is missing (etcd not installed,
// a section failed); it is never guessed.
import { ratio } from './common.ts';

/** What the bench learnt about etcd: its figures, or why there are none. */
export type EtcdResults =
  | { available: false; reason: string }
  | ({ available: true } & Partial<Record<'puts' | 'range' | 'failover', unknown>> & Record<string, unknown>);

interface Figures {
  readonly per_second?: number;
  readonly p50_ms: number;
  readonly p99_ms?: number;
  readonly max_ms?: number;
  readonly failed_writes?: number;
}

export interface Comparison {
  readonly load: string;
  readonly ours_is: string;
  readonly etcd_is: string;
  readonly ours: Figures | null;
  readonly etcd: Figures | null;
  /** ours / etcd's writes or reads per second; for the failover, of the p50 pause. */
  readonly ratio: number | null;
  /** ours / etcd's p99 latency (the failover: of the longest pause). */
  readonly tail_ratio: number | null;
  /** Why the ratio is null. */
  readonly absent?: string;
}

type Lookup = { figures: Figures } | { absent: string };

function dig(value: unknown, keys: readonly string[]): unknown {
  let at = value;
  for (const key of keys) at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

function errorOf(value: unknown): string | null {
  const error = dig(value, ['error']);
  return typeof error === 'string' ? error : null;
}

/** A load measurement (statsJson) at `keys` inside a section, or why it is missing. */
function loadFigures(section: unknown, keys: readonly string[], who: string): Lookup {
  const failed = errorOf(section) ?? errorOf(dig(section, keys));
  if (failed !== null) return { absent: `${who} failed: ${failed}` };
  const stats = dig(section, keys) as { writes_or_reads_per_second?: number; p50_ms?: number; p99_ms?: number } | undefined;
  if (stats?.writes_or_reads_per_second === undefined || stats.p50_ms === undefined) return { absent: `${who}: not measured in this run` };
  return { figures: { per_second: stats.writes_or_reads_per_second, p50_ms: stats.p50_ms, p99_ms: stats.p99_ms } };
}

function failoverFigures(section: unknown, who: string): Lookup {
  const failed = errorOf(section);
  if (failed !== null) return { absent: `${who} failed: ${failed}` };
  const f = section as { p50_ms?: number; max_ms?: number; failed_writes?: number } | undefined;
  if (f?.p50_ms === undefined) return { absent: `${who}: not measured in this run` };
  return { figures: { p50_ms: f.p50_ms, max_ms: f.max_ms, ...(f.failed_writes !== undefined ? { failed_writes: f.failed_writes } : {}) } };
}

function compare(load: string, oursIs: string, etcdIs: string, ours: Lookup, etcd: Lookup, failover = false): Comparison {
  const base = { load, ours_is: oursIs, etcd_is: etcdIs, ours: 'figures' in ours ? ours.figures : null, etcd: 'figures' in etcd ? etcd.figures : null };
  if (!('figures' in ours) || !('figures' in etcd)) {
    // etcd's reason first: "etcd not installed" says the most.
    const absent = [etcd, ours].flatMap((side) => ('absent' in side ? [side.absent] : [])).join('; ');
    return { ...base, ratio: null, tail_ratio: null, absent };
  }
  const o = ours.figures;
  const e = etcd.figures;
  const tail = (a?: number, b?: number) => (a === undefined || b === undefined ? null : ratio(a, b));
  return failover
    ? { ...base, ratio: ratio(o.p50_ms, e.p50_ms), tail_ratio: tail(o.max_ms, e.max_ms) }
    : { ...base, ratio: ratio(o.per_second!, e.per_second!), tail_ratio: tail(o.p99_ms, e.p99_ms) };
}

/**
 * Every comparison the run allows, keyed by name: only for the sections that ran
 * (`results` holds small_writes, small_reads and failover when they did).
 */
export function compareWithEtcd(results: Record<string, unknown>, etcd: EtcdResults): Record<string, Comparison> {
  const etcdSide = (part: 'puts' | 'range' | 'failover', keys: readonly string[]): Lookup => {
    if (!etcd.available) return { absent: etcd.reason };
    return part === 'failover' ? failoverFigures(etcd.failover, 'etcd') : loadFigures(etcd[part], keys, 'etcd');
  };
  const out: Record<string, Comparison> = {};
  if ('small_writes' in results) {
    const writes = results.small_writes;
    for (const c of [1, 16, 64]) {
      const etcdPuts = etcdSide('puts', [`concurrency_${c}`]);
      out[`writes_4kib_c${c}_leader`] = compare(`4 KiB writes, concurrency ${c}`, 'straight to the leader', 'put to its leader', loadFigures(writes, ['straight_to_leader', `concurrency_${c}`], 'ours'), etcdPuts);
      out[`writes_4kib_c${c}_gateway`] = compare(`4 KiB writes, concurrency ${c}`, 'through the gateway', 'put to its leader', loadFigures(writes, ['through_gateway', `concurrency_${c}`], 'ours'), etcdPuts);
    }
    out.writes_0b_c64_leader = compare('0-byte writes, concurrency 64', 'straight to the leader', '4 KiB put to its leader', loadFigures(writes, ['reference_empty_body_to_leader_concurrency_64'], 'ours'), etcdSide('puts', ['concurrency_64']));
  }
  if ('small_reads' in results) {
    const reads = results.small_reads;
    const c = (dig(reads, ['concurrency']) as number | undefined) ?? 64;
    for (const [ours, theirs] of [['linearizable', 'linearizable'], ['local', 'serializable']] as const) {
      const etcdRange = etcdSide('range', [theirs]);
      for (const [where, oursIs] of [['one_node', 'one node (the leader)'], ['spread', 'spread over the 3 nodes'], ['gateway', 'through the gateway']] as const) {
        out[`reads_4kib_c${c}_${ours}_${where}`] = compare(`4 KiB ${ours} reads, concurrency ${c}`, oursIs, `${theirs} range at its leader`, loadFigures(reads, [ours, where], 'ours'), etcdRange);
      }
    }
  }
  if ('failover' in results) {
    out.failover = compare('failover: kill -9 of the leader to the next acknowledged write', 'under 4 writers through the gateway', 'under 4 retrying clients', failoverFigures(results.failover, 'ours'), etcdSide('failover', []), true);
  }
  return out;
}

function figuresText(f: Figures | null, failover: boolean): string {
  if (f === null) return '—';
  if (failover) return `p50 ${f.p50_ms} ms, max ${f.max_ms} ms${f.failed_writes !== undefined ? `, ${f.failed_writes} failed writes` : ''}`;
  return `${f.per_second}/s, p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms`;
}

/** The comparisons as a Markdown table (for README.md's Performance section). */
export function comparisonMarkdown(comparisons: Record<string, Comparison>): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  const lines = ['| load | this project | ours | etcd (same run) | ours / etcd |', '| --- | --- | --- | --- | --- |'];
  for (const [key, c] of Object.entries(comparisons)) {
    const failover = key === 'failover';
    const ratioText = c.ratio === null
      ? `absent: ${c.absent ?? 'unknown'}`
      : failover
        ? `p50 ${c.ratio}×, max ${c.tail_ratio ?? '—'}×`
        : `${c.ratio}× (p99 ${c.tail_ratio ?? '—'}×)`;
    lines.push(`| ${escape(c.load)} | ${escape(c.ours_is)} | ${escape(figuresText(c.ours, failover))} | ${escape(c.etcd === null ? '—' : `${figuresText(c.etcd, failover)} (${c.etcd_is})`)} | ${escape(ratioText)} |`);
  }
  return lines.join('\n');
}
