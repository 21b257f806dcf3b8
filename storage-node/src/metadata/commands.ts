// The metadata state machine's Raft commands (JSON in Entry.data) and their results. A command is
// validated when it is encoded (on the leader) and again when decoded (on every node): an entry
// that fails the second check can only come from a bug, so it is an assertion failure.
import { hash } from 'node:crypto';
import { sha256Hex } from '../../../shared/sha256.ts';
import { assert } from '../../../shared/assert.ts';
import { isEncodedHlc } from '../../../shared/hlc.ts';
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { validateName } from '../../../shared/names.ts';
import { objectHeadersProblem } from '../../../shared/object-headers.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import { uploadCommandProblem, uploadOps } from './upload-commands.ts';
import type { UploadCommand, UploadResult } from './upload-commands.ts';
import { memberSettingFingerprint, settingsCommandProblem, settingsOps } from './cluster-settings.ts';
import type { SettingsCommand, SettingsResult } from './cluster-settings.ts';
import { keyCommandProblem, keyOps } from './key-commands.ts';
import { bucketVersioningStates } from '../db/schema.ts';
import type { BucketVersioning } from '../db/schema.ts';
import type { KeyCommand, KeyResult } from './key-commands.ts';

export interface Precondition {
  /** An If-Match header value: `*`, or one or more (quoted) etags separated by commas. */
  readonly ifMatch?: string;
  readonly ifNoneMatch?: '*';
}

export interface PutCommand {
  readonly op: 'put';
  readonly name: string;
  readonly size: number;
  readonly contentType: string;
  /** Hex SHA-256 of the whole content. */
  readonly etag: string;
  /** Hex MD5 of the whole content, when the write computed it: the version's S3 ETag. */
  readonly md5?: string;
  /** Hex SHA-256 of each chunk, in content order; empty for inline content. */
  readonly chunks: readonly string[];
  /** Bytes of each chunk, same order; their sum is `size`. */
  readonly chunkSizes?: readonly number[];
  /**
   * The whole content, base64, when it is small enough to travel in the entry (--inline-max):
   * then `chunks` is empty and the content is kept in meta.db under its hash (`etag`).
   */
  readonly inline?: string;
  /** The headers the version keeps (shared/object-headers.ts); none when absent. */
  readonly headers?: ObjectHeaders;
  /** The leader's HLC stamp (shared/hlc.ts encoding); it becomes the version's modified time. */
  readonly hlc: string;
  readonly precondition?: Precondition;
  readonly requestId?: string;
  /**
   * An S3 bucket that must exist when the entry is applied (S3 PutObject), else the put is
   * refused with no_such_bucket: a DeleteBucket and a PutObject are ordered by the log.
   */
  readonly bucket?: string;
}

export interface DeleteCommand {
  readonly op: 'delete';
  readonly name: string;
  /**
   * Only this kept version (S3's DeleteObject with a versionId), a delete marker too: the newest
   * version left then becomes current, unless it is a delete marker or none is left (the name is
   * deleted). Without it (and without keepHistory), every version goes and the name's history ends.
   */
  readonly version?: number;
  /**
   * Keep the history (S3's DeleteObject on a versioned bucket): a delete marker becomes the
   * newest version, the versions before it stay kept. Not with `version`.
   */
  readonly keepHistory?: true;
  readonly hlc: string;
  readonly precondition?: Precondition;
  readonly requestId?: string;
}

/**
 * A new version of `name` whose manifest is version `sourceVersion` of `source` (same chunks or
 * inline content, no bytes copied): S3's CopyObject. Decided when applied: if that version is no
 * longer kept (deleted, pruned), the copy is refused with no_such_source.
 */
export interface CopyCommand {
  readonly op: 'copy';
  readonly name: string;
  readonly source: string;
  readonly sourceVersion: number;
  /** The copy's Content-Type; the source's when absent. */
  readonly contentType?: string;
  /** The copy's stored headers (S3's metadata directive REPLACE; `{}` for none); the source's when absent. */
  readonly headers?: ObjectHeaders;
  readonly hlc: string;
  readonly precondition?: Precondition;
  readonly requestId?: string;
  /** As for a put: the bucket must exist when the copy is applied. */
  readonly bucket?: string;
}

export type MetadataCommand = PutCommand | DeleteCommand | CopyCommand;

