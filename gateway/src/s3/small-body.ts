// A small request body read whole (CreateBucket's configuration), with the same checks as any
// upload: the payload hash, checksums, Content-MD5. Bounded: a longer one is refused.
import { planBody, VerifiedBody } from './request-body.ts';
import { S3Error } from './s3-errors.ts';
import type { S3Call } from './s3-call.ts';

/** The longest XML request document read, in bytes. */
export const smallBodyBytesMax = 64 * 1024;

export async function readSmallBody(call: S3Call): Promise<Buffer> {
  const headers = new Headers(call.headers);
  // No Content-Length on a request without a body means none.
  if (!headers.has('content-length') && !headers.has('x-amz-decoded-content-length')) headers.set('content-length', '0');
  const plan = planBody(headers, call.payload);
  if (plan.length > smallBodyBytesMax) throw new S3Error('InvalidRequest', `The request body may have at most ${smallBodyBytesMax} bytes.`);
  const pieces: Uint8Array[] = [];
  for await (const piece of new VerifiedBody(call.body, plan).stream()) pieces.push(piece);
  return Buffer.concat(pieces);
}
