// ListObjectsV2 and ListObjects (V1) over the native listing (`GET /files?prefix=&after=`, name
// order = UTF-8 byte order, as S3 lists). With a delimiter, keys that share a common prefix are
// rolled into one CommonPrefixes entry, and the listing jumps past them instead of reading them
// all. Keys and common prefixes together count towards max-keys. A continuation token is the
// cursor to go on after, encoded; V1's marker is a key to start after.
import { nameBytesMax } from '../../../shared/names.ts';
import { NativeClient } from './native-client.ts';
import { S3Error } from './s3-errors.ts';
import { noSuchBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { xmlDocument } from './s3-xml.ts';
import type { XmlElement } from './s3-xml.ts';
import { xmlResponse } from './s3-response.ts';
import { rootOwner } from './bucket-handlers.ts';
import { askS3Etag, s3EtagOf } from './s3-etags.ts';

/** The most keys one answer lists (S3's cap on max-keys). */
export const listKeysMax = 1000;
/** Names asked of the node per page. */
export const nativePageNames = 1000;
/** Native pages one answer reads at most; past it the answer is cut short (IsTruncated) where it got to. */
export const nativePagesMax = 2 * listKeysMax + 2;
/** The largest code point: a name made of a prefix and enough of these sorts after every name under the prefix. */
const highestCharacter = String.fromCodePoint(0x10ffff);

export interface NativeFile {
  readonly name: string;
  readonly size: number;
  readonly etag: string;
  readonly s3Etag?: string;
  readonly modified: string;
}

interface ListRequest {
  readonly bucket: string;
  readonly prefix: string;
  readonly delimiter: string | null;
  readonly maxKeys: number;
  /** List keys after this one (exclusive); '' for the start. */
  readonly after: string;
}

interface ListOutcome {
  readonly contents: NativeFile[];
  readonly commonPrefixes: string[];
  readonly truncated: boolean;
  /** Where a next request goes on from (a key, or past a common prefix). */
  readonly cursor: string;
  /** The last key or common prefix listed (V1's NextMarker). */
  readonly lastListed: string | null;
}

/** A cursor after every key that starts with `prefix` (names have at most nameBytesMax bytes). */
export function pastPrefix(bucket: string, prefix: string): string {
  const room = nameBytesMax - Buffer.byteLength(`${bucket}/${prefix}`);
  return prefix + highestCharacter.repeat(Math.max(1, Math.ceil(room / 4) + 1));
}

async function collect(call: S3Call, request: ListRequest): Promise<ListOutcome> {
  const { bucket, prefix, delimiter, maxKeys } = request;
  const contents: NativeFile[] = [];
  const commonPrefixes: string[] = [];
  let cursor = request.after;
  let lastListed: string | null = null;
  if (maxKeys === 0) return { contents, commonPrefixes, truncated: false, cursor, lastListed };
  for (let pages = 0; pages < nativePagesMax; pages++) {
    const query = new URLSearchParams({ prefix: `${bucket}/${prefix}`, limit: String(nativePageNames) });
    if (cursor !== '') query.set('after', `${bucket}/${cursor}`);
    const response = await call.native.request('GET', `/files?${query.toString()}`, { headers: askS3Etag, signal: call.signal });
    if (response.status !== 200) throw await unexpectedAnswer(response, `listing the bucket ${bucket}`);
    const page = await NativeClient.json<{ files: NativeFile[]; next: string | null }>(response);
    for (const file of page.files) {
      const key = file.name.slice(bucket.length + 1);
      const at = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length);
      if (at === -1) {
        if (contents.length + commonPrefixes.length === maxKeys) return { contents, commonPrefixes, truncated: true, cursor, lastListed };
        contents.push(file);
        cursor = key;
        lastListed = key;
        continue;
      }
      const common = key.slice(0, at + delimiter!.length);
      // Listed already: in this answer, or it is the marker itself (V1's NextMarker names a common
      // prefix). A marker inside a common prefix still lists it, for the keys after the marker.
      if (common === commonPrefixes[commonPrefixes.length - 1] || common === request.after) {
        cursor = pastPrefix(bucket, common);
        continue;
      }
      if (contents.length + commonPrefixes.length === maxKeys) return { contents, commonPrefixes, truncated: true, cursor, lastListed };
      commonPrefixes.push(common);
      cursor = pastPrefix(bucket, common);
      lastListed = common;
    }
    // The node had nothing after this page: whatever the cursor skipped, the listing is complete.
    if (page.next === null) return { contents, commonPrefixes, truncated: false, cursor, lastListed };
  }
  return { contents, commonPrefixes, truncated: true, cursor, lastListed };
}

