// A client's body sent on to a node while it is verified (payload hash, chunk signatures,
// checksums): PutObject and UploadPart. The last piece is held back until every check passed, so
// a body that fails one reaches the node cut short and is never stored.
import type { BodyPlan } from './request-body.ts';
import { VerifiedBody } from './request-body.ts';
import { discard } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { readableOf } from './streams.ts';

export interface VerifiedUpload {
  /** The node's answer; its body is still to be read. */
  readonly response: Response;
  /** The body's checks: its verifiedChecksums go into the answer's headers. */
  readonly verified: VerifiedBody;
}

/** PUTs the verified body to `path` on the node; a failed check is thrown as its S3 error. */
export async function putVerified(call: S3Call, path: string, plan: BodyPlan, headers: Record<string, string>): Promise<VerifiedUpload> {
  const verified = new VerifiedBody(call.body, plan);
  let body: ReadableStream<Uint8Array> | null = null;
  if (plan.length === 0) {
    // Nothing to hold back from the node: check the (empty) body before the write.
    for await (const _ of verified.stream());
  } else {
    body = readableOf(verified.stream());
  }
  let response: Response;
  try {
    response = await call.native.request('PUT', path, { headers, body, signal: call.signal });
  } catch (err) {
    throw verified.failure ?? err;
  }
  if (verified.failure !== null) {
    await discard(response);
    throw verified.failure;
  }
  return { response, verified };
}
