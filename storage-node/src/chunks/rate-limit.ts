// A byte-rate cap shared by concurrent users (repair fetches): each takes its bytes from a budget
// that refills at `bytesPerSecond`, waiting when it ran ahead. 0 means no cap.
export class RateLimit {
  readonly #bytesPerSecond: number;
  /** performance.now() at which the bytes taken so far are paid for. */
  #paidUntilMs = 0;

  constructor(bytesPerSecond: number) {
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** Accounts `bytes` and resolves once the cap allows them (at once while under it). */
  async take(bytes: number): Promise<void> {
    if (this.#bytesPerSecond <= 0) return;
    const now = performance.now();
    // Idle time does not pile up credit beyond one second's worth.
    this.#paidUntilMs = Math.max(this.#paidUntilMs, now - 1000) + (bytes / this.#bytesPerSecond) * 1000;
    const waitMs = this.#paidUntilMs - now;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
