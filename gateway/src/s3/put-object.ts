// PutObject: the body streams through the checks (request-body.ts) into a native PUT, which
// answers only once the file is durable on a majority and its entry applied. A check that fails
// cuts the body before its end, so the node stores nothing; the client gets the check's error.
import { planBody } from './request-body.ts';
import { filePath } from './native-client.ts';
import { objectName } from './object-names.ts';
import { S3Error } from './s3-errors.ts';
import { discard, noSuchBucket, bucketExists, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { contentTypeOf } from './streams.ts';
import { putVerified } from './verified-upload.ts';
import { askS3Etag, s3EtagOf } from './s3-etags.ts';
import { storedHeadersOf } from './object-headers.ts';

interface FileJson {
  readonly etag: string;
  readonly s3Etag?: string;
  readonly version: number;
}

/** Conditional writes S3 supports (If-None-Match: *, If-Match), passed to the node, decided at apply time. */
export function writeConditions(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const ifNoneMatch = headers.get('if-none-match');
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() !== '*') throw new S3Error('NotImplemented', 'A PUT supports only If-None-Match: *.');
    out['if-none-match'] = '*';
  }
  const ifMatch = headers.get('if-match');
  if (ifMatch !== null) out['if-match'] = ifMatch;
  return out;
}

export async function putObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const plan = planBody(call.headers, call.payload);
  const conditions = writeConditions(call.headers);
  const stored = storedHeadersOf(call.headers);
  // The node refuses the put if the bucket is gone by the time it is applied (a DeleteBucket in between).
  // The node computes the content's MD5 as well: the S3 ETag.
  const headers = { ...stored, ...conditions, ...askS3Etag, 'content-type': contentTypeOf(call.headers), 'content-length': String(plan.length), 'x-dfs-require-bucket': bucket };
  // Checked first as well, so that a body for a missing bucket is not streamed to the leader for nothing.
  if (!(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
  const { response, verified } = await putVerified(call, filePath(name), plan, headers);
  if (response.status === 412) {
    await discard(response);
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: Object.keys(conditions).join(', ') });
  }
  if (response.status === 404) {
    await discard(response);
    throw noSuchBucket(bucket);
  }
  if (response.status !== 201) throw await unexpectedAnswer(response, `storing ${name}`);
  const file = (await response.json()) as FileJson;
  // Every put makes a new version: its native number is the S3 version id.
  const out = new Headers({ ETag: s3EtagOf(file), 'x-amz-version-id': String(file.version) });
  for (const [algorithm, value] of verified.verifiedChecksums) out.set(`x-amz-checksum-${algorithm}`, value);
  return new Response(null, { status: 200, headers: out });
}
