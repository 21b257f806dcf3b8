// What the file service can refuse or fail with, by code; the HTTP layer gives each its status.
// (Bodies that end early or run too long are the chunker's BodyIncompleteError and BodyTooLargeError.)

export type FileErrorCode =
  | 'not_found'
  | 'precondition_failed'
  | 'idempotency_key_mismatch'
  /** The S3 bucket a put needs does not exist (X-DFS-Require-Bucket). */
  | 'no_such_bucket'
  /** The version a copy names is not kept (any more). */
  | 'no_such_source'
  | 'no_such_version'
  /** No multipart upload in progress has this id (or it is another file's). */
  | 'no_such_upload'
  /** A part a multipart completion lists was not uploaded, or has another ETag. */
  | 'invalid_part'
  /** A multipart completion's parts are not in ascending order. */
  | 'invalid_part_order'
  /** A part other than the last of a multipart completion is under the minimum size. */
  | 'entity_too_small'
  /** A chunk reached fewer than a majority of the nodes. */
  | 'replication_failed'
  /** The upload took longer than the chunk grace period. */
  | 'upload_too_slow'
  /** The node's upload memory budget is spent: retry shortly. */
  | 'busy'
  /** A chunk is neither here nor on any reachable node. */
  | 'chunk_unavailable'
  /** The body does not hash to the SHA-256 the client declared (x-amz-content-sha256). */
  | 'x_amz_content_sha256_mismatch'
  /** Stored bytes do not hash to their name. */
  | 'corrupt_content'
  /** The state machine gave no result (a bug). */
  | 'internal';

export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(
    readonly code: FileErrorCode,
    message: string,
  ) {
    super(message);
  }
}
