// What every S3 operation handler gets: the client's request (verified), the native API, and
// the helpers that turn native answers into S3 answers.
import { S3Error } from './s3-errors.ts';
import type { NativeClient } from './native-client.ts';
import { nativeError } from './native-client.ts';
import type { PayloadSigning } from '../../../shared/sigv4/verify-request.ts';

export interface S3Call {
  readonly method: string;
  readonly headers: Headers;
  readonly query: URLSearchParams;
  /** The client's body as it arrives (not yet checked: see request-body.ts). */
  readonly body: AsyncIterable<Uint8Array>;
  /** How the body is signed, from the verified signature. */
  readonly payload: PayloadSigning;
  readonly region: string;
  readonly native: NativeClient;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}

/** Discards an answer's body (a stream left unread would hold its connection to the node). */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** A native answer no handler expected, as the S3 error that says the most. */
export async function unexpectedAnswer(response: Response, what: string): Promise<S3Error> {
  return answerError(response.status, await nativeError(response), what);
}

/** A native refusal already read (status, code, message), as the S3 error that says the most. */
export function answerError(status: number, { code, message }: { code: string; message: string }, what: string): S3Error {
  const text = `${what}: the cluster answered ${status} ${code}: ${message}`;
  if (status === 503) return new S3Error('ServiceUnavailable', `${text}. Please retry.`);
  if (status === 413) return new S3Error('EntityTooLarge', text);
  if (status === 400 && code === 'incomplete_body') return new S3Error('IncompleteBody', text);
  if (status === 400 && code === 'metadata_too_large') return new S3Error('MetadataTooLarge', text);
  if (status === 400) return new S3Error('InvalidArgument', text);
  return new S3Error('InternalError', text);
}

/** A bucket's record as the native `/buckets/<name>` answers it. */
export interface BucketRecord {
  readonly name: string;
  readonly created: string;
  /** S3's versioning state: Enabled (the default) or Suspended. */
  readonly versioning: 'Enabled' | 'Suspended';
}

/** A bucket's record (a linearizable read), or null when there is no such bucket. */
export async function readBucket(call: S3Call, bucket: string): Promise<BucketRecord | null> {
  const response = await call.native.request('GET', `/buckets/${bucket}`, { signal: call.signal });
  if (response.status === 200) return (await response.json()) as BucketRecord;
  if (response.status === 404) {
    await discard(response);
    return null;
  }
  throw await unexpectedAnswer(response, `reading the bucket ${bucket}`);
}

/** Whether a bucket exists (a linearizable read of its record). */
export async function bucketExists(call: S3Call, bucket: string): Promise<boolean> {
  return (await readBucket(call, bucket)) !== null;
}

/** A bucket's record; NoSuchBucket when there is none. */
export async function requireBucketRecord(call: S3Call, bucket: string): Promise<BucketRecord> {
  const record = await readBucket(call, bucket);
  if (record === null) throw noSuchBucket(bucket);
  return record;
}

export function noSuchBucket(bucket: string): S3Error {
  return new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
}

export async function requireBucket(call: S3Call, bucket: string): Promise<void> {
  if (!(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
}
