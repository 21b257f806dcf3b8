// The scrubber: a background pass that re-reads and verifies every stored chunk at a capped rate
// (--scrub-rate), so a copy that rotted on disk is found before a read needs it. A bad copy is
// quarantined by the store, which queues its repair (from a good copy on another holder). One
// pass after another, --scrub-interval-ms apart; /status shows the last full pass. After each
// pass `afterPass` runs (the node's repair scan: a copy deleted behind its back is found there).
import { ChunkCorruptError, type BlobStore } from '../blobs/blob-store.ts';

export interface ScrubPassReport {
  /** ISO 8601 end of the pass. */
  readonly finished: string;
  readonly seconds: number;
  readonly chunks: number;
  readonly bytes: number;
  /** Copies that failed verification (quarantined, repair queued). */
  readonly corrupt: number;
}

export interface ScrubberOptions {
  readonly blobs: Pick<BlobStore, 'list' | 'readChunk'>;
  /** Bytes per second read at most. */
  readonly bytesPerSecond: number;
  /** Pause between the end of a pass and the next. */
  readonly intervalMs: number;
  readonly onCorrupt?: (hash: string) => void;
  readonly onPass?: (report: ScrubPassReport) => void;
  readonly afterPass?: () => Promise<void>;
}

export class Scrubber {
  readonly #options: ScrubberOptions;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #last: ScrubPassReport | null = null;
  #totalCorrupt = 0;

  constructor(options: ScrubberOptions) {
    this.#options = options;
  }

  start(): void {
    this.#schedule(this.#options.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
  }

  status(): { readonly last_pass: ScrubPassReport | null; readonly corrupt_found: number } {
    return { last_pass: this.#last, corrupt_found: this.#totalCorrupt };
  }

  /** One whole pass now (tests, and the timer). */
  async pass(): Promise<ScrubPassReport> {
    const started = performance.now();
    let chunks = 0;
    let bytes = 0;
    let corrupt = 0;
    for await (const hash of this.#options.blobs.list()) {
      if (this.#stopped) break;
      try {
        const data = await this.#options.blobs.readChunk(hash);
        if (data === null) continue; // deleted while we walked
        chunks++;
        bytes += data.length;
      } catch (err) {
        if (!(err instanceof ChunkCorruptError)) throw err;
        corrupt++;
        this.#totalCorrupt++;
        this.#options.onCorrupt?.(hash);
      }
      // The rate cap: sleep off whatever this pass read ahead of its budget.
      const aheadMs = (bytes / this.#options.bytesPerSecond) * 1000 - (performance.now() - started);
      if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
    }
    const report = { finished: new Date().toISOString(), seconds: (performance.now() - started) / 1000, chunks, bytes, corrupt };
    if (!this.#stopped) {
      this.#last = report;
      this.#options.onPass?.(report);
      await this.#options.afterPass?.();
    }
    return report;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.pass().then(
        () => undefined,
        (err: unknown) => console.error('scrub pass failed:', err),
      );
      void this.#running.finally(() => this.#schedule(this.#options.intervalMs));
    }, delayMs);
  }
}
