// GetObject's and HeadObject's conditional headers, in the order RFC 9110 §13.2.2 (and S3) decide
// them: If-Match, else If-Unmodified-Since (412 when false); then If-None-Match, else
// If-Modified-Since (304 when false). Dates compare at whole seconds, as Last-Modified has them.
import { parseEtagList } from '../../../shared/etag-list.ts';

export type ConditionVerdict = 'proceed' | 'not-modified' | 'precondition-failed';

function matches(header: string, etag: string): boolean {
  const list = parseEtagList(header);
  return list === '*' || list.includes(etag);
}

/** Seconds since the epoch of an HTTP date, or null when it is not one (then it is ignored). */
function seconds(header: string | null): number | null {
  if (header === null) return null;
  const ms = Date.parse(header);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

export interface ObjectValidators {
  /** Unquoted. */
  readonly etag: string;
  readonly lastModifiedMs: number;
}

export function evaluateConditions(headers: Headers, object: ObjectValidators): ConditionVerdict {
  const modifiedSeconds = Math.floor(object.lastModifiedMs / 1000);
  const ifMatch = headers.get('if-match');
  if (ifMatch !== null) {
    if (!matches(ifMatch, object.etag)) return 'precondition-failed';
  } else {
    const unmodifiedSince = seconds(headers.get('if-unmodified-since'));
    if (unmodifiedSince !== null && modifiedSeconds > unmodifiedSince) return 'precondition-failed';
  }
  const ifNoneMatch = headers.get('if-none-match');
  if (ifNoneMatch !== null) {
    if (matches(ifNoneMatch, object.etag)) return 'not-modified';
  } else {
    const modifiedSince = seconds(headers.get('if-modified-since'));
    if (modifiedSince !== null && modifiedSeconds <= modifiedSince) return 'not-modified';
  }
  return 'proceed';
}

/** The verdict for a version read from the node, from its `ETag` (quoted) and `Last-Modified` headers. */
export function conditionsVerdict(headers: Headers, etagHeader: string, lastModifiedHeader: string): ConditionVerdict {
  const etag = etagHeader.replace(/^"(.*)"$/, '$1');
  const lastModifiedMs = Date.parse(lastModifiedHeader);
  return evaluateConditions(headers, { etag, lastModifiedMs: Number.isNaN(lastModifiedMs) ? 0 : lastModifiedMs });
}