export function maxKeysOf(query: URLSearchParams): number {
  const text = query.get('max-keys');
  if (text === null) return listKeysMax;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: text });
  return Math.min(value, listKeysMax);
}

export function encoderOf(query: URLSearchParams): (text: string) => string {
  const type = query.get('encoding-type');
  if (type === null) return (text) => text;
  if (type !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: type });
  return (text) => encodeURIComponent(text).replace(/%2F/g, '/');
}

export function encodeToken(cursor: string): string {
  return Buffer.from(cursor, 'utf8').toString('base64url');
}

export function decodeToken(token: string): string {
  const cursor = Buffer.from(token, 'base64url').toString('utf8');
  if (token === '' || encodeToken(cursor) !== token) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  return cursor;
}

function contentsXml(files: readonly NativeFile[], bucket: string, encode: (text: string) => string, owner: boolean): XmlElement[] {
  return files.map((file) => ({
    Key: encode(file.name.slice(bucket.length + 1)),
    LastModified: file.modified,
    ETag: s3EtagOf(file),
    Size: file.size,
    ...(owner ? { Owner: rootOwner } : {}),
    StorageClass: 'STANDARD',
  }));
}

/** The bucket's existence, read alongside the first page (a missing bucket lists nothing anyway). */
async function listing(call: S3Call, request: ListRequest): Promise<ListOutcome> {
  const [exists, outcome] = await Promise.all([
    call.native.request('GET', `/buckets/${request.bucket}`, { signal: call.signal }),
    collect(call, request),
  ]);
  const status = exists.status;
  if (status !== 200 && status !== 404) throw await unexpectedAnswer(exists, `reading the bucket ${request.bucket}`);
  await exists.body?.cancel().catch(() => undefined);
  if (status === 404) throw noSuchBucket(request.bucket);
  return outcome;
}

export async function listObjectsV2(call: S3Call, bucket: string): Promise<Response> {
  const { query } = call;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || null;
  const maxKeys = maxKeysOf(query);
  const encode = encoderOf(query);
  const token = query.get('continuation-token');
  const startAfter = query.get('start-after');
  const after = token !== null ? decodeToken(token) : (startAfter ?? '');
  const outcome = await listing(call, { bucket, prefix, delimiter, maxKeys, after });
  return xmlResponse(200, xmlDocument('ListBucketResult', {
    Name: bucket,
    Prefix: encode(prefix),
    Delimiter: delimiter === null ? undefined : encode(delimiter),
    MaxKeys: maxKeys,
    EncodingType: query.get('encoding-type') ?? undefined,
    KeyCount: outcome.contents.length + outcome.commonPrefixes.length,
    IsTruncated: outcome.truncated,
    ContinuationToken: token ?? undefined,
    NextContinuationToken: outcome.truncated ? encodeToken(outcome.cursor) : undefined,
    StartAfter: startAfter === null ? undefined : encode(startAfter),
    Contents: contentsXml(outcome.contents, bucket, encode, query.get('fetch-owner') === 'true'),
    CommonPrefixes: outcome.commonPrefixes.map((common) => ({ Prefix: encode(common) })),
  }));
}

export async function listObjectsV1(call: S3Call, bucket: string): Promise<Response> {
  const { query } = call;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || null;
  const maxKeys = maxKeysOf(query);
  const encode = encoderOf(query);
  const marker = query.get('marker') ?? '';
  const outcome = await listing(call, { bucket, prefix, delimiter, maxKeys, after: marker });
  return xmlResponse(200, xmlDocument('ListBucketResult', {
    Name: bucket,
    Prefix: encode(prefix),
    Marker: encode(marker),
    // S3 gives NextMarker only with a delimiter; without one the last key is the next marker.
    NextMarker: outcome.truncated && delimiter !== null && outcome.lastListed !== null ? encode(outcome.lastListed) : undefined,
    MaxKeys: maxKeys,
    Delimiter: delimiter === null ? undefined : encode(delimiter),
    EncodingType: query.get('encoding-type') ?? undefined,
    IsTruncated: outcome.truncated,
    Contents: contentsXml(outcome.contents, bucket, encode, true),
    CommonPrefixes: outcome.commonPrefixes.map((common) => ({ Prefix: encode(common) })),
  }));
}
