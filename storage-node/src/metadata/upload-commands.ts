// The Raft commands of S3 multipart uploads (checked like every command: when the leader encodes
// it, and when each node decodes it) and their results. An upload and each of its parts are
// replicated records; a complete turns the parts' chunk lists into one version in one entry.
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { validateName } from '../../../shared/names.ts';
import { objectHeadersProblem } from '../../../shared/object-headers.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import type { FileJson, MetadataErrorCode, Precondition } from './commands.ts';
import { chunksPerFileMax, contentTypeLengthMax, isMd5Hex, isSha256Hex } from './commands.ts';
import { isPartNumber, isUploadId, partNumberMax } from './multipart-rules.ts';
import type { CompletionErrorCode } from './multipart-rules.ts';

/** Starts an upload of `name` (`<bucket>/<key>`); refused when the bucket does not exist. */
export interface CreateUploadCommand {
  readonly op: 'createUpload';
  /** Chosen by the leader (random), so a retried request with the same requestId gets the same. */
  readonly uploadId: string;
  readonly name: string;
  readonly bucket: string;
  readonly contentType: string;
  /** The headers the completed version keeps (shared/object-headers.ts); none when absent. */
  readonly headers?: ObjectHeaders;
  readonly hlc: string;
  readonly requestId?: string;
}

/** A part whose chunks are durable on a majority; replaces the part with the same number. */
export interface PutPartCommand {
  readonly op: 'putPart';
  readonly uploadId: string;
  readonly partNumber: number;
  readonly size: number;
  /** Hex MD5 of the part's bytes (its S3 ETag). */
  readonly md5: string;
  /** Hex SHA-256 of the part's bytes. */
  readonly sha256: string;
  readonly chunks: readonly string[];
  readonly chunkSizes: readonly number[];
  readonly hlc: string;
  readonly requestId?: string;
}

/** A part of a completion, as the leader found it when it hashed the content. */
export interface CompletedPart {
  readonly partNumber: number;
  readonly md5: string;
  readonly sha256: string;
}

/**
 * Makes the listed parts, in order, the next version of the upload's file (their chunks, no bytes
 * copied) and ends the upload. `etag` is the SHA-256 of the whole content, which the leader read
 * back from the parts' chunks: the parts must still be those it read (same MD5 and SHA-256).
 */
export interface CompleteUploadCommand {
  readonly op: 'completeUpload';
  readonly uploadId: string;
  readonly parts: readonly CompletedPart[];
  readonly etag: string;
  readonly hlc: string;
  readonly precondition?: Precondition;
  readonly requestId?: string;
}

/** Ends an upload and drops its parts. */
export interface AbortUploadCommand {
  readonly op: 'abortUpload';
  readonly uploadId: string;
  readonly hlc: string;
  readonly requestId?: string;
}

/** Aborts the oldest uploads created before `createdBeforeMs` (at most `uploadsExpiredPerEntryMax`). */
export interface ExpireUploadsCommand {
  readonly op: 'expireUploads';
  readonly createdBeforeMs: number;
  readonly hlc: string;
  /** Never set: the leader's own housekeeping is not retried by a client. */
  readonly requestId?: undefined;
}

export type UploadCommand = CreateUploadCommand | PutPartCommand | CompleteUploadCommand | AbortUploadCommand | ExpireUploadsCommand;

export const uploadOps: readonly string[] = ['createUpload', 'putPart', 'completeUpload', 'abortUpload', 'expireUploads'];

/** Uploads one expireUploads entry removes at most (the leader proposes again for the rest). */
export const uploadsExpiredPerEntryMax = 100;

/** An upload as clients see it. */
export interface UploadJson {
  readonly uploadId: string;
  readonly name: string;
  readonly bucket: string;
  readonly contentType: string;
  /** ISO 8601. */
  readonly created: string;
}

/** A part as clients see it. */
export interface PartJson {
  readonly partNumber: number;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
  /** ISO 8601. */
  readonly modified: string;
}

export type UploadErrorCode = 'no_such_upload' | CompletionErrorCode | MetadataErrorCode;

export type UploadResult =
  | { readonly ok: true; readonly upload: UploadJson }
  | { readonly ok: true; readonly part: PartJson }
  | { readonly ok: true; readonly file: FileJson }
  | { readonly ok: true; readonly expired: readonly string[] }
  | { readonly ok: false; readonly code: UploadErrorCode; readonly message: string };

