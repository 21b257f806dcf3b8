// S3's rules for multipart uploads, in one place for the leader (which checks a CompleteMultipart
// Upload before it reads a byte) and the state machine (which decides it when applied).
import { createHash } from 'node:crypto';
import { assert } from '../../../shared/assert.ts';

/** Part numbers run from 1 to this (S3's limit), so an upload has at most this many parts. */
export const partNumberMax = 10_000;
/** Every part but the last must have at least this many bytes (S3: 5 MiB). */
export const partBytesMin = 5 * 1024 * 1024;

const uploadIdPattern = /^[0-9a-f]{32}$/;

/** Upload ids are 128 random bits, in hex. */
export function isUploadId(value: unknown): value is string {
  return typeof value === 'string' && uploadIdPattern.test(value);
}

export function isPartNumber(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= partNumberMax;
}

/** A part as the client names it in CompleteMultipartUpload. */
export interface RequestedPart {
  readonly partNumber: number;
  /** Hex MD5 (the part's ETag, unquoted). */
  readonly md5: string;
}

/** What the rules need of a stored part. */
export interface StoredPartFacts {
  readonly size: number;
  readonly md5: string;
}

export type CompletionErrorCode = 'invalid_part_order' | 'invalid_part' | 'entity_too_small';

/** Why the client's part list cannot complete the upload, or null when it can. */
export function completionProblem(requested: readonly RequestedPart[], stored: (partNumber: number) => StoredPartFacts | null): { code: CompletionErrorCode; message: string } | null {
  assert(requested.length >= 1 && requested.length <= partNumberMax, 'a completion lists 1 to 10000 parts');
  for (let i = 1; i < requested.length; i++) {
    if (requested[i].partNumber <= requested[i - 1].partNumber) {
      return { code: 'invalid_part_order', message: `part ${requested[i].partNumber} follows part ${requested[i - 1].partNumber}: the list must be in ascending order` };
    }
  }
  for (const [at, part] of requested.entries()) {
    const found = stored(part.partNumber);
    if (found === null) return { code: 'invalid_part', message: `part ${part.partNumber} was not uploaded` };
    if (found.md5 !== part.md5) return { code: 'invalid_part', message: `part ${part.partNumber} has the ETag "${found.md5}", not "${part.md5}"` };
    if (at < requested.length - 1 && found.size < partBytesMin) {
      return { code: 'entity_too_small', message: `part ${part.partNumber} has ${found.size} bytes; every part but the last needs at least ${partBytesMin}` };
    }
  }
  return null;
}

/** S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then `-<parts>`. */
export function multipartEtag(partMd5s: readonly string[]): string {
  const hash = createHash('md5');
  for (const md5 of partMd5s) hash.update(Buffer.from(md5, 'hex'));
  return `${hash.digest('hex')}-${partMd5s.length}`;
}
