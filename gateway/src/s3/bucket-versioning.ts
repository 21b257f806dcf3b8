// GetBucketVersioning, PutBucketVersioning and ListObjectVersions. Every put keeps a new version
// (up to the nodes' --keep-versions); a version id is the native version number as a string. A
// bucket's versioning is Enabled (a DeleteObject leaves a delete marker, the native
// `DELETE ?keep-versions`) or Suspended (a DeleteObject ends the key's history, as the native
// delete does), kept in its replicated record. ListObjectVersions lists every name with kept
// versions, those behind a delete marker too, its versions and markers newest first.
import { XMLParser } from 'fast-xml-parser';
import { filePath, NativeClient } from './native-client.ts';
import { S3Error } from './s3-errors.ts';
import { discard, requireBucket, requireBucketRecord, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { readSmallBody } from './small-body.ts';
import { encoderOf, maxKeysOf, nativePageNames, nativePagesMax, pastPrefix } from './list-objects.ts';
import { rootOwner } from './bucket-handlers.ts';
import { xmlResponse } from './s3-response.ts';
import { XmlSequence, xmlDocument } from './s3-xml.ts';
import { askS3Etag, s3EtagOf } from './s3-etags.ts';

export async function getBucketVersioning(call: S3Call, bucket: string): Promise<Response> {
  const record = await requireBucketRecord(call, bucket);
  return xmlResponse(200, xmlDocument('VersioningConfiguration', { Status: record.versioning }));
}

/** The Status of a VersioningConfiguration document; MalformedXML when it is not one. */
export function parseVersioningDocument(xml: string): 'Enabled' | 'Suspended' {
  const malformed = () => new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  let parsed: { VersioningConfiguration?: { Status?: unknown; MfaDelete?: unknown } };
  try {
    parsed = new XMLParser({ ignoreAttributes: true, parseTagValue: false }).parse(xml, true) as typeof parsed;
  } catch {
    throw malformed();
  }
  const root = parsed.VersioningConfiguration;
  if (typeof root !== 'object' || root === null) throw malformed();
  if (root.MfaDelete !== undefined && root.MfaDelete !== 'Disabled') throw new S3Error('NotImplemented', 'MFA delete is not implemented.');
  if (root.Status !== 'Enabled' && root.Status !== 'Suspended') throw malformed();
  return root.Status;
}

/** PutBucketVersioning: Enabled or Suspended, kept in the bucket's replicated record. */
export async function putBucketVersioning(call: S3Call, bucket: string): Promise<Response> {
  const status = parseVersioningDocument((await readSmallBody(call)).toString('utf8'));
  const document = Buffer.from(JSON.stringify({ status }));
  const response = await call.native.request('PUT', `/buckets/${bucket}/versioning`, {
    headers: { 'content-type': 'application/json', 'content-length': String(document.length) },
    body: document,
    signal: call.signal,
  });
  if (response.status === 404) {
    await discard(response);
    throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
  }
  if (response.status !== 200) throw await unexpectedAnswer(response, `setting the versioning of ${bucket}`);
  await discard(response);
  return new Response(null, { status: 200 });
}

/** A version as the native `?versions` lists it. */
export interface NativeFileVersion {
  readonly size: number;
  readonly etag: string;
  readonly s3Etag?: string;
  readonly version: number;
  readonly modified: string;
  readonly deleteMarker?: undefined;
}

/** A delete marker as the native `?versions` lists it. */
export interface NativeDeleteMarker {
  readonly version: number;
  readonly deleteMarker: true;
  readonly modified: string;
}

/** One entry of the native `?versions`: a version or a delete marker. */
export type NativeVersion = NativeFileVersion | NativeDeleteMarker;

export interface VersionEntry {
  readonly key: string;
  readonly version: NativeVersion;
  readonly isLatest: boolean;
}

export interface VersionsRequest {
  readonly prefix: string;
  readonly delimiter: string | null;
  readonly maxKeys: number;
  /** List keys after this one ('' for the start); with versionIdMarker, first its versions older than that. */
  readonly keyMarker: string;
  readonly versionIdMarker: number | null;
}

export interface VersionsOutcome {
  readonly versions: VersionEntry[];
  readonly commonPrefixes: string[];
  readonly truncated: boolean;
}

/**
 * What the listing reads: names with kept versions (live or behind a delete marker) in order
 * after a cursor, and one name's kept versions and delete markers (newest first).
 */
export interface VersionsSource {
  page(prefix: string, after: string): Promise<{ names: string[]; last: boolean }>;
  versions(key: string): Promise<NativeVersion[]>;
}

/**
 * S3's rules over the source: keys (with every kept version, newest first, the first IsLatest)
 * and common prefixes in key order, together at most maxKeys entries.
 */
export async function collectVersions(source: VersionsSource, request: VersionsRequest, bucket: string): Promise<VersionsOutcome> {
  const { prefix, delimiter, maxKeys, keyMarker, versionIdMarker } = request;
  const versions: VersionEntry[] = [];
  const commonPrefixes: string[] = [];
  const full = (): boolean => versions.length + commonPrefixes.length >= maxKeys;
  /** Adds a key's versions; false when the answer filled up before the last one. */
  const addKey = (key: string, list: readonly NativeVersion[], olderThan: number | null): boolean => {
    for (const [at, version] of list.entries()) {
      if (olderThan !== null && version.version >= olderThan) continue;
      if (full()) return false;
      versions.push({ key, version, isLatest: at === 0 });
    }
    return true;
  };
  if (maxKeys === 0) return { versions, commonPrefixes, truncated: false };
  if (versionIdMarker !== null && keyMarker.startsWith(prefix)) {
    if (!addKey(keyMarker, await source.versions(keyMarker), versionIdMarker)) return { versions, commonPrefixes, truncated: true };
  }
  let cursor = keyMarker;
  for (let pages = 0; pages < nativePagesMax; pages++) {
    const page = await source.page(prefix, cursor);
    for (const key of page.names) {
      const at = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length);
      if (at !== -1) {
        const common = key.slice(0, at + delimiter!.length);
        cursor = pastPrefix(bucket, common);
        // Listed already in this answer, or it is the marker itself (the last answer's NextKeyMarker).
        if (common === commonPrefixes[commonPrefixes.length - 1] || common === keyMarker) continue;
        if (full()) return { versions, commonPrefixes, truncated: true };
        commonPrefixes.push(common);
        continue;
      }
      cursor = key;
      if (!addKey(key, await source.versions(key), null)) return { versions, commonPrefixes, truncated: true };
    }
    // The node had nothing after this page: whatever the cursor skipped, the listing is complete.
    if (page.last) return { versions, commonPrefixes, truncated: false };
  }
  return { versions, commonPrefixes, truncated: true };
}

