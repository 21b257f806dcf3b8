// Garbage collection of chunks. A chunk file is deleted only when all of these hold:
//  - no kept version refers to it: its row's refcount is 0 since at least the grace period (HLC
//    time of the entry that dropped it), or it has no row at all (an upload that failed);
//  - its file is older than the grace period (a fresh write or repair is never collected);
//  - no upload in flight on this node holds it and no push of it arrived within the grace
//    period (ChunkGuard): a push may belong to an upload on the leader not yet proposed;
//  - this process has been up for a whole grace period (the guard is in memory only).
// The last checks and the delete happen in one synchronous turn after the awaits, so no apply
// and no push can slip in between: forgetChunks() drops the row only if it is still at 0, and
// BlobStore.delete() claims the hash's lock before returning, ahead of any later write.
import { assert } from '../../../shared/assert.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import type { ChunkGuard } from './chunk-guard.ts';

export const gcGraceMsDefault = 60 * 60 * 1000;
export const gcIntervalMsDefault = 60 * 1000;
/** Unreferenced rows looked at per pass (the rest wait for the next pass). */
const rowsPerPassMax = 10_000;

export interface ChunkCollectorOptions {
  readonly blobs: Pick<BlobStore, 'fileInfo' | 'delete' | 'list'>;
  readonly metadata: Pick<MetadataStateMachine, 'unreferencedChunks' | 'chunkRefState' | 'forgetChunks'>;
  readonly guard: ChunkGuard;
  readonly graceMs: number;
  /** False skips a pass: e.g. while this node has not caught up with the leader. */
  readonly mayCollect?: () => boolean;
  readonly now?: () => number;
  readonly onDeleted?: (hash: string, bytes: number) => void;
}

export interface CollectResult {
  /** False when the pass did not run (too early after start, or mayCollect said no). */
  readonly ran: boolean;
  readonly deletedChunks: number;
  readonly deletedBytes: number;
  /** Rows at refcount 0 dropped whose file was already gone. */
  readonly forgottenRows: number;
}

export class ChunkCollector {
  readonly #options: ChunkCollectorOptions;
  readonly #now: () => number;
  readonly #startedMs: number;
  #running: Promise<CollectResult> | null = null;

  constructor(options: ChunkCollectorOptions) {
    assert(Number.isSafeInteger(options.graceMs) && options.graceMs >= 0, 'graceMs must be a non-negative integer');
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#startedMs = this.#now();
  }

  /** One pass; a call while a pass runs shares it. */
  collect(): Promise<CollectResult> {
    this.#running ??= this.#pass().finally(() => (this.#running = null));
    return this.#running;
  }

  async #pass(): Promise<CollectResult> {
    const { metadata, blobs, guard, graceMs } = this.#options;
    const now = this.#now();
    const result = { ran: false, deletedChunks: 0, deletedBytes: 0, forgottenRows: 0 };
    if (now - this.#startedMs < graceMs) return result;
    if (this.#options.mayCollect?.() === false) return result;
    result.ran = true;
    const cutoffMs = now - graceMs;
    guard.prune(cutoffMs);
    // Rows nothing refers to any more, oldest first.
    for (const row of metadata.unreferencedChunks(cutoffMs, rowsPerPassMax)) await this.#consider(row.hash, cutoffMs, result);
    // Files no row knows: chunks of uploads that never made it into an entry.
    for await (const hash of blobs.list()) {
      if (metadata.chunkRefState(hash) === null) await this.#consider(hash, cutoffMs, result);
    }
    return result;
  }

  async #consider(hash: string, cutoffMs: number, result: { deletedChunks: number; deletedBytes: number; forgottenRows: number }): Promise<void> {
    const { metadata, blobs, guard } = this.#options;
    if (guard.isProtected(hash, cutoffMs)) return;
    const file = await blobs.fileInfo(hash);
    if (file !== null && file.modifiedMs > cutoffMs) return;
    // From here to blobs.delete() nothing awaits: the decision and the delete are one turn.
    if (guard.isProtected(hash, cutoffMs)) return;
    const row = metadata.chunkRefState(hash);
    if (row === null) {
      if (file === null) return;
    } else {
      if (row.refcount > 0 || row.zeroSinceMs === null || row.zeroSinceMs > cutoffMs) return;
      if (metadata.forgetChunks([hash]).length === 0) return;
      if (file === null) {
        result.forgottenRows++;
        return;
      }
    }
    const deleting = blobs.delete(hash);
    if (await deleting) {
      result.deletedChunks++;
      result.deletedBytes += file.size;
      this.#options.onDeleted?.(hash, file.size);
    }
  }
}
