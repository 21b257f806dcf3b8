// Runs an async task every `intervalMs`, never two at once (the next run is timed from the end of
// the previous one). A failed run is reported and the schedule goes on.
import { assert } from '../../../shared/assert.ts';

export class PeriodicTask {
  readonly #intervalMs: number;
  readonly #run: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #current: Promise<void> | null = null;
  #stopped = false;

  constructor(intervalMs: number, run: () => Promise<void>, onError: (err: unknown) => void) {
    assert(Number.isSafeInteger(intervalMs) && intervalMs > 0, 'intervalMs must be a positive integer');
    this.#intervalMs = intervalMs;
    this.#run = run;
    this.#onError = onError;
  }

  start(): void {
    assert(this.#timer === null && this.#current === null && !this.#stopped, 'PeriodicTask started twice or after stop');
    this.#schedule();
  }

  /** No further runs; resolves once the run in progress (if any) has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#current;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#current = this.#run()
        .catch((err: unknown) => this.#onError(err))
        .finally(() => {
          this.#current = null;
          this.#schedule();
        });
    }, this.#intervalMs);
  }
}