/** The native API as a VersionsSource for one bucket. */
function nativeSource(call: S3Call, bucket: string): VersionsSource {
  return {
    async page(prefix, after) {
      const query = new URLSearchParams({ prefix: `${bucket}/${prefix}`, limit: String(nativePageNames), versions: '' });
      if (after !== '') query.set('after', `${bucket}/${after}`);
      const response = await call.native.request('GET', `/files?${query.toString()}`, { signal: call.signal });
      if (response.status !== 200) throw await unexpectedAnswer(response, `listing the bucket ${bucket}`);
      const page = await NativeClient.json<{ files: { name: string }[]; next: string | null }>(response);
      return { names: page.files.map((file) => file.name.slice(bucket.length + 1)), last: page.next === null };
    },
    async versions(key) {
      const response = await call.native.request('GET', `${filePath(`${bucket}/${key}`)}?versions`, { headers: askS3Etag, signal: call.signal });
      if (response.status === 404) return [];
      if (response.status !== 200) throw await unexpectedAnswer(response, `reading the versions of ${bucket}/${key}`);
      return (await NativeClient.json<{ versions: NativeVersion[] }>(response)).versions;
    },
  };
}

function versionIdMarkerOf(query: URLSearchParams, keyMarker: string): number | null {
  const text = query.get('version-id-marker');
  if (text === null || text === '') return null;
  if (keyMarker === '') throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { ArgumentName: 'version-id-marker', ArgumentValue: text });
  const value = Number(text);
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(value)) throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'version-id-marker', ArgumentValue: text });
  return value;
}

export async function listObjectVersions(call: S3Call, bucket: string): Promise<Response> {
  const { query } = call;
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') || null;
  const maxKeys = maxKeysOf(query);
  const encode = encoderOf(query);
  const keyMarker = query.get('key-marker') ?? '';
  const versionIdMarker = versionIdMarkerOf(query, keyMarker);
  await requireBucket(call, bucket);
  const outcome = await collectVersions(nativeSource(call, bucket), { prefix, delimiter, maxKeys, keyMarker, versionIdMarker }, bucket);
  return xmlResponse(200, versionsDocument(bucket, { prefix, delimiter, maxKeys, keyMarker, versionIdMarker }, outcome, encode, query.get('encoding-type')));
}

/** The ListVersionsResult document; when truncated, the next markers are the last entry listed. */
export function versionsDocument(bucket: string, request: VersionsRequest, outcome: VersionsOutcome, encode: (text: string) => string, encodingType: string | null): string {
  const lastVersion = outcome.versions[outcome.versions.length - 1];
  const lastCommon = outcome.commonPrefixes[outcome.commonPrefixes.length - 1];
  // Entries are in key order; the last one listed is whichever sorts later.
  const lastIsCommon = lastCommon !== undefined && (lastVersion === undefined || Buffer.compare(Buffer.from(lastCommon), Buffer.from(lastVersion.key)) > 0);
  return xmlDocument('ListVersionsResult', {
    Name: bucket,
    Prefix: encode(request.prefix),
    KeyMarker: encode(request.keyMarker),
    VersionIdMarker: request.versionIdMarker === null ? '' : String(request.versionIdMarker),
    NextKeyMarker: outcome.truncated ? encode(lastIsCommon ? lastCommon! : (lastVersion?.key ?? '')) : undefined,
    NextVersionIdMarker: outcome.truncated && !lastIsCommon && lastVersion !== undefined ? String(lastVersion.version.version) : undefined,
    MaxKeys: request.maxKeys,
    Delimiter: request.delimiter === null ? undefined : encode(request.delimiter),
    EncodingType: encodingType ?? undefined,
    IsTruncated: outcome.truncated,
    // Versions and delete markers together, in the order listed (key, then newest first).
    Versions: new XmlSequence(outcome.versions.map(({ key, version, isLatest }) => {
      if (version.deleteMarker === true) {
        return { DeleteMarker: { Key: encode(key), VersionId: String(version.version), IsLatest: isLatest, LastModified: version.modified, Owner: rootOwner } };
      }
      return {
        Version: {
          Key: encode(key),
          VersionId: String(version.version),
          IsLatest: isLatest,
          LastModified: version.modified,
          ETag: s3EtagOf(version),
          Size: version.size,
          Owner: rootOwner,
          StorageClass: 'STANDARD',
        },
      };
    })),
    CommonPrefixes: outcome.commonPrefixes.map((common) => ({ Prefix: encode(common) })),
  });
}
