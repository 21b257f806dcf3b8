// A node-wide bound on the bytes that uploads hold in memory: the chunk each is filling, the
// chunks still being pushed to replicas, a small body read for inline storage. A new upload must
// get its first buffer at once (tryAcquire) or is refused (503 busy); an upload already admitted
// waits (acquire) for the next, since the chunks it and others have in flight free memory as
// their pushes end. Waiting uploads go first: no new upload is admitted while one waits.
import { assert } from '../../../shared/assert.ts';

export const uploadMemoryBytesMaxDefault = 256 * 1024 * 1024;
/**
 * The same kind of budget bounds what reads of chunked files hold (a verified chunk each, waiting
 * to go out): at least the largest chunk a store reads (16 MiB).
 */
export const downloadMemoryBytesMaxDefault = 256 * 1024 * 1024;

export class UploadMemoryBudget {
  readonly bytesMax: number;
  #inUse = 0;
  readonly #waiting: { readonly bytes: number; readonly grant: () => void }[] = [];

  constructor(bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 1, 'the upload memory budget must be a positive integer');
    this.bytesMax = bytesMax;
  }

  get bytesInUse(): number {
    return this.#inUse;
  }

  /** Takes `bytes` if they fit now and no upload waits; false otherwise. */
  tryAcquire(bytes: number): boolean {
    this.#check(bytes);
    if (this.#waiting.length > 0 || this.#inUse + bytes > this.bytesMax) return false;
    this.#inUse += bytes;
    return true;
  }

  /** Takes `bytes`, waiting (in arrival order) until they fit. */
  acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ bytes, grant: resolve }));
  }

  release(bytes: number): void {
    assert(Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= this.#inUse, `released ${bytes} bytes of ${this.#inUse} in use`);
    this.#inUse -= bytes;
    while (this.#waiting.length > 0 && this.#inUse + this.#waiting[0].bytes <= this.bytesMax) {
      const next = this.#waiting.shift()!;
      this.#inUse += next.bytes;
      next.grant();
    }
  }

  #check(bytes: number): void {
    assert(Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= this.bytesMax, `cannot hold ${bytes} bytes of a ${this.bytesMax}-byte budget`);
  }
}
