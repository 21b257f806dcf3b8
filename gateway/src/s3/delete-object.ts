// DeleteObject: the native delete (a Raft entry). A key that is not there is deleted all the
// same (204, as S3 answers); a bucket that is not there is NoSuchBucket.
import { filePath } from './native-client.ts';
import { objectName } from './object-names.ts';
import { bucketExists, discard, noSuchBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';

export async function deleteObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const response = await call.native.request('DELETE', filePath(name), { signal: call.signal });
  if (response.status !== 204 && response.status !== 404) throw await unexpectedAnswer(response, `deleting ${name}`);
  await discard(response);
  if (response.status === 404 && !(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
  return new Response(null, { status: 204 });
}
