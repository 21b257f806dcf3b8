// Helpers shared by the bench sections: the table every section prints a row into, percentiles,
// the machine's load, small polling helpers.
import os from 'node:os';

/** One printed line of the results table. */
export interface TableRow {
  readonly section: string;
  readonly what: string;
  readonly figure: string;
  /** Against what the machine allows, measured in the same run (a ratio), or empty. */
  readonly versus: string;
}

/** Collects the table rows and prints each as it comes. */
export class Table {
  readonly rows: TableRow[] = [];

  row(section: string, what: string, figure: string, versus = ''): void {
    this.rows.push({ section, what, figure, versus });
    console.log(`${section.padEnd(12)} ${what.padEnd(58)} ${figure.padEnd(34)} ${versus}`);
  }

  /** The whole table in Markdown, for README.md's Performance section. */
  markdown(): string {
    const escape = (text: string) => text.replaceAll('|', '\\|');
    const lines = ['| section | measurement | result | against the machine (same run) |', '| --- | --- | --- | --- |'];
    for (const r of this.rows) lines.push(`| ${escape(r.section)} | ${escape(r.what)} | ${escape(r.figure)} | ${escape(r.versus)} |`);
    return lines.join('\n');
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((sorted.length * p) / 100) - 1))];
}

/**
 * A failover pause: milliseconds from the kill to the first acknowledged write received after
 * the killed process was seen to exit (so never one the old leader sent). `acks` fills as the
 * writers go; past `giveUpMs` it throws with `failure()`.
 */
export async function pauseToFirstAck(acks: readonly number[], killedAt: number, exitedAt: number, giveUpMs: number, failure: () => string): Promise<number> {
  for (;;) {
    const next = acks.find((ackedAt) => ackedAt >= exitedAt);
    if (next !== undefined) return Math.round(next - killedAt);
    if (performance.now() - killedAt > giveUpMs) throw new Error(failure());
    await sleep(2);
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds to `digits` decimals (NaN stays NaN, and becomes null in JSON). */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Bytes per second in MB/s (10^6 bytes). */
export function mbPerSecond(bytes: number, ms: number): number {
  return round(bytes / 1e6 / (ms / 1000), 1);
}

export function ratio(value: number, baseline: number): number {
  return round(value / baseline, 2);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** 1, 5 and 15 minute load averages (the machines are shared: this says how busy it was). */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

/** Polls `check` every `intervalMs` until it returns true; false after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await sleep(intervalMs);
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function formatBytes(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}
