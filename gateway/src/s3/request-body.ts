// An upload's body as it goes on to the file service, checked on the way: aws-chunked decoded
// (chunk signatures verified), and its hex SHA-256 (x-amz-content-sha256), x-amz-checksum-* (as
// a header or a trailer) and Content-MD5 computed while it streams and compared at its end.
// The last piece read is held back until every check has passed, so the node never receives
// the whole body of a request that fails one: it sees the body cut short and stores nothing.
import { runningChecksum, isChecksumAlgorithm, isDigestBase64 } from './checksums.ts';
import type { ChecksumAlgorithm, RunningChecksum } from './checksums.ts';
import { S3Error } from './s3-errors.ts';
import { decodeAwsChunked } from './sigv4/aws-chunked.ts';
import type { PayloadSigning } from '../../../shared/sigv4/verify-request.ts';

const checksumHeaderPrefix = 'x-amz-checksum-';

export interface BodyPlan {
  readonly signing: PayloadSigning;
  /** The content's length (x-amz-decoded-content-length for aws-chunked, else Content-Length). */
  readonly length: number;
  /** A whole-object checksum sent as a header, checked at the end. */
  readonly checksumHeader: { readonly algorithm: ChecksumAlgorithm; readonly value: string } | null;
  /** The checksum the x-amz-trailer header announces, checked against the trailer's value. */
  readonly trailerAlgorithm: ChecksumAlgorithm | null;
  /** Content-MD5, base64. */
  readonly contentMd5: string | null;
}

function isChunked(signing: PayloadSigning): boolean {
  return signing.kind === 'streaming-signed' || signing.kind === 'streaming-unsigned-trailer';
}

