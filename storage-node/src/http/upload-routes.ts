// `/uploads`: S3 multipart uploads over the native API (the S3 gateway's CreateMultipartUpload,
// UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
// ListMultipartUploads). Routes parse and answer; the multipart service does the work.
//   POST   /uploads?name=<name>                 start one (X-DFS-Require-Bucket names its bucket)
//   GET    /uploads?prefix=&after=&afterId=&limit=   uploads in progress, by name then id
//   GET    /uploads/<id>                        the upload and its parts
//   PUT    /uploads/<id>/parts/<n>              a part (the body; or X-DFS-Copy-Source[-Version|-Range])
//   POST   /uploads/<id>/complete               {"parts":[{"partNumber","etag"}]} -> the file
//   DELETE /uploads/<id>                        abort
// Every `/uploads/<id>` route takes `?name=<name>`: the upload must be that file's.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { validateName } from '../../../shared/names.ts';
import type { FileService } from '../files/file-service.ts';
import type { MultipartService, UploadRef } from '../files/multipart-service.ts';
import { withoutS3Etag } from '../metadata/file-record.ts';
import { isPartNumber, isUploadId, partNumberMax } from '../metadata/multipart-rules.ts';
import type { RequestedPart } from '../metadata/multipart-rules.ts';
import { listLimitDefault, listLimitMax } from '../metadata/metadata-state-machine.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { copySource } from './copy-source.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { contentBody, contentLength, contentType, readConsistency, readConsistently, requestBody, requestId, storedHeaders, wantsS3Etag, writePrecondition } from './request-parts.ts';

/** The longest completion document read, in bytes (10000 parts of about 70 bytes each, and room). */
export const completionBodyBytesMax = 1024 * 1024;

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function nameQuery(c: Context, required: boolean): string | undefined {
  const name = c.req.query('name');
  if (name === undefined) {
    if (required) throw new HttpError(400, 'bad_name', '?name= names the file the upload becomes');
    return undefined;
  }
  const check = validateName(name);
  if (!check.ok) throw new HttpError(400, 'bad_name', check.reason);
  return name;
}

function uploadRef(c: Context): UploadRef {
  const uploadId = c.req.param('id') ?? '';
  if (!isUploadId(uploadId)) throw new HttpError(404, 'no_such_upload', `no upload ${(c.req.param('id') ?? '').slice(0, 64)} in progress`);
  return { uploadId, ...optional('name', nameQuery(c, false)) };
}

function partNumber(c: Context): number {
  const text = c.req.param('part') ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || !isPartNumber(value)) throw new HttpError(400, 'bad_request', `a part number is an integer from 1 to ${partNumberMax}`);
  return value;
}

/** `X-DFS-Copy-Source-Range: bytes=first-last`, within the source's size. */
function copyRange(c: Context, size: number): { start: number; end: number } {
  const header = c.req.header('x-dfs-copy-source-range');
  if (header === undefined) return { start: 0, end: size - 1 };
  const match = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  const start = Number(match?.[1]);
  const end = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || end >= size) {
    throw new HttpError(416, 'range_not_satisfiable', `X-DFS-Copy-Source-Range must be bytes=first-last within the source's ${size} bytes`);
  }
  return { start, end };
}

/** The completion document: `{"parts":[{"partNumber":1,"etag":"\"<md5>\""},…]}`. */
async function completionParts(c: Context): Promise<RequestedPart[]> {
  const length = contentLength(c);
  if (length !== undefined && length > completionBodyBytesMax) throw new HttpError(413, 'too_large', `a completion has at most ${completionBodyBytesMax} bytes`);
  const pieces: Buffer[] = [];
  let received = 0;
  for await (const piece of requestBody(c)) {
    received += piece.length;
    if (received > completionBodyBytesMax) throw new HttpError(413, 'too_large', `a completion has at most ${completionBodyBytesMax} bytes`);
    pieces.push(Buffer.from(piece));
  }
  let document: unknown;
  try {
    document = JSON.parse(Buffer.concat(pieces).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_request', 'a completion is JSON: {"parts":[{"partNumber":1,"etag":"…"}]}');
  }
  const parts = (document as { parts?: unknown } | null)?.parts;
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > partNumberMax) throw new HttpError(400, 'bad_request', `a completion lists 1 to ${partNumberMax} parts`);
  return parts.map((part: unknown) => {
    const { partNumber: number, etag } = (part ?? {}) as { partNumber?: unknown; etag?: unknown };
    if (!isPartNumber(number)) throw new HttpError(400, 'bad_request', `a part number is an integer from 1 to ${partNumberMax}`);
    const md5 = typeof etag === 'string' ? etag.trim().replace(/^"(.*)"$/, '$1').toLowerCase() : '';
    // Not an MD5: no part has it (S3 answers InvalidPart).
    return { partNumber: number, md5: /^[0-9a-f]{32}$/.test(md5) ? md5 : `not-an-etag:${md5.slice(0, 64)}` };
  });
}