/** Creates an S3 bucket (gateway/src/s3): refused when it exists. */
export interface CreateBucketCommand {
  readonly op: 'createBucket';
  readonly name: string;
  readonly hlc: string;
  readonly requestId?: string;
}

/**
 * Deletes an S3 bucket: refused, when applied, while a live file's name starts with `<name>/`;
 * the kept history of names under it (old versions, delete markers) goes with it.
 */
export interface DeleteBucketCommand {
  readonly op: 'deleteBucket';
  readonly name: string;
  readonly hlc: string;
  readonly requestId?: string;
}

/** Sets an S3 bucket's versioning state (PutBucketVersioning). */
export interface SetBucketVersioningCommand {
  readonly op: 'setBucketVersioning';
  readonly name: string;
  readonly status: BucketVersioning;
  readonly hlc: string;
  readonly requestId?: string;
}

export type BucketCommand = CreateBucketCommand | DeleteBucketCommand | SetBucketVersioningCommand;

/** Every command a metadata entry may hold (S3 multipart uploads: upload-commands.ts; access keys: key-commands.ts; settings: cluster-settings.ts). */
export type ReplicatedCommand = MetadataCommand | BucketCommand | UploadCommand | KeyCommand | SettingsCommand;

/** A bucket as clients see it. */
export interface BucketJson {
  readonly name: string;
  /** ISO 8601. */
  readonly created: string;
  readonly versioning: BucketVersioning;
}

export type BucketErrorCode = 'bucket_exists' | 'no_such_bucket' | 'bucket_not_empty' | 'idempotency_key_mismatch';

/** What applying a bucket command gave; a delete's `bucket` is the one it removed. */
export type BucketResult =
  | { readonly ok: true; readonly bucket: BucketJson }
  | { readonly ok: false; readonly code: BucketErrorCode; readonly message: string };

/** The result of any applied command. */
export type AppliedResult = MetadataResult | BucketResult | UploadResult | KeyResult | SettingsResult;

/** A file as clients see it (DESIGN.md, "Client API"). */
export interface FileJson {
  readonly name: string;
  readonly size: number;
  readonly etag: string;
  /** The version's S3 ETag (unquoted), when it has one; native answers show it only to who asks. */
  readonly s3Etag?: string;
  readonly version: number;
  readonly contentType: string;
  readonly chunks: readonly string[];
  /** ISO 8601. */
  readonly modified: string;
  /** Only on a delete marker (schema.ts, file_versions.delete_marker): size 0, no etag, no chunks. */
  readonly deleteMarker?: true;
}

/** A delete marker as `?versions` lists it. */
export interface DeleteMarkerJson {
  readonly name: string;
  readonly version: number;
  readonly deleteMarker: true;
  /** ISO 8601: when the name was deleted. */
  readonly modified: string;
}

/** One entry of a name's kept versions: a version, or a delete marker. */
export type VersionJson = FileJson | DeleteMarkerJson;

export type MetadataErrorCode = 'precondition_failed' | 'not_found' | 'idempotency_key_mismatch' | 'no_such_bucket' | 'no_such_source' | 'no_such_version';

/**
 * What applying a put or delete gave. A delete's `file` is the version it removed (a delete
 * marker, `deleteMarker: true`, when `version` named one), or the delete marker it made (keepHistory).
 */
export type MetadataResult =
  | { readonly ok: true; readonly file: FileJson }
  | { readonly ok: false; readonly code: MetadataErrorCode; readonly message: string };

export const contentTypeLengthMax = 255;
export const requestIdLengthMax = 128;
export const headerValueLengthMax = 8192;
/** A sanity bound on one entry: 1 TiB of 4 MiB chunks. */
export const chunksPerFileMax = 262_144;
/** The most content one put entry may carry inline (the --inline-max flag stays within it). */
export const inlineContentBytesMax = 1024 * 1024;

const sha256Pattern = /^[0-9a-f]{64}$/;
const md5Pattern = /^[0-9a-f]{32}$/;

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && sha256Pattern.test(value);
}

export function isMd5Hex(value: unknown): value is string {
  return typeof value === 'string' && md5Pattern.test(value);
}

/**
 * How far to check inline content: `full` decodes it and checks its form, size and hash (an
 * entry being applied); `shape` checks only that it is a string of a possible length, for the
 * leader encoding its own command, whose etag it has just computed from those very bytes.
 */
type InlineCheck = 'full' | 'shape';

