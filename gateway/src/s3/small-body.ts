// A small request body read whole (CreateBucket's configuration, DeleteObjects' key list), with
// the same checks as any upload: the payload hash, checksums, Content-MD5. Bounded: a longer one
// is refused before it is read.
import { planBody, VerifiedBody } from './request-body.ts';
import { S3Error } from './s3-errors.ts';
import type { S3Call } from './s3-call.ts';

/** The longest XML request document read by default, in bytes. */
export const smallBodyBytesMax = 64 * 1024;

export interface SmallBodyOptions {
  /** The longest body accepted, in bytes. */
  readonly bytesMax?: number;
  /** S3 requires Content-MD5 or an x-amz-checksum-* (header or trailer) on some operations (DeleteObjects). */
  readonly requireDigest?: boolean;
}

export async function readSmallBody(call: S3Call, options: SmallBodyOptions = {}): Promise<Buffer> {
  const bytesMax = options.bytesMax ?? smallBodyBytesMax;
  const headers = new Headers(call.headers);
  // No Content-Length on a request without a body means none.
  if (!headers.has('content-length') && !headers.has('x-amz-decoded-content-length')) headers.set('content-length', '0');
  const plan = planBody(headers, call.payload);
  if (plan.length > bytesMax) throw new S3Error('InvalidRequest', `The request body may have at most ${bytesMax} bytes.`);
  if (options.requireDigest === true && plan.contentMd5 === null && plan.checksumHeader === null && plan.trailerAlgorithm === null) {
    throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5 or x-amz-checksum-*.');
  }
  const pieces: Uint8Array[] = [];
  for await (const piece of new VerifiedBody(call.body, plan).stream()) pieces.push(piece);
  return Buffer.concat(pieces);
}
