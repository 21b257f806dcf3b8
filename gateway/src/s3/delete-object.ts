// DeleteObject: the native delete (a Raft entry). A key that is not there is deleted all the
// same (204, as S3 answers); a bucket that is not there is NoSuchBucket. With a versionId, only
// that version goes (native `DELETE ?version=N`): the newest version left becomes current, and
// the key goes with its last version. `versionId=null` (S3's version of unversioned objects)
// deletes the key.
import { filePath } from './native-client.ts';
import { objectName } from './object-names.ts';
import { bucketExists, discard, noSuchBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { S3Error } from './s3-errors.ts';

/** The native version a DeleteObject's versionId names; null: the whole key. */
export function deletedVersionOf(versionId: string | null | undefined): number | null {
  if (versionId === null || versionId === undefined || versionId === 'null') return null;
  const version = Number(versionId);
  if (!/^[1-9]\d*$/.test(versionId) || !Number.isSafeInteger(version)) {
    throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId });
  }
  return version;
}

/**
 * Deletes the key, or one version of it; a key or version that is not there counts as deleted.
 * Throws NoSuchBucket when the bucket is not there.
 */
export async function deleteKey(call: S3Call, bucket: string, key: string, version: number | null): Promise<void> {
  const name = objectName(bucket, key);
  const path = version === null ? filePath(name) : `${filePath(name)}?version=${version}`;
  const response = await call.native.request('DELETE', path, { signal: call.signal });
  if (response.status !== 204 && response.status !== 404) throw await unexpectedAnswer(response, `deleting ${name}${version === null ? '' : ` version ${version}`}`);
  await discard(response);
  if (response.status === 404 && !(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
}

export async function deleteObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const version = deletedVersionOf(call.query.get('versionId'));
  await deleteKey(call, bucket, key, version);
  const headers = version === null ? undefined : { 'x-amz-version-id': String(version) };
  return new Response(null, { status: 204, headers });
}
