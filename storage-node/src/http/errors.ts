// Typed errors to HTTP answers: `{"error":{"code","message"}}` with the right status.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { stopOnAssertion } from '../../../shared/assert.ts';
import { BodyIncompleteError, BodyTooLargeError } from '../blobs/chunker.ts';
import { NotLeaderError, OutcomeUnknownError, ProposalLostError, RaftTimeoutError } from '../raft-node/errors.ts';
import { FileError } from '../files/file-errors.ts';
import type { FileErrorCode } from '../files/file-errors.ts';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The status of each file service error. */
const fileErrorStatus: Record<FileErrorCode, ContentfulStatusCode> = {
  not_found: 404,
  precondition_failed: 412,
  idempotency_key_mismatch: 422,
  no_such_bucket: 404,
  no_such_source: 404,
  no_such_version: 404,
  no_such_upload: 404,
  invalid_part: 400,
  invalid_part_order: 400,
  entity_too_small: 400,
  x_amz_content_sha256_mismatch: 400,
  replication_failed: 503,
  upload_too_slow: 503,
  busy: 503,
  chunk_unavailable: 503,
  corrupt_content: 503,
  internal: 500,
};

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  if (status === 503) c.header('Retry-After', '1');
  return c.json({ error: { code, message } }, status);
}

function isOutOfDisk(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function onError(err: Error, c: Context): Response {
  // A broken invariant (in the Raft core, the driver, the state machine) stops the node: state
  // it guarded may be half-changed, so answering and serving on would spread the damage.
  stopOnAssertion(err, `${c.req.method} ${c.req.path}`);
  if (err instanceof HttpError) return errorResponse(c, err.status, err.code, err.message);
  if (err instanceof FileError) return errorResponse(c, fileErrorStatus[err.code], err.code, err.message);
  if (err instanceof NotLeaderError) return errorResponse(c, 503, 'no_leader', err.message);
  if (err instanceof ProposalLostError) return errorResponse(c, 503, 'proposal_lost', err.message);
  if (err instanceof OutcomeUnknownError) return errorResponse(c, 503, 'outcome_unknown', err.message);
  if (err instanceof RaftTimeoutError) return errorResponse(c, 503, 'timeout', `${err.message} (the outcome is unknown)`);
  if (err instanceof BodyTooLargeError) return errorResponse(c, 413, 'too_large', err.message);
  // A body that failed a check as it was read (request-parts.ts: its signed hash) says why.
  if (err instanceof BodyIncompleteError && err.cause instanceof HttpError) return errorResponse(c, err.cause.status, err.cause.code, err.cause.message);
  if (err instanceof BodyIncompleteError) return errorResponse(c, 400, 'incomplete_body', err.message);
  if (isOutOfDisk(err)) return errorResponse(c, 507, 'out_of_disk', err.message);
  console.error(`${c.req.method} ${c.req.path}:`, err);
  return errorResponse(c, 500, 'internal', err.message);
}
