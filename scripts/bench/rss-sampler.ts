// Peak resident memory of child processes over a stretch of time: the kernel's high-water mark
// (VmHWM, reset at the start by writing 5 to /proc/<pid>/clear_refs) and VmRSS sampled every
// `intervalMs` as a cross-check (and as the only figure where the reset is not allowed).
import fs from 'node:fs';
import { round } from './common.ts';

export interface PeakRss {
  readonly pid: number;
  /** The larger of the high-water mark and the highest sample, in MiB. */
  readonly peakMiB: number;
  readonly hwmMiB: number | null;
  readonly sampledPeakMiB: number | null;
  /** True when the high-water mark was reset at the start (so it covers this stretch only). */
  readonly hwmReset: boolean;
  /** VmRSS when sampling started (before the transfers): what the process holds with nothing moving. */
  readonly startMiB: number | null;
  /** peakMiB − startMiB: what the transfers added. */
  readonly growthMiB: number | null;
}

function readStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? null : Number(match[1]);
  } catch {
    return null; // gone, or not Linux
  }
}

export class RssSampler {
  readonly #pids: ReadonlyMap<string, number>;
  readonly #peakKiB = new Map<string, number>();
  readonly #reset = new Map<string, boolean>();
  readonly #startKiB = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(pids: ReadonlyMap<string, number>) {
    this.#pids = pids;
  }

  start(intervalMs = 100): void {
    for (const [name, pid] of this.#pids) {
      let reset = false;
      try {
        fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
        reset = true;
      } catch {
        // not allowed here: the sampled figure still holds
      }
      this.#reset.set(name, reset);
      const rss = readStatusKiB(pid, 'VmRSS');
      if (rss !== null) this.#startKiB.set(name, rss);
    }
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  stop(): Record<string, PeakRss> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#sample();
    const result: Record<string, PeakRss> = {};
    for (const [name, pid] of this.#pids) {
      const hwm = readStatusKiB(pid, 'VmHWM');
      const sampled = this.#peakKiB.get(name) ?? null;
      const reset = this.#reset.get(name) === true;
      const best = Math.max(reset && hwm !== null ? hwm : 0, sampled ?? 0);
      const start = this.#startKiB.get(name) ?? null;
      result[name] = {
        pid,
        peakMiB: round(best / 1024, 1),
        hwmMiB: hwm === null ? null : round(hwm / 1024, 1),
        sampledPeakMiB: sampled === null ? null : round(sampled / 1024, 1),
        hwmReset: reset,
        startMiB: start === null ? null : round(start / 1024, 1),
        growthMiB: start === null ? null : round((best - start) / 1024, 1),
      };
    }
    return result;
  }

  #sample(): void {
    for (const [name, pid] of this.#pids) {
      const rss = readStatusKiB(pid, 'VmRSS');
      if (rss !== null) this.#peakKiB.set(name, Math.max(this.#peakKiB.get(name) ?? 0, rss));
    }
  }
}
