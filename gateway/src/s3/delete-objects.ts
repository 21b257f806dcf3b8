// DeleteObjects (POST /<bucket>?delete): up to 1000 keys in one XML document, each deleted with
// the native delete (its own Raft entry), a few at a time. S3 requires the document's Content-MD5
// or an x-amz-checksum-*; both are verified like any body. The answer lists each key as Deleted
// or Error (Quiet: errors only). A key that is not there counts as deleted, as in S3. As for
// DeleteObject, a key named without a version id gets a delete marker on a bucket whose
// versioning is Enabled (DeleteMarker, DeleteMarkerVersionId in its Deleted entry); a version id
// naming a delete marker removes it (DeleteMarker true too).
import { XMLParser } from 'fast-xml-parser';
import { deleteKey, deletedVersionOf } from './delete-object.ts';
import { S3Error } from './s3-errors.ts';
import { requireBucketRecord } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { xmlResponse } from './s3-response.ts';
import { xmlDocument } from './s3-xml.ts';
import type { XmlElement } from './s3-xml.ts';
import { readSmallBody } from './small-body.ts';

/** The most keys one request may name (S3's limit). */
export const deleteKeysMax = 1000;
/** The longest Delete document read, in bytes: 1000 keys of 1 KiB, escaped, with their tags. */
export const deleteDocumentBytesMax = 8 * 1024 * 1024;
/** Native deletes in flight at once for one request. */
const deletesInFlight = 8;

export interface DeleteTarget {
  readonly key: string;
  readonly versionId?: string;
}

export interface DeleteRequestDocument {
  readonly quiet: boolean;
  readonly objects: readonly DeleteTarget[];
}

function malformed(): S3Error {
  return new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
}

/** The keys (and version ids) of a Delete document; MalformedXML when it is not one. */
export function parseDeleteDocument(xml: string): DeleteRequestDocument {
  const parser = new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    // Keys keep their spaces; character references (&#10;) are decoded.
    trimValues: false,
    htmlEntities: true,
    isArray: (_name, path) => path === 'Delete.Object',
  });
  let parsed: { Delete?: { Object?: unknown; Quiet?: unknown } };
  try {
    parsed = parser.parse(xml, true) as typeof parsed;
  } catch {
    throw malformed();
  }
  const root = parsed.Delete;
  if (typeof root !== 'object' || root === null || !Array.isArray(root.Object) || root.Object.length === 0) throw malformed();
  if (root.Object.length > deleteKeysMax) throw new S3Error('MalformedXML', `A Delete document may name at most ${deleteKeysMax} keys.`);
  const quietText = typeof root.Quiet === 'string' ? root.Quiet.trim().toLowerCase() : root.Quiet === undefined ? 'false' : null;
  if (quietText !== 'true' && quietText !== 'false') throw malformed();
  const objects = root.Object.map((item: unknown): DeleteTarget => {
    if (typeof item !== 'object' || item === null) throw malformed();
    const { Key: key, VersionId: versionId } = item as { Key?: unknown; VersionId?: unknown };
    if (typeof key !== 'string' || key === '') throw malformed();
    if (versionId !== undefined && typeof versionId !== 'string') throw malformed();
    return versionId === undefined ? { key } : { key, versionId: versionId.trim() };
  });
  return { quiet: quietText === 'true', objects };
}

type Outcome = {
  readonly key: string;
  readonly versionId?: string;
  /** The delete marker made or removed, when the delete made or removed one. */
  readonly deleteMarkerVersionId?: string;
  readonly error?: { readonly code: string; readonly message: string };
};

async function deleteOne(call: S3Call, bucket: string, target: DeleteTarget, versioned: boolean): Promise<Outcome> {
  const versionPart = target.versionId === undefined ? {} : { versionId: target.versionId };
  try {
    const outcome = await deleteKey(call, bucket, target.key, deletedVersionOf(target.versionId), versioned && target.versionId === undefined);
    return { key: target.key, ...versionPart, ...(outcome.deleteMarkerVersionId === null ? {} : { deleteMarkerVersionId: outcome.deleteMarkerVersionId }) };
  } catch (err) {
    if (!(err instanceof S3Error)) throw err;
    return { key: target.key, ...versionPart, error: { code: err.code, message: err.message } };
  }
}

/** Each target's outcome, in the request's order, at most `deletesInFlight` at a time. */
async function deleteAll(call: S3Call, bucket: string, targets: readonly DeleteTarget[], versioned: boolean): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array<Outcome>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const at = next++;
      outcomes[at] = await deleteOne(call, bucket, targets[at]!, versioned);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deletesInFlight, targets.length) }, worker));
  return outcomes;
}

/** The DeleteResult document. */
export function deleteResultDocument(outcomes: readonly Outcome[], quiet: boolean): string {
  const deleted: XmlElement[] = [];
  const errors: XmlElement[] = [];
  for (const outcome of outcomes) {
    if (outcome.error === undefined) {
      if (quiet) continue;
      const marker = outcome.deleteMarkerVersionId;
      deleted.push({ Key: outcome.key, VersionId: outcome.versionId, DeleteMarker: marker === undefined ? undefined : true, DeleteMarkerVersionId: marker });
    } else {
      errors.push({ Key: outcome.key, VersionId: outcome.versionId, Code: outcome.error.code, Message: outcome.error.message });
    }
  }
  return xmlDocument('DeleteResult', { Deleted: deleted, Error: errors });
}

export async function deleteObjects(call: S3Call, bucket: string): Promise<Response> {
  const body = await readSmallBody(call, { bytesMax: deleteDocumentBytesMax, requireDigest: true });
  const request = parseDeleteDocument(body.toString('utf8'));
  const record = await requireBucketRecord(call, bucket);
  const outcomes = await deleteAll(call, bucket, request.objects, record.versioning === 'Enabled');
  return xmlResponse(200, deleteResultDocument(outcomes, request.quiet));
}