/** Why `value` is not a valid command, or null when it is. */
export function commandProblem(value: unknown, inlineCheck: InlineCheck = 'full', decoded?: DecodedInline): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const command = value as Record<string, unknown>;
  if (command.op === 'createBucket' || command.op === 'deleteBucket' || command.op === 'setBucketVersioning') return bucketCommandProblem(command);
  if (uploadOps.includes(command.op as string)) return uploadCommandProblem(command, commonProblem, preconditionProblem);
  if (settingsOps.includes(command.op as string)) return settingsCommandProblem(command, commonProblem);
  if (keyOps.includes(command.op as string)) return keyCommandProblem(command, commonProblem);
  const common = ['op', 'name', 'hlc', 'precondition', 'requestId'];
  const extra: Record<string, readonly string[]> = {
    put: ['size', 'contentType', 'etag', 'md5', 'chunks', 'chunkSizes', 'inline', 'bucket', 'headers'],
    copy: ['source', 'sourceVersion', 'contentType', 'bucket', 'headers'],
    delete: ['version', 'keepHistory'],
  };
  if (command.op !== 'put' && command.op !== 'delete' && command.op !== 'copy') return `unknown op ${JSON.stringify(command.op)}`;
  const allowed = [...common, ...extra[command.op]!];
  for (const key of Object.keys(command)) if (!allowed.includes(key)) return `unexpected field "${key}"`;
  const name = validateName(command.name);
  if (!name.ok) return `name: ${name.reason}`;
  const commonIssue = commonProblem(command);
  if (commonIssue !== null) return commonIssue;
  if (command.precondition !== undefined) {
    const problem = preconditionProblem(command.precondition);
    if (problem !== null) return `precondition: ${problem}`;
  }
  if (command.headers !== undefined) {
    const problem = objectHeadersProblem(command.headers);
    if (problem !== null) return problem;
  }
  if (command.op === 'copy') return copyProblem(command);
  if (command.op === 'delete' && command.version !== undefined && (!Number.isSafeInteger(command.version) || (command.version as number) < 1)) {
    return 'version must be a positive integer';
  }
  if (command.op === 'delete' && command.keepHistory !== undefined) {
    if (command.keepHistory !== true) return 'keepHistory must be true when present';
    if (command.version !== undefined) return 'a delete of one version cannot keep the history';
  }
  return command.op === 'put' ? putProblem(command, inlineCheck, decoded) : null;
}

function bucketProblem(command: Record<string, unknown>): string | null {
  const { bucket } = command;
  if (bucket === undefined) return null;
  const problem = bucketNameProblem(bucket);
  if (problem !== null) return `bucket: ${problem}`;
  if (!(command.name as string).startsWith(`${bucket as string}/`)) return 'a write that needs a bucket must name a file in it';
  return null;
}

function copyProblem(command: Record<string, unknown>): string | null {
  const source = validateName(command.source);
  if (!source.ok) return `source: ${source.reason}`;
  if (!Number.isSafeInteger(command.sourceVersion) || (command.sourceVersion as number) < 1) return 'sourceVersion must be a positive integer';
  const { contentType } = command;
  if (contentType !== undefined && (typeof contentType !== 'string' || contentType.length === 0 || contentType.length > contentTypeLengthMax)) {
    return `contentType must be a string of 1 to ${contentTypeLengthMax} characters`;
  }
  return bucketProblem(command);
}

function bucketCommandProblem(command: Record<string, unknown>): string | null {
  const allowed = ['op', 'name', 'hlc', 'requestId', ...(command.op === 'setBucketVersioning' ? ['status'] : [])];
  for (const key of Object.keys(command)) if (!allowed.includes(key)) return `unexpected field "${key}"`;
  const problem = bucketNameProblem(command.name);
  if (problem !== null) return `name: ${problem}`;
  if (command.op === 'setBucketVersioning' && !bucketVersioningStates.includes(command.status as BucketVersioning)) {
    return `status must be one of ${bucketVersioningStates.join(', ')}`;
  }
  return commonProblem(command);
}

/** The HLC stamp and the request id, alike for every op. */
function commonProblem(command: Record<string, unknown>): string | null {
  if (!isEncodedHlc(command.hlc)) return `hlc ${JSON.stringify(command.hlc)} is not an encoded HLC timestamp`;
  if (command.requestId !== undefined) {
    const id = command.requestId;
    if (typeof id !== 'string' || id.length === 0 || id.length > requestIdLengthMax) return 'requestId must be a string of 1 to 128 characters';
  }
  return null;
}

function preconditionProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const precondition = value as Record<string, unknown>;
  for (const key of Object.keys(precondition)) if (key !== 'ifMatch' && key !== 'ifNoneMatch') return `unexpected field "${key}"`;
  const { ifMatch, ifNoneMatch } = precondition;
  if (ifMatch !== undefined && (typeof ifMatch !== 'string' || ifMatch.trim() === '' || ifMatch.length > headerValueLengthMax)) {
    return 'ifMatch must be a non-empty header value';
  }
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') return "ifNoneMatch must be '*'";
  return null;
}

function putProblem(command: Record<string, unknown>, inlineCheck: InlineCheck, decoded: DecodedInline | undefined): string | null {
  const { size, contentType, etag, md5, chunks, chunkSizes, inline } = command;
  const bucketIssue = bucketProblem(command);
  if (bucketIssue !== null) return bucketIssue;
  if (md5 !== undefined && !isMd5Hex(md5)) return 'md5 must be a lowercase hex MD5';
  if (!Number.isSafeInteger(size) || (size as number) < 0) return 'size must be a non-negative integer';
  if (typeof contentType !== 'string' || contentType.length === 0 || contentType.length > contentTypeLengthMax) {
    return `contentType must be a string of 1 to ${contentTypeLengthMax} characters`;
  }
  if (!isSha256Hex(etag)) return 'etag must be a lowercase hex SHA-256';
  if (!Array.isArray(chunks) || chunks.length > chunksPerFileMax) return 'chunks must be an array of chunk hashes';
  for (const hash of chunks) if (!isSha256Hex(hash)) return `chunk ${JSON.stringify(hash)} is not a lowercase hex SHA-256`;
  if (inline !== undefined) return inlineProblem(inline, size as number, etag, md5 as string | undefined, chunks, chunkSizes, inlineCheck, decoded);
  if (chunks.length === 0 && size !== 0) return 'a non-empty file needs chunks or inline content';
  if (chunkSizes !== undefined) {
    if (!Array.isArray(chunkSizes) || chunkSizes.length !== chunks.length) return 'chunkSizes must have one size per chunk';
    let total = 0;
    for (const chunkSize of chunkSizes) {
      if (!Number.isSafeInteger(chunkSize) || chunkSize < 0) return 'chunkSizes must be non-negative integers';
      total += chunkSize;
    }
    if (total !== size) return `chunkSizes add up to ${total}, not the size ${String(size)}`;
  }
  return null;
}

/** Where a full check leaves the inline bytes it decoded, so that apply decodes them once. */
export interface DecodedInline {
  bytes?: Buffer;
}

/** Inline content must be canonical base64 of exactly `size` (>= 1) bytes hashing to `etag`. */
function inlineProblem(inline: unknown, size: number, etag: string, md5: string | undefined, chunks: readonly unknown[], chunkSizes: unknown, check: InlineCheck, decoded: DecodedInline | undefined): string | null {
  if (chunks.length !== 0 || chunkSizes !== undefined) return 'inline content has no chunks';
  if (typeof inline !== 'string' || inline.length > Math.ceil(inlineContentBytesMax / 3) * 4) return 'inline must be base64 of at most 1 MiB';
  if (check === 'shape') return inline.length === Math.ceil(size / 3) * 4 && size > 0 ? null : `inline content of ${inline.length} base64 characters cannot hold ${size} bytes`;
  const bytes = Buffer.from(inline, 'base64');
  if (bytes.toString('base64') !== inline) return 'inline is not canonical base64';
  if (bytes.length === 0 || bytes.length !== size) return `inline content has ${bytes.length} bytes, the size says ${size}`;
  if (sha256Hex(bytes) !== etag) return 'inline content does not hash to the etag';
  if (md5 !== undefined && hash('md5', bytes, 'hex') !== md5) return 'inline content does not hash to the md5';
  if (decoded !== undefined) decoded.bytes = bytes;
  return null;
}

/**
 * What an Idempotency-Key stands for: the op, the name, the content hash and the preconditions.
 * The same key with another fingerprint is a different request (422, idempotency_key_mismatch).
 */
