// Reads the start of a body, up to a number of bytes, without ending it: a small body is then
// known whole (it goes inline), a larger one continues where the read stopped (prefix + rest),
// so at most `bytesMax` plus one piece of the body is held before the chunker takes over.
import { BodyIncompleteError } from '../blobs/chunker.ts';

export interface BodyPrefix {
  /** The bytes read: all of the body when `ended`. */
  readonly bytes: Buffer;
  readonly ended: boolean;
  /** The whole body again, from its first byte (the prefix, then what was not read yet). */
  readonly whole: AsyncIterable<Uint8Array>;
}

/** Reads until more than `bytesMax` bytes have arrived or the body ends. */
export async function readBodyPrefix(source: AsyncIterable<Uint8Array>, bytesMax: number, expectedLength?: number): Promise<BodyPrefix> {
  const iterator = source[Symbol.asyncIterator]();
  const pieces: Uint8Array[] = [];
  let received = 0;
  let ended = false;
  while (received <= bytesMax) {
    // A declared length that has arrived whole is the end: the HTTP parser delivers no more, and
    // waiting for the stream's end event costs a turn of the event loop on every small write.
    if (expectedLength !== undefined && received === expectedLength) {
      ended = true;
      break;
    }
    let next: IteratorResult<Uint8Array>;
    try {
      next = await iterator.next();
    } catch (err) {
      throw new BodyIncompleteError(received, expectedLength, { cause: err });
    }
    if (next.done === true) {
      ended = true;
      break;
    }
    pieces.push(next.value);
    received += next.value.length;
  }
  const bytes = Buffer.concat(pieces, received);
  const rest: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
  async function* whole(): AsyncGenerator<Uint8Array> {
    if (bytes.length > 0) yield bytes;
    if (!ended) yield* rest;
  }
  return { bytes, ended, whole: whole() };
}
