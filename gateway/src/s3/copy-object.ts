// CopyObject (PUT with x-amz-copy-source): a new version of the destination with the source
// version's chunks, no bytes copied (the native copy, a Raft entry decided when applied). The
// source version is read first (HEAD), its x-amz-copy-source-if-* conditions judged on it, and
// that exact version is copied: if it is deleted or pruned before the entry applies, the copy is
// refused rather than made of another version. Content-Type, x-amz-meta-* and the other stored
// headers: the source's (directive COPY) or the request's (REPLACE).
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { evaluateConditions } from './conditions.ts';
import { filePath, nativeError } from './native-client.ts';
import { objectName } from './object-names.ts';
import { S3Error } from './s3-errors.ts';
import { bucketExists, discard, noSuchBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { xmlResponse } from './s3-response.ts';
import { xmlDocument } from './s3-xml.ts';
import { contentTypeOf } from './streams.ts';
import { askS3Etag, s3EtagHeader, s3EtagOf } from './s3-etags.ts';
import { storedHeadersOf } from './object-headers.ts';
import { deleteMarkerMet } from './get-object.ts';

export interface CopySource {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: number | null;
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=N]`, the bucket and key percent-encoded. */
export function parseCopySource(header: string): CopySource {
  const trimmed = header.trim();
  const queryAt = trimmed.indexOf('?');
  const path = (queryAt === -1 ? trimmed : trimmed.slice(0, queryAt)).replace(/^\//, '');
  const query = new URLSearchParams(queryAt === -1 ? '' : trimmed.slice(queryAt + 1));
  const invalid = (why: string) => new S3Error('InvalidArgument', `Invalid copy source: ${why}.`, { ArgumentName: 'x-amz-copy-source', ArgumentValue: header });
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw invalid('not valid percent-encoded UTF-8');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw invalid('it must name a bucket and a key');
  const bucket = decoded.slice(0, slash);
  const problem = bucketNameProblem(bucket);
  if (problem !== null) throw invalid(`the bucket name is not valid (${problem})`);
  const versionText = query.get('versionId');
  if (versionText === null) return { bucket, key: decoded.slice(slash + 1), versionId: null };
  const version = Number(versionText);
  if (!/^[1-9]\d*$/.test(versionText) || !Number.isSafeInteger(version)) throw invalid('the version id is not valid');
  return { bucket, key: decoded.slice(slash + 1), versionId: version };
}

/** The x-amz-copy-source-if-* headers as the conditional headers they mirror. */
function sourceConditions(headers: Headers): Headers {
  const out = new Headers();
  for (const name of ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']) {
    const value = headers.get(`x-amz-copy-source-${name}`);
    if (value !== null) out.set(name, value);
  }
  return out;
}

function metadataDirective(headers: Headers): 'COPY' | 'REPLACE' {
  const value = headers.get('x-amz-metadata-directive')?.trim().toUpperCase() ?? 'COPY';
  if (value !== 'COPY' && value !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: value });
  return value;
}

/** The copy source as it is now, once its x-amz-copy-source-if-* conditions held. */
export interface CopySourceVersion {
  /** Its native version number (as the header gives it): that exact version is copied. */
  readonly version: string;
  readonly size: number;
}

/**
 * Reads the copy source (the version it names, or the current one) and judges the
 * x-amz-copy-source-if-* conditions on it: CopyObject and UploadPartCopy.
 */
export async function readCopySource(call: S3Call, source: CopySource): Promise<CopySourceVersion> {
  const sourceName = objectName(source.bucket, source.key);
  const sourcePath = source.versionId === null ? filePath(sourceName) : `${filePath(sourceName)}?version=${source.versionId}`;
  const head = await call.native.request('HEAD', sourcePath, { signal: call.signal });
  await discard(head);
  if (head.status === 404) {
    // As S3: a source whose newest entry is a delete marker is NoSuchKey; one named by a
    // versionId that is a delete marker cannot be copied.
    const marker = deleteMarkerMet(head.headers);
    if (marker !== null && source.versionId !== null) {
      throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.', {}, { 'x-amz-delete-marker': 'true' });
    }
    if (marker !== null) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: source.key }, { 'x-amz-delete-marker': 'true' });
    if (!(await bucketExists(call, source.bucket))) throw noSuchBucket(source.bucket);
    if (source.versionId !== null) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: source.key, VersionId: String(source.versionId) });
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: source.key });
  }
  if (head.status !== 200) throw await unexpectedAnswer(head, `reading ${sourceName}`);
  const version = head.headers.get('x-dfs-version');
  if (version === null) throw new S3Error('InternalError', `reading ${sourceName}: the cluster named no version`);
  const verdict = evaluateConditions(sourceConditions(call.headers), {
    etag: s3EtagHeader(head.headers).replace(/^"(.*)"$/, '$1'),
    lastModifiedMs: Date.parse(head.headers.get('last-modified') ?? '') || 0,
  });
  if (verdict !== 'proceed') throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'x-amz-copy-source-If-*' });
  return { version, size: Number(head.headers.get('content-length') ?? 0) };
}

interface CopiedFile {
  readonly etag: string;
  readonly s3Etag?: string;
  readonly version: number;
  readonly modified: string;
}

export async function copyObject(call: S3Call, bucket: string, key: string): Promise<Response> {
  const name = objectName(bucket, key);
  const source = parseCopySource(call.headers.get('x-amz-copy-source')!);
  const sourceName = objectName(source.bucket, source.key);
  const directive = metadataDirective(call.headers);
  if (sourceName === name && source.versionId === null && directive === 'COPY') {
    throw new S3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const contentType = directive === 'REPLACE' ? contentTypeOf(call.headers) : null;
  // REPLACE: the request's x-amz-meta-* and standard headers (none when it sends none); COPY: the source's.
  const replaced = directive === 'REPLACE' ? { ...storedHeadersOf(call.headers), 'x-dfs-metadata-directive': 'replace' } : {};

  // The source version: what the conditions are judged on, and what is copied.
  const { version: sourceVersion } = await readCopySource(call, source);

  const headers: Record<string, string> = {
    'x-dfs-copy-source': sourceName.split('/').map(encodeURIComponent).join('/'),
    'x-dfs-copy-source-version': sourceVersion,
    'x-dfs-require-bucket': bucket,
    'content-length': '0',
    ...askS3Etag,
    ...(contentType === null ? {} : { 'content-type': contentType }),
    ...replaced,
  };
  const response = await call.native.request('PUT', filePath(name), { headers, signal: call.signal });
  if (response.status === 404) {
    const { code } = await nativeError(response);
    if (code === 'no_such_bucket') throw noSuchBucket(bucket);
    // The source version went (deleted, pruned) between the read and the copy's entry.
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: source.key });
  }
  if (response.status !== 201) throw await unexpectedAnswer(response, `copying ${sourceName} to ${name}`);
  const file = (await response.json()) as CopiedFile;
  const out = xmlResponse(200, xmlDocument('CopyObjectResult', { LastModified: file.modified, ETag: s3EtagOf(file) }));
  out.headers.set('x-amz-version-id', String(file.version));
  out.headers.set('x-amz-copy-source-version-id', sourceVersion);
  return out;
}
