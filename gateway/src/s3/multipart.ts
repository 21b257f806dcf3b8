// S3 multipart uploads over the native `/uploads` routes (storage-node/src/http/upload-routes.ts):
// CreateMultipartUpload, UploadPart (the body checked as it streams, like PutObject's),
// UploadPartCopy (a range of a stored version), CompleteMultipartUpload (the parts become one
// version in one Raft entry; ETag `"<MD5 of the parts' MD5s>-N"`) and AbortMultipartUpload.
// Every request names the upload's file too (`?name=`): an upload id of another key is NoSuchUpload.
import { XMLParser } from 'fast-xml-parser';
import { parseCopySource, readCopySource } from './copy-object.ts';
import { nativeError } from './native-client.ts';
import { objectName } from './object-names.ts';
import { writeConditions } from './put-object.ts';
import { planBody } from './request-body.ts';
import { S3Error } from './s3-errors.ts';
import { answerError, noSuchBucket } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { askS3Etag, s3EtagOf } from './s3-etags.ts';
import { xmlResponse } from './s3-response.ts';
import { xmlDocument } from './s3-xml.ts';
import { readSmallBody } from './small-body.ts';
import { putVerified } from './verified-upload.ts';
import { contentTypeOf } from './streams.ts';
import { storedHeadersOf } from './object-headers.ts';

/** Part numbers run from 1 to this. */
export const partNumberMax = 10_000;
/** The longest CompleteMultipartUpload document read, in bytes (10000 parts, with checksums). */
export const completionDocumentBytesMax = 2 * 1024 * 1024;

/** The upload id in the query; anything not shaped like ours names no upload. */
export function uploadIdOf(query: URLSearchParams): string {
  const id = query.get('uploadId') ?? '';
  if (!/^[0-9a-f]{32}$/.test(id)) throw noSuchUpload(id);
  return id;
}

export function noSuchUpload(uploadId: string): S3Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
}

function partNumberOf(query: URLSearchParams): number {
  const text = query.get('partNumber') ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > partNumberMax) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${partNumberMax}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: text });
  }
  return value;
}

/** `/uploads/<id><rest>?name=<name>`: the native path of an upload's route. */
export function uploadPath(uploadId: string, name: string, rest = ''): string {
  return `/uploads/${uploadId}${rest}?name=${encodeURIComponent(name)}`;
}

/** A native refusal of an upload request, as S3's error. */
export async function uploadFailure(response: Response, bucket: string, uploadId: string, what: string): Promise<S3Error> {
  return refusal(response.status, await nativeError(response), bucket, uploadId, what);
}

function refusal(status: number, error: { code: string; message: string }, bucket: string, uploadId: string, what: string): S3Error {
  const { code, message } = error;
  switch (code) {
    case 'no_such_upload':
      return noSuchUpload(uploadId);
    case 'no_such_bucket':
      return noSuchBucket(bucket);
    case 'invalid_part':
      return new S3Error('InvalidPart', `One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (${message})`);
    case 'invalid_part_order':
      return new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
    case 'entity_too_small':
      return new S3Error('EntityTooSmall', `Your proposed upload is smaller than the minimum allowed object size. (${message})`);
    case 'precondition_failed':
      return new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match, If-None-Match' });
    default:
      return answerError(status, error, what);
  }
}

export async function createMultipartUpload(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  // The object's headers are kept with the upload until it is completed.
  const headers = { ...storedHeadersOf(call.headers), 'content-type': contentTypeOf(call.headers), 'x-dfs-require-bucket': bucket, 'content-length': '0' };
  const response = await call.native.request('POST', `/uploads?name=${encodeURIComponent(name)}`, { headers, signal: call.signal });
  if (response.status !== 201) throw await uploadFailure(response, bucket, '', `starting an upload of ${name}`);
  const upload = (await response.json()) as { uploadId: string };
  return xmlResponse(200, xmlDocument('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: upload.uploadId }));
}

export async function uploadPart(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const uploadId = uploadIdOf(call.query);
  const partNumber = partNumberOf(call.query);
  const plan = planBody(call.headers, call.payload);
  const { response, verified } = await putVerified(call, uploadPath(uploadId, name, `/parts/${partNumber}`), plan, { 'content-length': String(plan.length) });
  if (response.status !== 201) throw await uploadFailure(response, bucket, uploadId, `storing part ${partNumber} of ${name}`);
  const part = (await response.json()) as { md5: string };
  const out = new Headers({ ETag: `"${part.md5}"` });
  for (const [algorithm, value] of verified.verifiedChecksums) out.set(`x-amz-checksum-${algorithm}`, value);
  return new Response(null, { status: 200, headers: out });
}

/** `x-amz-copy-source-range: bytes=first-last`, within an object of `size` bytes. */
function copyRange(header: string | null, size: number): string | null {
  if (header === null) return null;
  const match = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  if (match === null || Number(match[1]) > Number(match[2])) {
    throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: header });
  }
  if (Number(match[2]) >= size) throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: header, ActualObjectSize: String(size) });
  return `bytes=${match[1]}-${match[2]}`;
}

