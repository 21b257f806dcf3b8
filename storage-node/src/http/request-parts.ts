// Reading the parts of a client request: the file name in the path, preconditions, consistency.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { nameInPath, rawRequestTarget, targetPath } from '../../../shared/names.ts';
import { isMetadataTooLarge, objectHeadersProblem, storedStandardHeaders, userMetadataBytesMax, userMetadataPrefix } from '../../../shared/object-headers.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import { contentTypeLengthMax, requestIdLengthMax } from '../metadata/commands.ts';
import type { Precondition } from '../metadata/commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';

/**
 * The path as the client sent it. The Request that @hono/node-server builds has dot segments
 * already resolved (`/files/a/../b` became `/files/b`, `%2E%2E` too), which would let a name
 * the rules forbid through as another name; the raw request target still has them.
 */
export function rawPath(c: Context): string {
  return targetPath(rawRequestTarget(c.env, c.req.url));
}

/** The validated name after `/files/` or `/upload/` (judged as the gateway judges it: shared/names.ts). */
export function fileName(c: Context): string {
  const check = nameInPath(rawPath(c));
  if (!check.ok) throw new HttpError(400, 'bad_name', check.reason);
  return check.name;
}

const noBytes: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/**
 * The request body as a stream of bytes. Under @hono/node-server that is the Node request itself:
 * asking Hono for `c.req.raw.body` builds a web Request and wraps the socket in a web stream,
 * about a tenth of a small write's CPU on the leader, for nothing.
 */
export function requestBody(c: Context): AsyncIterable<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const body = incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? noBytes;
  // A SigV4-signed body's hash (http/native-auth.ts) is checked by the node that reads it.
  const signedHash = c.req.header('x-amz-content-sha256');
  return signedHash !== undefined && /^[0-9a-f]{64}$/.test(signedHash) ? hashChecked(body, signedHash) : body;
}

/**
 * The body of a content write (a file or a part) and the hex SHA-256 its x-amz-content-sha256
 * declares, if any: the file service checks that against the hash it computes of the content
 * anyway, before it proposes anything, so the body is not hashed twice.
 */
export function contentBody(c: Context): { body: AsyncIterable<Uint8Array>; expectedSha256?: string } {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const body = incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? noBytes;
  const declared = c.req.header('x-amz-content-sha256');
  return declared !== undefined && /^[0-9a-f]{64}$/.test(declared) ? { body, expectedSha256: declared } : { body };
}

/**
 * The body, its last piece held back until the whole body's SHA-256 is known: a body that is not
 * the one signed fails before its end, so the write stores nothing (its chunks are collected).
 */
async function* hashChecked(body: AsyncIterable<Uint8Array>, expectedHex: string): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let held: Uint8Array | null = null;
  for await (const piece of body) {
    hash.update(piece);
    if (held !== null) yield held;
    held = piece;
  }
  if (hash.digest('hex') !== expectedHex) throw new HttpError(400, 'x_amz_content_sha256_mismatch', 'the body does not hash to its x-amz-content-sha256');
  if (held !== null) yield held;
}

export function writePrecondition(c: Context): Precondition | undefined {
  const ifMatch = c.req.header('if-match');
  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw new HttpError(400, 'bad_request', 'a write supports only If-None-Match: *');
  if (ifMatch !== undefined && ifMatch.trim() === '') throw new HttpError(400, 'bad_request', 'If-Match is empty');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  return { ...(ifMatch !== undefined ? { ifMatch: ifMatch.trim() } : {}), ...(ifNoneMatch !== undefined ? { ifNoneMatch: '*' as const } : {}) };
}

/** The bucket a write needs (`X-DFS-Require-Bucket`, sent by the S3 gateway), checked when applied. */
export function requiredBucket(c: Context): string | undefined {
  const bucket = c.req.header('x-dfs-require-bucket');
  if (bucket === undefined) return undefined;
  const problem = bucketNameProblem(bucket);
  if (problem !== null) throw new HttpError(400, 'bad_bucket_name', problem);
  if (!fileName(c).startsWith(`${bucket}/`)) throw new HttpError(400, 'bad_request', 'X-DFS-Require-Bucket must be the first segment of the name');
  return bucket;
}

