// GetObject and HeadObject: the native read (Range passed on, so a range is read from the chunks
// it needs; partNumber as the native `?part=N`, the bytes of that part of a multipart object), the conditional headers decided on the version read, S3's headers on the answer.
// The body streams from the node with backpressure; every byte was verified by its SHA-256 there.
import { conditionsVerdict } from './conditions.ts';
import { filePath } from './native-client.ts';
import { objectName } from './object-names.ts';
import { S3Error } from './s3-errors.ts';
import { bucketExists, discard, noSuchBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { s3EtagHeader } from './s3-etags.ts';
import { setStoredHeaders } from './object-headers.ts';

/** Query parameters that set a header of the answer (S3's response-* overrides). */
const responseOverrides: Readonly<Record<string, string>> = {
  'response-content-type': 'Content-Type',
  'response-content-language': 'Content-Language',
  'response-expires': 'Expires',
  'response-cache-control': 'Cache-Control',
  'response-content-disposition': 'Content-Disposition',
  'response-content-encoding': 'Content-Encoding',
};

/** The native version number a `versionId` names (version ids are those numbers as strings), or null without one. */
export function versionOf(query: URLSearchParams): number | null {
  const text = query.get('versionId');
  if (text === null) return null;
  const version = Number(text);
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(version)) throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: text });
  return version;
}

/** Part numbers run from 1 to this (S3's limit). */
const partNumberMax = 10_000;

/** The part a `partNumber` names (a multipart object's part; 1 is a single-part object's whole), or null without one. */
export function partNumberOf(query: URLSearchParams, range: string | null): number | null {
  const text = query.get('partNumber');
  if (text === null) return null;
  const part = Number(text);
  if (!/^[1-9]\d*$/.test(text) || part > partNumberMax) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${partNumberMax}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: text });
  }
  if (range !== null) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
  return part;
}

/** The delete marker a native 404 met (`X-DFS-Delete-Marker`), with its version and time; null when none. */
export function deleteMarkerMet(headers: Headers): { versionId: string; lastModified: string } | null {
  if (headers.get('x-dfs-delete-marker') !== 'true') return null;
  return { versionId: headers.get('x-dfs-version') ?? '', lastModified: headers.get('last-modified') ?? '' };
}

/**
 * S3's answer to a read that meets a delete marker: the key's newest entry is one, 404 NoSuchKey;
 * a versionId naming one, 405 MethodNotAllowed. Both say which marker (x-amz-delete-marker,
 * x-amz-version-id, Last-Modified).
 */
export function deleteMarkerError(key: string, marker: { versionId: string; lastModified: string }, named: boolean): S3Error {
  const headers = { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker.versionId, 'Last-Modified': marker.lastModified };
  if (!named) return new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key }, headers);
  return new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: 'GET', ResourceType: 'DeleteMarker' }, { ...headers, Allow: 'DELETE' });
}

export async function getObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const head = call.method === 'HEAD';
  const range = call.headers.get('range');
  const version = versionOf(call.query);
  const part = partNumberOf(call.query, range);
  const query = [...(version === null ? [] : [`version=${version}`]), ...(part === null ? [] : [`part=${part}`])];
  const path = query.length === 0 ? filePath(name) : `${filePath(name)}?${query.join('&')}`;
  const response = await call.native.request(head ? 'HEAD' : 'GET', path, { headers: range === null ? {} : { range }, signal: call.signal });
  if (response.status === 404) {
    await discard(response);
    const marker = deleteMarkerMet(response.headers);
    if (marker !== null) throw deleteMarkerError(key, marker, version !== null);
    if (!(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
    if (version !== null) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: String(version) });
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
  }
  if (response.status !== 200 && response.status !== 206 && response.status !== 416) throw await unexpectedAnswer(response, `reading ${name}`);
  const etag = s3EtagHeader(response.headers);
  const nativeEtag = response.headers.get('etag') ?? '';
  const lastModified = response.headers.get('last-modified') ?? '';
  const verdict = conditionsVerdict(call.headers, etag, lastModified);
  if (verdict !== 'proceed' || response.status === 416) await discard(response);
  if (verdict === 'precondition-failed') throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match, If-Unmodified-Since' });
  if (verdict === 'not-modified') return new Response(null, { status: 304, headers: { ETag: etag, 'Last-Modified': lastModified } });
  if (response.status === 416 && part !== null) {
    throw new S3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', { PartNumberRequested: String(part), ActualPartCount: response.headers.get('x-dfs-parts-count') ?? '1' });
  }
  if (response.status === 416) {
    const size = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1] ?? '';
    throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: range ?? '', ActualObjectSize: size });
  }
  const out = new Headers({ ETag: etag, 'Last-Modified': lastModified, 'Accept-Ranges': 'bytes' });
  const versionRead = response.headers.get('x-dfs-version');
  if (versionRead !== null) out.set('x-amz-version-id', versionRead);
  for (const name of ['content-type', 'content-length', 'content-range']) {
    const value = response.headers.get(name);
    if (value !== null) out.set(name, value);
  }
  setStoredHeaders(response.headers, out);
  // Only for a multipart object read by partNumber, as S3 answers it.
  const partsCount = response.headers.get('x-dfs-parts-count');
  if (part !== null && partsCount !== null) out.set('x-amz-mp-parts-count', partsCount);
  for (const [parameter, header] of Object.entries(responseOverrides)) {
    const value = call.query.get(parameter);
    if (value !== null) out.set(header, value);
  }
  // The whole object's SHA-256 is its native ETag: clients that ask (x-amz-checksum-mode) verify it.
  const sha256Hex = /^"([0-9a-f]{64})"$/.exec(nativeEtag)?.[1];
  if (response.status === 200 && sha256Hex !== undefined && call.headers.get('x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
    out.set('x-amz-checksum-sha256', Buffer.from(sha256Hex, 'hex').toString('base64'));
    out.set('x-amz-checksum-type', 'FULL_OBJECT');
  }
  return new Response(head ? null : response.body, { status: response.status, headers: out });
}
