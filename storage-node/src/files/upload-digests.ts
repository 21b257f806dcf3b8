// The SHA-256 of a multipart upload's content (the completed version's native ETag), worked out
// while the parts arrive instead of all at CompleteMultipartUpload: each time a part is stored,
// the parts numbered 1, 2, 3, … that are stored by then are read back (verified) and hashed, in
// the background, one upload at a time. Completing then waits for what is left of that work and
// hashes only the parts it did not cover. SHA-256 cannot be combined from the parts' own hashes,
// so this moves the pass rather than saving it: off the critical path, overlapping the transfer.
//
// It lives in the leader's memory only: a new leader, a replaced part, a completion that lists
// other parts than 1..n, or an upload evicted past `uploadDigestsMax` just means that completing
// hashes more itself. Whatever it covered is checked part by part (number and SHA-256) at use.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { PartRecord } from '../metadata/multipart-statements.ts';
import { assert } from '../../../shared/assert.ts';

/** Uploads followed at once; the least recently stored-to goes first past it. */
export const uploadDigestsMax = 64;

/** How a part's bytes are fed to a hash (read back and verified, a chunk at a time). */
export type HashPart = (part: PartRecord, into: Hash) => Promise<void>;

/** A part as the digest covered it: its number and its content's SHA-256 at the time. */
interface CoveredPart {
  readonly partNumber: number;
  readonly sha256: string;
}

class RunningDigest {
  /** The parts hashed into `state`, numbered 1..n in order. */
  covered: CoveredPart[] = [];
  state: Hash = createHash('sha256');
  /** The background work, chained: one step at a time per upload. */
  work: Promise<void> = Promise.resolve();

  restart(): void {
    this.covered = [];
    this.state = createHash('sha256');
  }
}

export class UploadDigests {
  readonly #digests = new Map<string, RunningDigest>();
  readonly #partOf: (uploadId: string, partNumber: number) => PartRecord | null;
  readonly #hashPart: HashPart;

  constructor(partOf: (uploadId: string, partNumber: number) => PartRecord | null, hashPart: HashPart) {
    this.#partOf = partOf;
    this.#hashPart = hashPart;
  }

  /** Uploads followed now (for tests and metrics). */
  get size(): number {
    return this.#digests.size;
  }

  /** Part `partNumber` of `uploadId` was stored (and its entry applied here): extend the digest. */
  partStored(uploadId: string, partNumber: number): void {
    let digest = this.#digests.get(uploadId);
    if (digest === undefined) {
      digest = new RunningDigest();
      if (this.#digests.size >= uploadDigestsMax) this.#digests.delete(this.#digests.keys().next().value!);
    } else {
      this.#digests.delete(uploadId); // re-inserted below: most recently used last
    }
    this.#digests.set(uploadId, digest);
    const running = digest;
    running.work = running.work.then(() => {
      // A part the digest already covered was replaced by other bytes: stale from there on.
      const covered = running.covered[partNumber - 1];
      if (covered !== undefined && covered.sha256 !== this.#partOf(uploadId, partNumber)?.sha256) running.restart();
      return this.#advance(uploadId, running);
    }).catch(() => {
      // A chunk that cannot be read now: completing will hash the rest itself, and say why if it fails.
    });
  }

  /**
   * The hash of the longest prefix of `parts` the digest covered, to continue with the rest, and
   * how many parts that is; waits for the background work first. Forgets the upload.
   */
  async take(uploadId: string, parts: readonly PartRecord[]): Promise<{ hash: Hash; covered: number }> {
    const digest = this.#digests.get(uploadId);
    if (digest === undefined) return { hash: createHash('sha256'), covered: 0 };
    await digest.work;
    if (this.#digests.get(uploadId) === digest) this.#digests.delete(uploadId);
    const { covered } = digest;
    const agrees = covered.length <= parts.length && covered.every((c, i) => c.partNumber === parts[i].partNumber && c.sha256 === parts[i].sha256);
    // Only the state after all of `covered` is kept: a shorter match starts over.
    if (!agrees || covered.length === 0) return { hash: createHash('sha256'), covered: 0 };
    return { hash: digest.state.copy(), covered: covered.length };
  }

  /** The upload ended (completed, aborted, expired): nothing more to follow. */
  forget(uploadId: string): void {
    this.#digests.delete(uploadId);
  }

  /** Hashes the stored parts that come next in number order, as long as there are some. */
  async #advance(uploadId: string, digest: RunningDigest): Promise<void> {
    for (;;) {
      if (this.#digests.get(uploadId) !== digest) return; // evicted, taken or forgotten
      const partNumber = digest.covered.length + 1;
      const part = this.#partOf(uploadId, partNumber);
      if (part === null) return;
      const next = digest.state.copy();
      await this.#hashPart(part, next);
      // Replaced while it was being read: hash the new one on the next turn.
      if (this.#partOf(uploadId, partNumber)?.sha256 !== part.sha256) continue;
      assert(digest.covered.length === partNumber - 1, `upload digest of ${uploadId} moved under its own step`);
      digest.state = next;
      digest.covered.push({ partNumber, sha256: part.sha256 });
    }
  }
}
