// A request body that can be sent more than once. It is read from the client only as fast as the
// node takes it (backpressure), and every piece read is kept while the total stays within the
// limit, so a write whose leader failed can be replayed to the next one: the held pieces first,
// then the rest of the client's stream. Past the limit nothing is kept and the body can be sent
// only once.
import { assert } from '../../shared/assert.ts';

/** The client's body failed (the client went away): no node is to blame, nothing is retried. */
export class ClientBodyError extends Error {
  override readonly name = 'ClientBodyError';
}

/** A newer attempt took over this body; the old attempt's stream must not go on. */
class SupersededError extends Error {
  override readonly name = 'SupersededError';
}

const nothingMore: AsyncIterable<Uint8Array> = {
  [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }),
};

export class HeldBody {
  readonly #source: AsyncIterator<Uint8Array>;
  readonly #limitBytes: number;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #readBytes = 0;
  #overflowed = false;
  #ended = false;
  /** Pieces read from the client so far. */
  #pieces = 0;
  #reading: Promise<{ piece: Uint8Array; seq: number } | null> | null = null;
  #attempt = 0;
  #error: ClientBodyError | null = null;

  constructor(source: AsyncIterable<Uint8Array>, limitBytes: number) {
    this.#source = source[Symbol.asyncIterator]();
    this.#limitBytes = limitBytes;
  }

  /** A body read whole already (a small one): nothing more comes from the client. */
  static ofBytes(bytes: Uint8Array): HeldBody {
    const held = new HeldBody(nothingMore, bytes.byteLength);
    held.#held = [bytes];
    held.#heldBytes = bytes.byteLength;
    held.#readBytes = bytes.byteLength;
    held.#pieces = 1;
    held.#ended = true;
    return held;
  }

  /** Whether another attempt can send the whole body again. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  /** Whether the client's stream failed (then no node is to blame). */
  get clientFailed(): boolean {
    return this.#error !== null;
  }

  /** Bytes read from the client so far. */
  get readBytes(): number {
    return this.#readBytes;
  }

  /** Bytes held for a replay. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Reads the whole body into memory (for small bodies); false if it is over the limit. */
  async readAll(): Promise<boolean> {
    while (!this.#ended && !this.#overflowed) await this.#pull();
    return !this.#overflowed;
  }

  /** The whole body as one buffer, once readAll() has succeeded. */
  whole(): Uint8Array {
    assert(this.#ended && !this.#overflowed, 'whole() needs a fully held body');
    return this.#held.length === 1 ? this.#held[0] : Buffer.concat(this.#held, this.#heldBytes);
  }

  /**
   * A stream of the whole body for one attempt; it makes every earlier attempt's stream fail.
   * Only the first attempt may start once the body has overflowed.
   */
  stream(): AsyncIterable<Uint8Array> {
    assert(this.#attempt === 0 || !this.#overflowed, 'a body past the retry buffer cannot be sent twice');
    const attempt = ++this.#attempt;
    const held = this;
    return {
      async *[Symbol.asyncIterator]() {
        // Pieces of the body this attempt has passed on; while held, also its index in #held.
        let position = 0;
        for (;;) {
          if (attempt !== held.#attempt) throw new SupersededError('a newer attempt took over the body');
          if (!held.#overflowed && position < held.#held.length) {
            yield held.#held[position++];
            continue;
          }
          if (held.#ended) {
            if (position === held.#pieces) return;
            throw new SupersededError('the body outgrew the retry buffer during a replay');
          }
          const read = await held.#pull();
          if (read === null) continue; // ended: the check above decides
          if (!held.#overflowed) continue; // now in #held: the loop yields it from there
          if (attempt !== held.#attempt) continue;
          // Past the limit nothing is kept: this attempt goes on only if it lost no piece.
          if (read.seq !== position) throw new SupersededError('the body outgrew the retry buffer during a replay');
          position++;
          yield read.piece;
        }
      },
    };
  }

  /** Reads the next piece from the client (one read at a time, shared by every attempt). */
  #pull(): Promise<{ piece: Uint8Array; seq: number } | null> {
    if (this.#error !== null) return Promise.reject(this.#error);
    this.#reading ??= this.#source.next().then(
      (result) => {
        this.#reading = null;
        if (result.done === true) {
          this.#ended = true;
          return null;
        }
        const piece = result.value;
        const seq = this.#pieces++;
        this.#readBytes += piece.byteLength;
        if (!this.#overflowed && this.#heldBytes + piece.byteLength <= this.#limitBytes) {
          this.#held.push(piece);
          this.#heldBytes += piece.byteLength;
        } else if (!this.#overflowed) {
          this.#overflowed = true;
          this.#held = [];
          this.#heldBytes = 0;
        }
        return { piece, seq };
      },
      (err: unknown) => {
        this.#reading = null;
        this.#error = new ClientBodyError(`the client's body failed: ${(err as Error).message}`);
        throw this.#error;
      },
    );
    return this.#reading;
  }
}
