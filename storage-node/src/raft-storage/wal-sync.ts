// fdatasync of an SQLite database's WAL file on the libuv thread pool, so that making the Raft
// log durable does not stop the event loop (a synchronous = FULL commit fsyncs inside the call).
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { assert } from '../../../shared/assert.ts';

/**
 * Why this is as durable as synchronous = FULL: a commit made with synchronous = NORMAL has
 * written every frame of the transaction to the WAL with write(2) when it returns, and fsync on
 * any descriptor of a file flushes all of that file's written data (POSIX: the file, not the
 * descriptor). SQLite keeps the WAL file (same inode) for as long as a connection is open: it
 * resets it by writing from the start again, never replaces it, and deletes it only when the
 * last connection closes. A crash before the sync loses a suffix of the WAL at most, and
 * recovery keeps the longest prefix of whole transactions.
 */
export class WalSync {
  /** The WAL of `sqlite`'s main database, or null when it has none (in-memory, not WAL mode). */
  static open(sqlite: Database.Database): WalSync | null {
    if (sqlite.memory) return null;
    const mode = sqlite.pragma('journal_mode', { simple: true });
    if (mode !== 'wal') return null;
    const path = `${sqlite.name}-wal`;
    // A WAL-mode connection has created the file by the time it has read the database.
    return new WalSync(path, fs.openSync(path, 'r'));
  }

  readonly #path: string;
  readonly #inode: number;
  #fd: number;
  /** An fdatasync is running; callers that came after it started wait for the next one. */
  #running = false;
  #waitingForNext: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #closing = false;
  #syncsStarted = 0;

  private constructor(path: string, fd: number) {
    this.#path = path;
    this.#fd = fd;
    this.#inode = fs.fstatSync(fd).ino;
  }

  /**
   * Resolves once everything written to the WAL before the call is on disk. Calls that arrive
   * while a sync runs share the one after it (group commit), so at most two are ever pending.
   */
  sync(): Promise<void> {
    assert(!this.#closing, 'WAL sync after close');
    // Were the WAL ever replaced under us, our descriptor would sync a file SQLite no longer uses.
    assert(fs.statSync(this.#path).ino === this.#inode, `${this.#path} was replaced while the database was open`);
    return new Promise((resolve, reject) => {
      this.#waitingForNext.push({ resolve, reject });
      if (!this.#running) this.#startSync();
    });
  }

  /** fdatasync calls made so far (fewer than sync() calls when they overlap). */
  get syncsStarted(): number {
    return this.#syncsStarted;
  }

  /** Closes the descriptor once the sync under way (and the one queued after it) has finished. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#running) this.#closeNow();
  }

  #startSync(): void {
    const waiters = this.#waitingForNext;
    this.#waitingForNext = [];
    this.#running = true;
    this.#syncsStarted++;
    fs.fdatasync(this.#fd, (error) => {
      this.#running = false;
      for (const waiter of waiters) {
        if (error === null) waiter.resolve();
        else waiter.reject(error);
      }
      if (this.#waitingForNext.length > 0) this.#startSync();
      else if (this.#closing) this.#closeNow();
    });
  }

  #closeNow(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}