function lengthHeader(headers: Headers, name: string): number {
  const text = headers.get(name);
  if (text === null) throw new S3Error('MissingContentLength', `You must provide the ${name} HTTP header.`);
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer`);
  return value;
}

function checksumAlgorithmOf(name: string): ChecksumAlgorithm {
  const algorithm = name.slice(checksumHeaderPrefix.length);
  if (algorithm === 'crc64nvme') throw new S3Error('NotImplemented', 'x-amz-checksum-crc64nvme is not supported yet; use CRC32, CRC32C, SHA1 or SHA256');
  if (!isChecksumAlgorithm(algorithm)) throw new S3Error('InvalidRequest', `${name} is not a checksum S3 knows`);
  return algorithm;
}

/** Reads the body's rules from the headers; refuses malformed or contradictory ones before a byte is read. */
export function planBody(headers: Headers, signing: PayloadSigning): BodyPlan {
  const length = lengthHeader(headers, isChunked(signing) ? 'x-amz-decoded-content-length' : 'content-length');
  let checksumHeader: BodyPlan['checksumHeader'] = null;
  headers.forEach((value, name) => {
    if (!name.startsWith(checksumHeaderPrefix) || name === 'x-amz-checksum-type' || name === 'x-amz-checksum-algorithm') return;
    const algorithm = checksumAlgorithmOf(name);
    if (checksumHeader !== null) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    if (!isDigestBase64(algorithm, value.trim())) throw new S3Error('InvalidRequest', `Value for ${name} header is invalid.`);
    checksumHeader = { algorithm, value: value.trim() };
  });
  const trailer = headers.get('x-amz-trailer')?.trim().toLowerCase() ?? null;
  let trailerAlgorithm: ChecksumAlgorithm | null = null;
  if (trailer !== null && trailer !== '') {
    if (signing.kind !== 'streaming-unsigned-trailer') throw new S3Error('InvalidRequest', `x-amz-trailer needs x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`);
    if (!trailer.startsWith(checksumHeaderPrefix)) throw new S3Error('InvalidRequest', `the trailer ${trailer} is not an x-amz-checksum-*`);
    trailerAlgorithm = checksumAlgorithmOf(trailer);
    if (checksumHeader !== null) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header or trailer, not both.');
  }
  const contentMd5 = headers.get('content-md5')?.trim() ?? null;
  if (contentMd5 !== null && !isDigestBase64('md5', contentMd5)) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.');
  return { signing, length, checksumHeader, trailerAlgorithm, contentMd5 };
}

/** The body, checked as it streams; `failure` says which check failed, `checksums` what was verified. */
export class VerifiedBody {
  readonly #source: AsyncIterable<Uint8Array>;
  readonly #plan: BodyPlan;
  #failure: S3Error | null = null;
  readonly #verified = new Map<ChecksumAlgorithm, string>();

  readonly #nodeChecksSha256: boolean;

  /** `nodeChecksSha256`: the body goes to a node that checks a signed hex SHA-256 itself. */
  constructor(source: AsyncIterable<Uint8Array>, plan: BodyPlan, options: { nodeChecksSha256?: boolean } = {}) {
    this.#source = source;
    this.#plan = plan;
    this.#nodeChecksSha256 = options.nodeChecksSha256 === true;
  }

  /** The hex SHA-256 the node must find the body to hash to, when the node checks it. */
  get sha256ForNode(): string | null {
    return this.#nodeChecksSha256 && this.#plan.signing.kind === 'sha256' ? this.#plan.signing.hex : null;
  }

  get length(): number {
    return this.#plan.length;
  }

  /** The check that refused the body, once one has. */
  get failure(): S3Error | null {
    return this.#failure;
  }

  /** The checksums the client sent that the body matched (base64), for the answer's headers. */
  get verifiedChecksums(): ReadonlyMap<ChecksumAlgorithm, string> {
    return this.#verified;
  }

  /** The checked bytes; consume once. It throws (and records `failure`) when a check fails. */
  async *stream(): AsyncGenerator<Uint8Array, void, undefined> {
    const plan = this.#plan;
    const trailers = new Map<string, string>();
    const decoded = isChunked(plan.signing)
      ? decodeAwsChunked(this.#source, { signing: plan.signing.kind === 'streaming-signed' ? plan.signing.chunks : null, onTrailer: (name, value) => trailers.set(name, value) })
      : this.#source;
    // A signed hex SHA-256 is checked by the node that stores the body, against the hash it
    // computes anyway (putVerified passes it on as x-amz-content-sha256): not hashed twice.
    const sha256 = plan.signing.kind === 'sha256' && !this.#nodeChecksSha256 ? runningChecksum('sha256') : null;
    const checksumAlgorithm = plan.checksumHeader?.algorithm ?? plan.trailerAlgorithm;
    const checksum: RunningChecksum | null = checksumAlgorithm === null ? null : runningChecksum(checksumAlgorithm);
    const md5 = plan.contentMd5 === null ? null : runningChecksum('md5');
    let bytes = 0;
    let held: Uint8Array | null = null;
    try {
      for await (const piece of decoded) {
        if (piece.byteLength === 0) continue;
        bytes += piece.byteLength;
        if (bytes > plan.length) throw new S3Error('IncompleteBody', `The body is longer than the ${plan.length} bytes its headers declare.`);
        sha256?.update(piece);
        checksum?.update(piece);
        md5?.update(piece);
        if (held !== null) yield held;
        held = piece;
      }
      if (bytes < plan.length) throw new S3Error('IncompleteBody', `You did not provide the number of bytes specified by the headers (${bytes} of ${plan.length}).`);
      if (sha256 !== null && plan.signing.kind === 'sha256') {
        const actual = Buffer.from(sha256.digestBase64(), 'base64').toString('hex');
        if (actual !== plan.signing.hex) {
          throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: plan.signing.hex, S3ComputedContentSHA256: actual });
        }
      }
      if (md5 !== null && md5.digestBase64() !== plan.contentMd5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      if (checksum !== null && checksumAlgorithm !== null) {
        const expected = plan.checksumHeader?.value ?? trailers.get(`x-amz-checksum-${checksumAlgorithm}`);
        if (expected === undefined) throw new S3Error('InvalidRequest', `The x-amz-checksum-${checksumAlgorithm} trailer announced by x-amz-trailer is missing.`);
        const actual = checksum.digestBase64();
        if (actual !== expected) throw new S3Error('BadDigest', `The ${checksumAlgorithm.toUpperCase()} you specified did not match the calculated checksum.`);
        this.#verified.set(checksumAlgorithm, actual);
      }
    } catch (err) {
      this.#failure = err instanceof S3Error ? err : new S3Error('IncompleteBody', `The request body failed: ${(err as Error).message}`);
      throw this.#failure;
    }
    if (held !== null) yield held;
  }
}