export function uploadRoutes(ctx: NodeContext, files: FileService, uploads: MultipartService): Hono {
  const app = new Hono();
  const write = (handler: (c: Context) => Promise<Response>) => async (c: Context) => (isLeader(ctx) ? handler(c) : forwardToLeader(ctx, c));
  const read = (handler: (c: Context) => Response) => async (c: Context) => {
    const consistency = readConsistency(c);
    if (consistency === 'leader' && !isLeader(ctx)) return forwardToLeader(ctx, c);
    await readConsistently(ctx, c, consistency);
    return handler(c);
  };

  app.post('/uploads', write(async (c) => {
    const name = nameQuery(c, true)!;
    const bucket = c.req.header('x-dfs-require-bucket');
    if (bucket === undefined) throw new HttpError(400, 'bad_request', 'an upload needs X-DFS-Require-Bucket: the bucket it is in');
    const upload = await uploads.create({ name, bucket: checkedBucket(c, name), contentType: contentType(c), headers: storedHeaders(c), ...optional('requestId', requestId(c)) });
    return c.json(upload, 201);
  }));
  app.get('/uploads', read((c) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? listLimitDefault : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > listLimitMax - 1) throw new HttpError(400, 'bad_request', `limit must be an integer from 1 to ${listLimitMax - 1}`);
    const afterName = c.req.query('after') ?? '';
    const afterId = c.req.query('afterId') ?? '';
    return c.json(uploads.list({ prefix: c.req.query('prefix') ?? '', afterName, afterId, limit }));
  }));
  app.get('/uploads/:id', read((c) => {
    const ref = uploadRef(c);
    const found = uploads.find(ref);
    if (found === null) throw new HttpError(404, 'no_such_upload', `no upload ${ref.uploadId} in progress`);
    return c.json(found);
  }));
  app.put('/uploads/:id/parts/:part', write(async (c) => {
    const ref = uploadRef(c);
    const number = partNumber(c);
    let part;
    if (c.req.header('x-dfs-copy-source') !== undefined) {
      const source = copySource(c);
      const record = files.find(source.name, source.version);
      if (record === null) throw new HttpError(404, 'no_such_source', `no file "${source.name}"${source.version === undefined ? '' : ` version ${source.version}`} to copy`);
      const { start, end } = copyRange(c, record.size);
      part = await uploads.copyPart({ ...ref, partNumber: number, source: record, start, end, ...optional('requestId', requestId(c)) });
      c.header('X-DFS-Copy-Source-Version', String(record.version));
    } else {
      part = await uploads.writePart({ ...ref, partNumber: number, ...contentBody(c), ...optional('expectedLength', contentLength(c)), ...optional('requestId', requestId(c)) });
    }
    c.header('ETag', `"${part.md5}"`);
    return c.json(part, 201);
  }));
  app.post('/uploads/:id/complete', write(async (c) => {
    const ref = uploadRef(c);
    const file = await uploads.complete({ ...ref, parts: await completionParts(c), ...optional('precondition', writePrecondition(c)), ...optional('requestId', requestId(c)) });
    c.header('ETag', `"${file.etag}"`);
    if (file.s3Etag !== undefined) c.header('X-DFS-S3-ETag', `"${file.s3Etag}"`);
    return c.json(wantsS3Etag(c) ? file : withoutS3Etag(file), 201);
  }));
  app.delete('/uploads/:id', write(async (c) => {
    await uploads.abort({ ...uploadRef(c), ...optional('requestId', requestId(c)) });
    return c.body(null, 204);
  }));
  return app;
}

/** X-DFS-Require-Bucket, which must be the first segment of the upload's name. */
function checkedBucket(c: Context, name: string): string {
  // requiredBucket() judges it against the name in the path; here the name is in the query.
  const bucket = c.req.header('x-dfs-require-bucket')!;
  const problem = bucketNameProblem(bucket);
  if (problem !== null) throw new HttpError(400, 'bad_bucket_name', problem);
  if (!name.startsWith(`${bucket}/`)) throw new HttpError(400, 'bad_request', 'X-DFS-Require-Bucket must be the first segment of the name');
  return bucket;
}
