// Rebalancing, the deleting half: a chunk stored here whose holders no longer include this node
// (a member joined, the replication setting went down) is deleted once every current holder
// has it. Fetching onto the new holders is repair's job (each holder fetches what it lacks), so
// at no instant are there fewer copies than holders: the old copy goes only after the new ones
// exist. A pass is bounded, and runs only while this node is caught up with the leader.
import type { BlobClient } from '../blobs/blob-client.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { MetadataStateMachine } from '../metadata/metadata-state-machine.ts';
import type { Placement } from '../placement/placement.ts';
import type { ChunkGuard } from './chunk-guard.ts';

/** Misplaced copies deleted per pass at most (each costs a HEAD per holder). */
export const misplacedDeletesPerPassMax = 1000;

export interface MisplacedCollectorOptions {
  readonly blobs: Pick<BlobStore, 'list' | 'delete' | 'size'>;
  readonly metadata: Pick<MetadataStateMachine, 'chunkRefState'>;
  readonly placement: Pick<Placement, 'holders' | 'selfId' | 'everyMemberHolds'>;
  readonly blobClient: Pick<BlobClient, 'has'>;
  readonly guard: Pick<ChunkGuard, 'isHeld'>;
  readonly mayCollect: () => boolean;
  readonly onDeleted?: (hash: string, bytes: number) => void;
}

export interface MisplacedPass {
  readonly ran: boolean;
  /** Copies here that this node does not hold any more. */
  readonly misplaced: number;
  readonly deleted: number;
}

export class MisplacedCollector {
  readonly #options: MisplacedCollectorOptions;
  #running: Promise<MisplacedPass> | null = null;

  constructor(options: MisplacedCollectorOptions) {
    this.#options = options;
  }

  collect(): Promise<MisplacedPass> {
    this.#running ??= this.#pass().finally(() => (this.#running = null));
    return this.#running;
  }

  async #pass(): Promise<MisplacedPass> {
    const { blobs, metadata, placement, blobClient, guard } = this.#options;
    if (!this.#options.mayCollect()) return { ran: false, misplaced: 0, deleted: 0 };
    // No walk of the whole store (garbage collection already makes one per pass) when no copy
    // can be misplaced: the usual case of a cluster no larger than the replication setting.
    if (placement.everyMemberHolds()) return { ran: true, misplaced: 0, deleted: 0 };
    let misplaced = 0;
    let deleted = 0;
    for await (const hash of blobs.list()) {
      // Unreferenced chunks are garbage collection's (after its grace period).
      const row = metadata.chunkRefState(hash);
      if (row === null || row.refcount === 0) continue;
      const holders = placement.holders(hash);
      if (holders.includes(placement.selfId)) continue;
      misplaced++;
      if (deleted >= misplacedDeletesPerPassMax || guard.isHeld(hash)) continue;
      let everywhere = true;
      for (const holder of holders) {
        const has = await blobClient.has(holder, hash).catch(() => false);
        if (!has) {
          everywhere = false;
          break;
        }
      }
      // Checked again after the awaits: the members or the setting may have changed meanwhile.
      if (!everywhere || placement.holders(hash).includes(placement.selfId) || !this.#options.mayCollect()) continue;
      const size = (await blobs.size(hash)) ?? 0;
      if (placement.holders(hash).includes(placement.selfId)) continue;
      if (await blobs.delete(hash)) {
        deleted++;
        this.#options.onDeleted?.(hash, size);
      }
    }
    return { ran: true, misplaced, deleted };
  }
}
