// Conditional writes, decided at apply time against the state the entry is applied to, so that
// they are linearizable (two racing `If-None-Match: *` puts: the first applied wins, the other
// gets 412, on every node alike).
import { parseEtagList } from '../../../shared/etag-list.ts';
import type { Precondition } from './commands.ts';

/** The etags of the current version: the native SHA-256, and its S3 ETag when it has one. */
export interface CurrentEtags {
  readonly etag: string;
  readonly s3Etag: string | null;
}

/**
 * Why `precondition` fails against the current version (null: there is none), or null if it holds.
 * If-Match holds for either of its etags (a SHA-256 and an S3 ETag never look alike), so native
 * clients and S3 clients each name the version by the ETag they were given.
 */
export function preconditionFailure(precondition: Precondition | undefined, current: CurrentEtags | null): string | null {
  if (precondition === undefined) return null;
  if (precondition.ifNoneMatch === '*' && current !== null) return 'If-None-Match: * but the file exists';
  if (precondition.ifMatch !== undefined) {
    if (current === null) return 'If-Match but the file does not exist';
    const wanted = parseEtagList(precondition.ifMatch);
    const matches = wanted === '*' || wanted.includes(current.etag) || (current.s3Etag !== null && wanted.includes(current.s3Etag));
    if (!matches) return `If-Match does not match the current etag "${current.etag}"`;
  }
  return null;
}
