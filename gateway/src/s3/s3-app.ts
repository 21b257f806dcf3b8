// The S3 API's HTTP app, on its own listener: every request is verified (SigV4) before anything
// else happens, parsed into one operation (s3-router.ts), handled over the native API, and
// answered with S3's headers; every failure is an S3 XML error document.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { stopOnAssertion } from '../../../shared/assert.ts';
import { rawRequestTarget, targetPath } from '../../../shared/names.ts';
import { createBucket, deleteBucket, getBucketLocation, headBucket, listBuckets } from './bucket-handlers.ts';
import { copyObject } from './copy-object.ts';
import { deleteObject } from './delete-object.ts';
import { deleteObjects } from './delete-objects.ts';
import { getBucketVersioning, listObjectVersions, putBucketVersioning } from './bucket-versioning.ts';
import { getObject } from './get-object.ts';
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, uploadPart, uploadPartCopy } from './multipart.ts';
import { listMultipartUploads, listParts } from './multipart-listing.ts';
import { listObjectsV1, listObjectsV2 } from './list-objects.ts';
import type { NativeClient } from './native-client.ts';
import { putObject } from './put-object.ts';
import { S3Error } from './s3-errors.ts';
import type { S3Call } from './s3-call.ts';
import { errorResponse } from './s3-response.ts';
import { addressedPath, route } from './s3-router.ts';
import type { Endpoint } from './s3-router.ts';
import { verifyRequest } from '../../../shared/sigv4/verify-request.ts';
import type { KeyLookup } from '../../../shared/sigv4/verify-request.ts';
import { SigV4Error } from '../../../shared/sigv4/sigv4-error.ts';
import { claimedAccessKeyId } from '../access-keys.ts';

export interface S3AppDeps {
  readonly region: string;
  /** `--s3-domain`: a Host of `<bucket>.<domain>` addresses the bucket; null: path-style only. */
  readonly domain?: string | null;
  /** `prepare` (when given) is awaited before a request naming that key id is verified. */
  readonly keys: KeyLookup & { prepare?(accessKeyId: string | null): Promise<void> };
  readonly native: NativeClient;
  /** Called with each answered request, for metrics (never with secrets). */
  readonly onAnswered?: (endpoint: string, status: number, seconds: number) => void;
}

const noBody: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

function incomingOf(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * The client's body: the Node request itself under @hono/node-server (no web-stream wrapper).
 * A check that stops reading it early must not destroy it (and the socket with it): the client
 * is still owed the error document, and Node's server drops the rest of the body after it.
 */
function clientBody(c: Context): AsyncIterable<Uint8Array> {
  const incoming = incomingOf(c);
  if (incoming !== undefined) return { [Symbol.asyncIterator]: () => incoming.iterator({ destroyOnReturn: false }) };
  return (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? noBody;
}

function handle(endpoint: Endpoint, call: S3Call): Promise<Response> {
  switch (endpoint.op) {
    case 'ListBuckets':
      return listBuckets(call);
    case 'CreateBucket':
      return createBucket(call, endpoint.bucket);
    case 'HeadBucket':
      return headBucket(call, endpoint.bucket);
    case 'DeleteBucket':
      return deleteBucket(call, endpoint.bucket);
    case 'GetBucketLocation':
      return getBucketLocation(call, endpoint.bucket);
    case 'ListObjectsV2':
      return listObjectsV2(call, endpoint.bucket);
    case 'ListObjects':
      return listObjectsV1(call, endpoint.bucket);
    case 'PutObject':
      return putObject(call, endpoint.bucket, endpoint.key);
    case 'CopyObject':
      return copyObject(call, endpoint.bucket, endpoint.key);
    case 'GetObject':
    case 'HeadObject':
      return getObject(call, endpoint.bucket, endpoint.key);
    case 'DeleteObject':
      return deleteObject(call, endpoint.bucket, endpoint.key);
    case 'DeleteObjects':
      return deleteObjects(call, endpoint.bucket);
    case 'GetBucketVersioning':
      return getBucketVersioning(call, endpoint.bucket);
    case 'PutBucketVersioning':
      return putBucketVersioning(call, endpoint.bucket);
    case 'ListObjectVersions':
      return listObjectVersions(call, endpoint.bucket);
    case 'ListMultipartUploads':
      return listMultipartUploads(call, endpoint.bucket);
    case 'CreateMultipartUpload':
      return createMultipartUpload(call, endpoint.bucket, endpoint.key);
    case 'UploadPart':
      return uploadPart(call, endpoint.bucket, endpoint.key);
    case 'UploadPartCopy':
      return uploadPartCopy(call, endpoint.bucket, endpoint.key);
    case 'CompleteMultipartUpload':
      return completeMultipartUpload(call, endpoint.bucket, endpoint.key);
    case 'AbortMultipartUpload':
      return abortMultipartUpload(call, endpoint.bucket, endpoint.key);
    case 'ListParts':
      return listParts(call, endpoint.bucket, endpoint.key);
  }
}

export function s3App(deps: S3AppDeps): Hono {
  const app = new Hono();
  app.all('*', async (c) => {
    const started = performance.now();
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const target = rawRequestTarget(c.env, c.req.url);
    const rawPath = targetPath(target);
    const queryAt = target.indexOf('?');
    const rawQuery = queryAt === -1 ? '' : target.slice(queryAt + 1);
    const method = c.req.method;
    let operation = 'unknown';
    let response: Response;
    try {
      const headers = c.req.raw.headers;
      await deps.keys.prepare?.(claimedAccessKeyId(headers, rawQuery));
      const verified = verifyRequest({ method, rawPath, rawQuery, headers }, { region: deps.region, keys: deps.keys, nowMs: Date.now() });
      const query = new URLSearchParams(rawQuery);
      // The signature covers the request as sent (its Host and path); the route, the bucket it addresses.
      const endpoint = route(method, addressedPath(rawPath, headers.get('host'), deps.domain ?? null), query, headers);
      operation = endpoint.op;
      response = await handle(endpoint, {
        method, headers, query, body: clientBody(c), payload: verified.payload,
        region: deps.region, native: deps.native, signal: c.req.raw.signal,
      });
    } catch (caught) {
      // The verifier's refusals carry S3's codes: the same error document.
      const err = caught instanceof SigV4Error ? new S3Error(caught.code, caught.message, caught.details) : caught;
      stopOnAssertion(err, `S3 ${method} ${rawPath}`);
      if (!(err instanceof S3Error)) console.error(`gateway S3: ${method} ${rawPath}:`, err);
      const error = err instanceof S3Error ? err : new S3Error('InternalError', 'We encountered an internal error. Please try again.');
      response = errorResponse(error, method, rawPath, requestId);
    }
    response.headers.set('x-amz-request-id', requestId);
    response.headers.set('x-amz-id-2', requestId);
    response.headers.set('Server', 'RaftDFS');
    deps.onAnswered?.(operation, response.status, (performance.now() - started) / 1000);
    return response;
  });
  return app;
}
