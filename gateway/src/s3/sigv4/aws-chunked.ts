// Decodes an aws-chunked body (Content-Encoding: aws-chunked): `<hex size>[;chunk-signature=<sig>]
// CRLF <data> CRLF` … a zero-size chunk, then trailer lines (`name:value` CRLF) and an empty line.
// With STREAMING-AWS4-HMAC-SHA256-PAYLOAD every chunk's signature is checked, each chained to the
// one before (the first to the request's signature), and a chunk's bytes are passed on only once
// its signature holds. Trailers go to the caller, which checks them.
import { S3Error } from '../s3-errors.ts';
import type { ChunkSigning } from '../../../../shared/sigv4/verify-request.ts';
import { emptySha256Hex, signHex, signaturesEqual } from '../../../../shared/sigv4/sigv4-crypto.ts';
import { createHash } from 'node:crypto';

/** The longest chunk header or trailer line accepted, in bytes. */
export const chunkLineBytesMax = 4096;
/** The largest signed chunk held in memory until its signature is checked (clients use 8–64 KiB). */
export const signedChunkBytesMax = 16 * 1024 * 1024;
/** Trailer lines accepted after the last chunk. */
const trailerLinesMax = 16;

export interface AwsChunkedOptions {
  /** Check every chunk's signature with this; null: the chunks carry none (unsigned trailer mode). */
  readonly signing: ChunkSigning | null;
  /** Called with each trailer (name lowercased, value trimmed) once the last chunk has been read. */
  readonly onTrailer: (name: string, value: string) => void;
}

function malformed(message: string): S3Error {
  return new S3Error('InvalidRequest', `malformed aws-chunked body: ${message}`);
}

/** Reads an async byte source by lines and counted bytes. */
class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>;
  #buffer: Buffer = Buffer.alloc(0);

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    const next = await this.#source.next();
    if (next.done === true) return false;
    const piece = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.#buffer = this.#buffer.length === 0 ? piece : Buffer.concat([this.#buffer, piece]);
    return true;
  }

  /** The next line without its CRLF. */
  async line(): Promise<string> {
    for (;;) {
      const end = this.#buffer.indexOf('\r\n');
      if (end !== -1) {
        if (end > chunkLineBytesMax) throw malformed(`a line is longer than ${chunkLineBytesMax} bytes`);
        const text = this.#buffer.subarray(0, end).toString('latin1');
        this.#buffer = this.#buffer.subarray(end + 2);
        return text;
      }
      if (this.#buffer.length > chunkLineBytesMax) throw malformed(`a line is longer than ${chunkLineBytesMax} bytes`);
      if (!(await this.#fill())) throw new S3Error('IncompleteBody', 'The request body ended inside an aws-chunked header line.');
    }
  }

  /** Up to `bytesMax` (>= 1) of the next bytes; throws when the body ends first. */
  async take(bytesMax: number): Promise<Buffer> {
    if (this.#buffer.length === 0 && !(await this.#fill())) throw new S3Error('IncompleteBody', 'The request body ended inside an aws-chunked chunk.');
    const count = Math.min(bytesMax, this.#buffer.length);
    const out = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return out;
  }

  async atEnd(): Promise<boolean> {
    return this.#buffer.length === 0 && !(await this.#fill());
  }
}

function parseChunkHeader(line: string, signed: boolean): { size: number; signature: string | null } {
  const [sizeText, ...extensions] = line.split(';');
  if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw malformed(`"${line.slice(0, 80)}" does not start with a hex chunk size`);
  const size = parseInt(sizeText, 16);
  let signature: string | null = null;
  for (const extension of extensions) {
    const at = extension.indexOf('=');
    if (at !== -1 && extension.slice(0, at).trim() === 'chunk-signature') signature = extension.slice(at + 1).trim();
  }
  if (signed && (signature === null || !/^[0-9a-f]{64}$/.test(signature))) throw malformed('a chunk lacks its chunk-signature');
  return { size, signature };
}

function chunkStringToSign(signing: ChunkSigning, previousSignature: string, dataSha256Hex: string): string {
  return ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, previousSignature, emptySha256Hex, dataSha256Hex].join('\n');
}

export async function* decodeAwsChunked(source: AsyncIterable<Uint8Array>, options: AwsChunkedOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = new ByteReader(source);
  const { signing } = options;
  let previousSignature = signing?.seedSignature ?? '';
  for (;;) {
    const header = parseChunkHeader(await reader.line(), signing !== null);
    if (signing !== null && header.size > signedChunkBytesMax) throw new S3Error('InvalidArgument', `a signed chunk of ${header.size} bytes is over the limit of ${signedChunkBytesMax}`);
    const hash = signing === null ? null : createHash('sha256');
    const held: Buffer[] = [];
    for (let left = header.size; left > 0; ) {
      const piece = await reader.take(left);
      left -= piece.length;
      if (hash === null) yield piece;
      else {
        hash.update(piece);
        held.push(piece);
      }
    }
    if (signing !== null) {
      const expected = signHex(signing.key, chunkStringToSign(signing, previousSignature, hash!.digest('hex')));
      if (!signaturesEqual(expected, header.signature!)) {
        throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the chunk-signature you provided.');
      }
      previousSignature = header.signature!;
      yield* held;
    }
    if (header.size === 0) break;
    if ((await reader.line()) !== '') throw malformed('a chunk is not followed by CRLF');
  }
  // The trailer section: `name:value` lines up to an empty line (or the end of the body).
  for (let lines = 0; ; lines++) {
    if (lines === 0 && (await reader.atEnd())) return;
    const line = await reader.line();
    if (line === '') break;
    if (lines >= trailerLinesMax) throw malformed(`more than ${trailerLinesMax} trailer lines`);
    const at = line.indexOf(':');
    if (at === -1) throw malformed(`trailer "${line.slice(0, 80)}" is not name:value`);
    options.onTrailer(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  if (!(await reader.atEnd())) throw malformed('bytes after the end of the aws-chunked body');
}
