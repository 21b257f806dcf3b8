// ListParts and ListMultipartUploads over the native `/uploads` routes. Parts come with their
// upload (at most 10000) and are paged here by part number; uploads are listed by key, then
// upload id (the native order), with S3's markers, prefix and delimiter.
import { NativeClient } from './native-client.ts';
import { objectName } from './object-names.ts';
import { rootOwner } from './bucket-handlers.ts';
import { encoderOf, nativePageNames, nativePagesMax, pastPrefix } from './list-objects.ts';
import { uploadFailure, uploadIdOf, uploadPath } from './multipart.ts';
import { S3Error } from './s3-errors.ts';
import { requireBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { xmlResponse } from './s3-response.ts';
import { xmlDocument } from './s3-xml.ts';

/** The most parts or uploads one answer lists (S3's default and cap). */
export const listedMax = 1000;
/** An upload id marker after every upload id (ids are lowercase hex). */
const pastEveryUploadId = '~';

interface NativePart {
  readonly partNumber: number;
  readonly size: number;
  readonly md5: string;
  readonly modified: string;
}

interface NativeUpload {
  readonly uploadId: string;
  readonly name: string;
  readonly created: string;
}

function countOf(query: URLSearchParams, parameter: string): number {
  const text = query.get(parameter);
  if (text === null) return listedMax;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new S3Error('InvalidArgument', `Provided ${parameter} not an integer or within integer range`, { ArgumentName: parameter, ArgumentValue: text });
  return Math.min(value, listedMax);
}

export async function listParts(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const uploadId = uploadIdOf(call.query);
  const maxParts = countOf(call.query, 'max-parts');
  const markerText = call.query.get('part-number-marker') ?? '0';
  const marker = Number(markerText);
  if (!/^\d+$/.test(markerText)) throw new S3Error('InvalidArgument', 'Provided part-number-marker not an integer', { ArgumentName: 'part-number-marker', ArgumentValue: markerText });
  const response = await call.native.request('GET', uploadPath(uploadId, name), { signal: call.signal });
  if (response.status !== 200) throw await uploadFailure(response, bucket, uploadId, `reading the upload ${uploadId}`);
  const { parts } = await NativeClient.json<{ parts: NativePart[] }>(response);
  const after = parts.filter((part) => part.partNumber > marker);
  const listed = after.slice(0, maxParts);
  const truncated = after.length > listed.length;
  return xmlResponse(200, xmlDocument('ListPartsResult', {
    Bucket: bucket,
    Key: key,
    UploadId: uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: listed.length > 0 ? listed[listed.length - 1].partNumber : undefined,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: listed.map((part) => ({ PartNumber: part.partNumber, LastModified: part.modified, ETag: `"${part.md5}"`, Size: part.size })),
    Initiator: rootOwner,
    Owner: rootOwner,
    StorageClass: 'STANDARD',
  }));
}

export async function listMultipartUploads(call: S3Call, bucket: string): Promise<Response> {
  const { query } = call;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || null;
  const maxUploads = countOf(query, 'max-uploads');
  const encode = encoderOf(query);
  const keyMarker = query.get('key-marker') ?? '';
  const uploadIdMarker = keyMarker === '' ? '' : (query.get('upload-id-marker') ?? '');
  await requireBucket(call, bucket);
  const uploads: { key: string; upload: NativeUpload }[] = [];
  const commonPrefixes: string[] = [];
  // Without an upload id marker, S3 lists the uploads of keys after the key marker only.
  let cursor = { key: keyMarker, id: keyMarker === '' ? '' : uploadIdMarker === '' ? pastEveryUploadId : uploadIdMarker };
  let truncated = false;
  let ended = maxUploads === 0;
  /** The last upload or common prefix listed: where a next request goes on from. */
  let lastListed: { key: string; uploadId: string | null } | null = null;
  const full = () => uploads.length + commonPrefixes.length >= maxUploads;
  pages: for (let pages = 0; pages < nativePagesMax && maxUploads > 0; pages++) {
    const search = new URLSearchParams({ prefix: `${bucket}/${prefix}`, limit: String(nativePageNames) });
    if (cursor.key !== '') search.set('after', `${bucket}/${cursor.key}`);
    if (cursor.id !== '') search.set('afterId', cursor.id);
    const response = await call.native.request('GET', `/uploads?${search.toString()}`, { signal: call.signal });
    if (response.status !== 200) throw await unexpectedAnswer(response, `listing the uploads of ${bucket}`);
    const page = await NativeClient.json<{ uploads: NativeUpload[]; truncated: boolean }>(response);
    for (const upload of page.uploads) {
      const key = upload.name.slice(bucket.length + 1);
      const at = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length);
      if (at !== -1) {
        const common = key.slice(0, at + delimiter!.length);
        // Listed already in this answer, or it is the key marker itself (the last answer's NextKeyMarker).
        if (common === commonPrefixes[commonPrefixes.length - 1] || common === keyMarker) {
          cursor = { key: pastPrefix(bucket, common), id: '' };
          continue pages;
        }
        if (full()) {
          truncated = true;
          break pages;
        }
        commonPrefixes.push(common);
        lastListed = { key: common, uploadId: null };
        cursor = { key: pastPrefix(bucket, common), id: '' };
        continue pages; // the page went on past the prefix: ask again from after it
      }
      if (full()) {
        truncated = true;
        break pages;
      }
      uploads.push({ key, upload });
      lastListed = { key, uploadId: upload.uploadId };
      cursor = { key, id: upload.uploadId };
    }
    if (!page.truncated) {
      ended = true;
      break;
    }
  }
  // Out of native pages before the end: cut short where it got to.
  if (!ended) truncated = true;
  return xmlResponse(200, xmlDocument('ListMultipartUploadsResult', {
    Bucket: bucket,
    KeyMarker: encode(keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: truncated && lastListed !== null ? encode(lastListed.key) : undefined,
    NextUploadIdMarker: truncated && lastListed?.uploadId != null ? lastListed.uploadId : undefined,
    Prefix: encode(prefix),
    Delimiter: delimiter === null ? undefined : encode(delimiter),
    MaxUploads: maxUploads,
    EncodingType: query.get('encoding-type') ?? undefined,
    IsTruncated: truncated,
    Upload: uploads.map(({ key, upload }) => ({ Key: encode(key), UploadId: upload.uploadId, Initiator: rootOwner, Owner: rootOwner, StorageClass: 'STANDARD', Initiated: upload.created })),
    CommonPrefixes: commonPrefixes.map((common) => ({ Prefix: encode(common) })),
  }));
}