/** Why `command` (with an upload op) is not a valid upload command, or null. */
export function uploadCommandProblem(command: Record<string, unknown>, commonProblem: (command: Record<string, unknown>) => string | null, preconditionProblem: (value: unknown) => string | null): string | null {
  const fields: Record<string, readonly string[]> = {
    createUpload: ['uploadId', 'name', 'bucket', 'contentType', 'headers', 'requestId'],
    putPart: ['uploadId', 'partNumber', 'size', 'md5', 'sha256', 'chunks', 'chunkSizes', 'requestId'],
    completeUpload: ['uploadId', 'parts', 'etag', 'precondition', 'requestId'],
    abortUpload: ['uploadId', 'requestId'],
    expireUploads: ['createdBeforeMs'],
  };
  const allowed = ['op', 'hlc', ...fields[command.op as string]!];
  for (const key of Object.keys(command)) if (!allowed.includes(key)) return `unexpected field "${key}"`;
  const common = commonProblem(command);
  if (common !== null) return common;
  if (command.op === 'expireUploads') {
    return Number.isSafeInteger(command.createdBeforeMs) && (command.createdBeforeMs as number) >= 0 ? null : 'createdBeforeMs must be a non-negative integer';
  }
  if (!isUploadId(command.uploadId)) return 'uploadId must be 32 lowercase hex digits';
  switch (command.op) {
    case 'createUpload':
      return createProblem(command);
    case 'putPart':
      return partProblem(command);
    case 'completeUpload': {
      if (command.precondition !== undefined) {
        const problem = preconditionProblem(command.precondition);
        if (problem !== null) return `precondition: ${problem}`;
      }
      return completeProblem(command);
    }
    default:
      return null;
  }
}

function createProblem(command: Record<string, unknown>): string | null {
  const name = validateName(command.name);
  if (!name.ok) return `name: ${name.reason}`;
  const bucketProblem = bucketNameProblem(command.bucket);
  if (bucketProblem !== null) return `bucket: ${bucketProblem}`;
  if (!(command.name as string).startsWith(`${command.bucket as string}/`)) return 'an upload must name a file in its bucket';
  const { contentType } = command;
  if (typeof contentType !== 'string' || contentType.length === 0 || contentType.length > contentTypeLengthMax) {
    return `contentType must be a string of 1 to ${contentTypeLengthMax} characters`;
  }
  return command.headers === undefined ? null : objectHeadersProblem(command.headers);
}

function partProblem(command: Record<string, unknown>): string | null {
  const { partNumber, size, md5, sha256, chunks, chunkSizes } = command;
  if (!isPartNumber(partNumber)) return `partNumber must be an integer from 1 to ${partNumberMax}`;
  if (!Number.isSafeInteger(size) || (size as number) < 0) return 'size must be a non-negative integer';
  if (!isMd5Hex(md5)) return 'md5 must be a lowercase hex MD5';
  if (!isSha256Hex(sha256)) return 'sha256 must be a lowercase hex SHA-256';
  if (!Array.isArray(chunks) || chunks.length > chunksPerFileMax) return 'chunks must be an array of chunk hashes';
  for (const hash of chunks) if (!isSha256Hex(hash)) return `chunk ${JSON.stringify(hash)} is not a lowercase hex SHA-256`;
  if (!Array.isArray(chunkSizes) || chunkSizes.length !== chunks.length) return 'chunkSizes must have one size per chunk';
  let total = 0;
  for (const chunkSize of chunkSizes) {
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) return 'chunkSizes must be positive integers';
    total += chunkSize;
  }
  if (total !== size) return `chunkSizes add up to ${total}, not the size ${String(size)}`;
  return null;
}

function completeProblem(command: Record<string, unknown>): string | null {
  const { parts, etag } = command;
  if (!isSha256Hex(etag)) return 'etag must be a lowercase hex SHA-256';
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > partNumberMax) return `parts must list 1 to ${partNumberMax} parts`;
  for (const part of parts as unknown[]) {
    if (typeof part !== 'object' || part === null) return 'a part must be an object';
    const { partNumber, md5, sha256, ...rest } = part as Record<string, unknown>;
    if (Object.keys(rest).length > 0) return `a part has an unexpected field "${Object.keys(rest)[0]}"`;
    if (!isPartNumber(partNumber)) return `partNumber must be an integer from 1 to ${partNumberMax}`;
    if (!isMd5Hex(md5) || !isSha256Hex(sha256)) return 'a part needs its hex md5 and sha256';
  }
  return null;
}
