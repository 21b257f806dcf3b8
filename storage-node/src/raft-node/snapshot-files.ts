import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotMeta } from '../raft/types.ts';
import { fsyncPathSync } from '../durability/fsync.ts';

/**
 * Snapshot files of one node: `<dir>/<index>-<term>.snap` for snapshots this node took or
 * adopted, `<dir>/incoming/…` for bytes streamed from a leader that the core has not accepted yet.
 */
export class SnapshotFiles {
  readonly #dir: string;
  readonly #incomingDir: string;
  #incomingSeq = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.#incomingDir = join(dir, 'incoming');
    mkdirSync(this.#incomingDir, { recursive: true });
    // Transfers cut off by a crash are worthless: the leader sends again.
    for (const name of readdirSync(this.#incomingDir)) rmSync(join(this.#incomingDir, name), { force: true });
  }

  pathFor(meta: Pick<SnapshotMeta, 'index' | 'term'>): string {
    return join(this.#dir, `${meta.index}-${meta.term}.snap`);
  }

  /** A fresh path for bytes arriving from a leader. */
  incomingPath(meta: Pick<SnapshotMeta, 'index' | 'term'>): string {
    return join(this.#incomingDir, `${meta.index}-${meta.term}.${++this.#incomingSeq}.part`);
  }


  /**
   * A fresh path for a snapshot this node takes itself. Outside the index-named files, so prune()
   * leaves it alone while it is being written; cleared at start like every transfer.
   */
  localPath(): string {
    return join(this.#incomingDir, `local-${++this.#incomingSeq}.part`);
  }

  /** Moves a file (written and fsync'd by its producer) into place, durably. */
  adopt(path: string, meta: Pick<SnapshotMeta, 'index' | 'term'>): string {
    const target = this.pathFor(meta);
    renameSync(path, target);
    fsyncPathSync(this.#dir);
    return target;
  }

  /** Deletes received bytes that will never be adopted. */
  discard(path: string): void {
    rmSync(path, { force: true });
  }

  exists(meta: Pick<SnapshotMeta, 'index' | 'term'>): boolean {
    return existsSync(this.pathFor(meta));
  }

  /** Deletes every snapshot file but the one for `keep`, and stale incoming transfers. */
  prune(keep: Pick<SnapshotMeta, 'index' | 'term'>): void {
    const keepName = `${keep.index}-${keep.term}.snap`;
    for (const name of readdirSync(this.#dir)) {
      if (name.endsWith('.snap') && name !== keepName) rmSync(join(this.#dir, name), { force: true });
    }
    for (const name of readdirSync(this.#incomingDir)) {
      const index = Number(name.split('-')[0]);
      if (index <= keep.index) rmSync(join(this.#incomingDir, name), { force: true });
    }
  }
}
