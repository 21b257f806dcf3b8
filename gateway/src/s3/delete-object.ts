// DeleteObject: the native delete (a Raft entry). On a bucket whose versioning is Enabled (the
// default) the key's current version becomes a delete marker and its versions stay (native
// `DELETE ?keep-versions`); on a Suspended one the key's whole history goes (the plain native
// delete). A key that is not there is deleted all the same (204, as S3 answers; no marker is
// made); a bucket that is not there is NoSuchBucket. With a versionId, only that version or
// delete marker goes (native `DELETE ?version=N`): the newest entry left is then the key's
// state, deleted when it is a marker. `versionId=null` (S3's version of unversioned objects)
// deletes the key's whole history.
import { filePath } from './native-client.ts';
import { objectName } from './object-names.ts';
import { bucketExists, discard, noSuchBucket, requireBucketRecord, unexpectedAnswer } from './s3-call.ts';
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

/** What a delete did: the delete marker it made or removed, if it was one. */
export interface DeleteOutcome {
  /** The version id of the delete marker made (no versionId) or removed (a versionId naming one); null when none was. */
  readonly deleteMarkerVersionId: string | null;
}

/**
 * Deletes one version, or the key: with `keepHistory` (a versioned bucket) by a delete marker,
 * else its whole history. A key or version that is not there counts as deleted. Throws
 * NoSuchBucket when the bucket is not there.
 */
export async function deleteKey(call: S3Call, bucket: string, key: string, version: number | null, keepHistory: boolean): Promise<DeleteOutcome> {
  const name = objectName(bucket, key);
  const path = version !== null ? `${filePath(name)}?version=${version}` : keepHistory ? `${filePath(name)}?keep-versions` : filePath(name);
  const response = await call.native.request('DELETE', path, { signal: call.signal });
  if (response.status !== 204 && response.status !== 404) throw await unexpectedAnswer(response, `deleting ${name}${version === null ? '' : ` version ${version}`}`);
  await discard(response);
  if (response.status === 404 && !(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
  const marker = response.status === 204 && response.headers.get('x-dfs-delete-marker') === 'true';
  return { deleteMarkerVersionId: marker ? response.headers.get('x-dfs-version') : null };
}

export async function deleteObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const version = deletedVersionOf(call.query.get('versionId'));
  // Only a delete without a version id depends on the bucket's versioning.
  const keepHistory = version === null && call.query.get('versionId') === null && (await requireBucketRecord(call, bucket)).versioning === 'Enabled';
  const outcome = await deleteKey(call, bucket, key, version, keepHistory);
  const headers = new Headers();
  if (outcome.deleteMarkerVersionId !== null) headers.set('x-amz-delete-marker', 'true');
  const versionId = version === null ? outcome.deleteMarkerVersionId : String(version);
  if (versionId !== null) headers.set('x-amz-version-id', versionId);
  return new Response(null, { status: 204, headers });
}