export function requestId(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > requestIdLengthMax) throw new HttpError(400, 'bad_request', `Idempotency-Key must be 1 to ${requestIdLengthMax} characters`);
  return key;
}

export function contentType(c: Context): string {
  const type = c.req.header('content-type')?.trim() || 'application/octet-stream';
  if (type.length > contentTypeLengthMax) throw new HttpError(400, 'bad_request', `Content-Type longer than ${contentTypeLengthMax} characters`);
  return type;
}

export function contentLength(c: Context): number | undefined {
  const text = c.req.header('content-length');
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new HttpError(400, 'bad_request', 'bad Content-Length');
  return value;
}

export type Consistency = 'linearizable' | 'leader' | 'local';

/** The consistency a read asks for (`?consistency=` wins over `X-Consistency`); linearizable by default. */
export function readConsistency(c: Context): Consistency {
  const wanted = (c.req.query('consistency') ?? c.req.header('x-consistency') ?? 'linearizable').toLowerCase();
  if (wanted !== 'linearizable' && wanted !== 'leader' && wanted !== 'local') {
    throw new HttpError(400, 'bad_request', 'consistency must be linearizable, leader or local');
  }
  return wanted;
}

/**
 * Waits as the requested consistency needs; the answer then reflects at least that state.
 * A `leader` read must run on the leader (callers forward it first): there the ReadIndex barrier
 * makes it linearizable, as a linearizable read is on a follower.
 */
export async function readConsistently(ctx: NodeContext, c: Context, wanted: Consistency = readConsistency(c)): Promise<Consistency> {
  if (wanted !== 'local') await ctx.raft.readBarrier();
  c.header('X-Applied-Index', String(ctx.metadata.appliedIndex()));
  return wanted;
}

/**
 * Whether the client asks for S3 ETags (`X-DFS-S3-ETag: 1`, sent by the S3 gateway): a write then
 * computes the content's MD5 too, and JSON answers show each version's `s3Etag`.
 */
export function wantsS3Etag(c: Context): boolean {
  const value = c.req.header('x-dfs-s3-etag');
  if (value === undefined) return false;
  if (value.trim() !== '1') throw new HttpError(400, 'bad_request', 'X-DFS-S3-ETag must be 1');
  return true;
}

/**
 * The headers a write asks the version to keep (shared/object-headers.ts): Cache-Control,
 * Content-Disposition, Content-Encoding, Content-Language, Expires and `X-DFS-Meta-*`, as sent
 * (names lowercase). `400 metadata_too_large` over S3's 2 KB of user metadata.
 */
export function storedHeaders(c: Context): ObjectHeaders {
  const out: Record<string, string> = {};
  c.req.raw.headers.forEach((value, name) => {
    if (name.startsWith(userMetadataPrefix) || storedStandardHeaders.includes(name)) out[name] = value;
  });
  if (isMetadataTooLarge(out)) throw new HttpError(400, 'metadata_too_large', `user metadata (${userMetadataPrefix}*, names and values) has at most ${userMetadataBytesMax} bytes`);
  const problem = objectHeadersProblem(out);
  if (problem !== null) throw new HttpError(400, 'bad_request', problem);
  return out;
}

/**
 * A copy's `X-DFS-Metadata-Directive`: `copy` (the default) keeps the source's stored headers,
 * `replace` takes the request's (none when it sends none), as S3's x-amz-metadata-directive.
 */
export function metadataDirective(c: Context): 'copy' | 'replace' {
  const value = (c.req.header('x-dfs-metadata-directive') ?? 'copy').trim().toLowerCase();
  if (value !== 'copy' && value !== 'replace') throw new HttpError(400, 'bad_request', 'X-DFS-Metadata-Directive must be copy or replace');
  return value;
}