export function requestFingerprint(command: ReplicatedCommand): string {
  if (command.op === 'createUpload' || command.op === 'putPart' || command.op === 'completeUpload' || command.op === 'abortUpload' || command.op === 'expireUploads') {
    return sha256Hex(Buffer.from(JSON.stringify(uploadFingerprint(command))));
  }
  if (command.op === 'setReplication') return sha256Hex(Buffer.from(JSON.stringify([command.op, command.replication])));
  if (command.op === 'setMemberDown') return sha256Hex(Buffer.from(JSON.stringify([command.op, command.id, command.down])));
  if (command.op === 'setMemberDraining' || command.op === 'setMemberFull' || command.op === 'setMemberZone') return sha256Hex(Buffer.from(JSON.stringify(memberSettingFingerprint(command))));
  // A create's id and secret are left out: a retry (by the gateway, on a new leader) draws others.
  if (command.op === 'createKey') return sha256Hex(Buffer.from(JSON.stringify([command.op])));
  if (command.op === 'revokeKey') return sha256Hex(Buffer.from(JSON.stringify([command.op, command.accessKeyId])));
  const precondition = command.op === 'put' || command.op === 'delete' || command.op === 'copy' ? command.precondition : undefined;
  const what = [
    command.op,
    command.name,
    command.op === 'put' ? command.etag : null,
    precondition?.ifMatch ?? null,
    precondition?.ifNoneMatch ?? null,
  ];
  // Fields a copy adds (left out for other ops, so their fingerprints stay as they were).
  if (command.op === 'copy') what.push(command.source, String(command.sourceVersion), command.contentType ?? null);
  if (command.op === 'delete' && command.version !== undefined) what.push(String(command.version));
  if (command.op === 'delete' && command.keepHistory === true) what.push('keep-history');
  if (command.op === 'setBucketVersioning') what.push(command.status);
  // Stored headers, when sent (a request without them keeps the fingerprint it had before they existed).
  if ((command.op === 'put' || command.op === 'copy') && command.headers !== undefined) what.push(canonicalHeaders(command.headers));
  return sha256Hex(Buffer.from(JSON.stringify(what)));
}

/**
 * What an upload command's Idempotency-Key stands for: the op and what it names. A create's
 * upload id is left out: a retry (by the gateway, on a new leader) draws another.
 */
function uploadFingerprint(command: UploadCommand): unknown[] {
  switch (command.op) {
    case 'createUpload':
      return [command.op, command.name, command.contentType, ...(command.headers === undefined ? [] : [canonicalHeaders(command.headers)])];
    case 'putPart':
      return [command.op, command.uploadId, command.partNumber, command.sha256];
    case 'completeUpload':
      return [command.op, command.uploadId, command.parts.map((part) => [part.partNumber, part.md5]), command.precondition ?? null];
    case 'abortUpload':
      return [command.op, command.uploadId];
    case 'expireUploads':
      return [command.op, command.createdBeforeMs];
  }
}

/** A header record as text that does not depend on the order its fields were set in. */
function canonicalHeaders(headers: ObjectHeaders): string {
  return JSON.stringify(Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** For the leader: JSON for Entry.data. Throws on an invalid command (the caller's bug). */
export function encodeCommand(command: ReplicatedCommand): string {
  // Inline content is checked in full where it counts, when every node applies the entry.
  const problem = commandProblem(command, 'shape');
  assert(problem === null, `invalid metadata command: ${problem}`);
  return JSON.stringify(command);
}

/** A command as apply takes it: a put's inline content comes decoded (and checked) once. */
export interface DecodedCommand {
  readonly command: ReplicatedCommand;
  /** A put's inline bytes; null when the command carries none. */
  readonly inline: Buffer | null;
}

/** For apply: the command in an entry's data. Anything malformed is a bug, so it asserts. */
export function decodeCommand(data: string): DecodedCommand {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    assert(false, `metadata entry is not JSON: ${data.slice(0, 200)}`);
  }
  const decoded: DecodedInline = {};
  const problem = commandProblem(value, 'full', decoded);
  // A key's secret must not reach the output, even of a crash.
  const shown = (value as { op?: unknown } | null)?.op === 'createKey' ? '(a createKey entry)' : data.slice(0, 200);
  assert(problem === null, `malformed metadata entry (${problem}): ${shown}`);
  const command = value as ReplicatedCommand;
  assert((decoded.bytes !== undefined) === (command.op === 'put' && command.inline !== undefined), 'the inline bytes decoded and the command disagree on whether it carries inline content');
  return { command, inline: decoded.bytes ?? null };
}
