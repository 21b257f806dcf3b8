// A client's body sent on to a node while it is verified (payload hash, chunk signatures,
// checksums): PutObject and UploadPart. The last piece is held back until every check passed, so
// a body that fails one reaches the node cut short and is never stored. A signed hex SHA-256 is
// the one check left to the node: it hashes the content anyway (its ETag) and stores nothing
// when the two differ, so the gateway does not spend a hash pass of its own on it.
import type { BodyPlan } from './request-body.ts';
import { VerifiedBody } from './request-body.ts';
import { discard } from './s3-call.ts';
import { S3Error } from './s3-errors.ts';
import type { S3Call } from './s3-call.ts';

export interface VerifiedUpload {
  /** The node's answer; its body is still to be read. */
  readonly response: Response;
  /** The body's checks: its verifiedChecksums go into the answer's headers. */
  readonly verified: VerifiedBody;
}

/** PUTs the verified body to `path` on the node; a failed check is thrown as its S3 error. */
export async function putVerified(call: S3Call, path: string, plan: BodyPlan, headers: Record<string, string>): Promise<VerifiedUpload> {
  const verified = new VerifiedBody(call.body, plan, { nodeChecksSha256: true });
  const sha256 = verified.sha256ForNode;
  if (sha256 !== null) headers = { ...headers, 'x-amz-content-sha256': sha256 };
  let body: AsyncIterable<Uint8Array> | null = null;
  if (plan.length === 0) {
    // Nothing to hold back from the node: check the (empty) body before the write.
    for await (const _ of verified.stream());
  } else {
    body = verified.stream();
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
  if (sha256 !== null && response.status === 400) {
    const answer = (await response.clone().json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    if (answer?.error?.code === 'x_amz_content_sha256_mismatch') {
      await discard(response);
      const computed = /SHA-256 is ([0-9a-f]{64})/.exec(answer.error.message ?? '')?.[1];
      throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: sha256, ...(computed === undefined ? {} : { S3ComputedContentSHA256: computed }) });
    }
  }
  return { response, verified };
}