export async function uploadPartCopy(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const uploadId = uploadIdOf(call.query);
  const partNumber = partNumberOf(call.query);
  const source = parseCopySource(call.headers.get('x-amz-copy-source')!);
  const sourceName = objectName(source.bucket, source.key);
  const { version: sourceVersion, size: sourceSize } = await readCopySource(call, source);
  const range = copyRange(call.headers.get('x-amz-copy-source-range'), sourceSize);
  const headers: Record<string, string> = {
    'x-dfs-copy-source': sourceName.split('/').map(encodeURIComponent).join('/'),
    'x-dfs-copy-source-version': sourceVersion,
    'content-length': '0',
    ...(range === null ? {} : { 'x-dfs-copy-source-range': range }),
  };
  const response = await call.native.request('PUT', uploadPath(uploadId, name, `/parts/${partNumber}`), { headers, signal: call.signal });
  if (response.status !== 201) {
    const error = await nativeError(response);
    // The source version went (deleted, pruned) between the read and the copy.
    if (error.code === 'no_such_source') throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: source.key });
    throw refusal(response.status, error, bucket, uploadId, `copying ${sourceName} into part ${partNumber} of ${name}`);
  }
  const part = (await response.json()) as { md5: string; modified: string };
  const out = xmlResponse(200, xmlDocument('CopyPartResult', { LastModified: part.modified, ETag: `"${part.md5}"` }));
  out.headers.set('x-amz-copy-source-version-id', sourceVersion);
  return out;
}

function malformed(why: string): S3Error {
  return new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${why}.`);
}

/** The parts a CompleteMultipartUpload document lists, in its order. */
export function parseCompletion(xml: string): { partNumber: number; etag: string }[] {
  const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (_name, path) => path === 'CompleteMultipartUpload.Part' });
  let parsed: { CompleteMultipartUpload?: { Part?: unknown } };
  try {
    parsed = parser.parse(xml, true) as typeof parsed;
  } catch {
    throw malformed('not XML');
  }
  const parts = parsed.CompleteMultipartUpload?.Part;
  if (!Array.isArray(parts) || parts.length === 0) throw malformed('a CompleteMultipartUpload lists at least one Part');
  if (parts.length > partNumberMax) throw malformed(`at most ${partNumberMax} parts`);
  return parts.map((part: unknown) => {
    const { PartNumber: number, ETag: etag } = (part ?? {}) as { PartNumber?: unknown; ETag?: unknown };
    if (typeof number !== 'string' || !/^\d+$/.test(number.trim()) || typeof etag !== 'string') throw malformed('each Part has a PartNumber and an ETag');
    const partNumber = Number(number.trim());
    if (partNumber < 1 || partNumber > partNumberMax) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${partNumberMax}, inclusive`);
    return { partNumber, etag: etag.trim() };
  });
}

/**
 * A CompleteMultipartUpload's x-amz-checksum-* headers are the whole object's checksum (S3's
 * FULL_OBJECT type), not the document's: they are not checked against the document (nor, yet,
 * against the object: README, "Differences from S3").
 */
function withoutObjectChecksums(headers: Headers): Headers {
  const out = new Headers(headers);
  for (const name of [...out.keys()]) if (name.startsWith('x-amz-checksum-')) out.delete(name);
  return out;
}

export async function completeMultipartUpload(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const uploadId = uploadIdOf(call.query);
  const parts = parseCompletion((await readSmallBody({ ...call, headers: withoutObjectChecksums(call.headers) }, { bytesMax: completionDocumentBytesMax })).toString('utf8'));
  const document = Buffer.from(JSON.stringify({ parts }));
  const headers = { ...writeConditions(call.headers), ...askS3Etag, 'content-type': 'application/json', 'content-length': String(document.length) };
  const response = await call.native.request('POST', uploadPath(uploadId, name, '/complete'), { headers, body: document, signal: call.signal });
  if (response.status !== 201) throw await uploadFailure(response, bucket, uploadId, `completing the upload of ${name}`);
  const file = (await response.json()) as { etag: string; s3Etag?: string; version: number };
  const location = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const out = xmlResponse(200, xmlDocument('CompleteMultipartUploadResult', { Location: location, Bucket: bucket, Key: key, ETag: s3EtagOf(file) }));
  out.headers.set('x-amz-version-id', String(file.version));
  return out;
}

export async function abortMultipartUpload(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const uploadId = uploadIdOf(call.query);
  const response = await call.native.request('DELETE', uploadPath(uploadId, name), { signal: call.signal });
  if (response.status !== 204) throw await uploadFailure(response, bucket, uploadId, `aborting the upload of ${name}`);
  return new Response(null, { status: 204 });
}
