// The check of a native API request under `--auth required`, alike on the nodes and the gateway:
// a SigV4 signature (Authorization header or presigned query) by the root key or a live access
// key, with an UNSIGNED-PAYLOAD or hex SHA-256 payload. Its refusals are the native API's JSON
// errors: `401 unauthorized` for an unsigned request, S3's status with a snake_case code else.
import { SigV4Error } from './sigv4-error.ts';
import { verifyRequest } from './verify-request.ts';
import { emptySha256Hex } from './sigv4-crypto.ts';
import type { KeyLookup } from './verify-request.ts';

/** The native API's paths that stay open with --auth required: health and monitoring. */
const openPaths = new Set(['/status', '/health', '/ready', '/metrics']);

/** Whether `path` is served without a signature (admin routes have their own token check). */
export function isOpenPath(path: string): boolean {
  return openPaths.has(path) || path.startsWith('/admin/');
}

export interface NativeRefusal {
  readonly status: 400 | 401 | 403 | 501;
  readonly code: string;
  readonly message: string;
}

/** `SignatureDoesNotMatch` -> `signature_does_not_match`. */
function snakeCase(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Null when the request is signed by a known key with a payload the native API takes, else why
 * not. A hex SHA-256 payload is checked against the body by whoever reads it (the node).
 */
export function nativeAuthRefusal(request: { method: string; rawPath: string; rawQuery: string; headers: Headers }, region: string, keys: KeyLookup, nowMs: number): NativeRefusal | null {
  const query = new URLSearchParams(request.rawQuery);
  if (request.headers.get('authorization') === null && !query.has('X-Amz-Signature') && !query.has('X-Amz-Credential') && !query.has('X-Amz-Algorithm')) {
    return { status: 401, code: 'unauthorized', message: 'this cluster runs with --auth required: sign the request with AWS Signature Version 4 (service s3) using an access key' };
  }
  const sentHash = request.headers.get('x-amz-content-sha256');
  const hasBody = request.headers.has('transfer-encoding') || (request.headers.get('content-length') ?? '0') !== '0';
  if (sentHash === null && hasBody && request.headers.get('authorization') !== null) {
    return { status: 400, code: 'missing_content_sha256', message: "a signed request with a body must send x-amz-content-sha256: UNSIGNED-PAYLOAD or the body's hex SHA-256 (curl before 8: -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')" };
  }
  try {
    const verified = verifyRequest(request, { region, keys, nowMs, absentPayloadHash: emptySha256Hex });
    const { payload } = verified;
    if (payload.kind === 'unsigned') return null;
    if (payload.kind === 'sha256') {
      if (sentHash === null && !hasBody && payload.hex === emptySha256Hex) return null;
      // Only a header travels with the body to the node that reads it and checks the hash.
      if (sentHash !== payload.hex) {
        return { status: 400, code: 'invalid_request', message: 'a presigned native request takes UNSIGNED-PAYLOAD, or the hash in the x-amz-content-sha256 header' };
      }
      return null;
    }
    return { status: 400, code: 'invalid_request', message: 'the native API takes an UNSIGNED-PAYLOAD or hex SHA-256 payload, not aws-chunked (that is for the S3 API)' };
  } catch (err) {
    if (!(err instanceof SigV4Error)) throw err;
    return { status: err.status as NativeRefusal['status'], code: snakeCase(err.code), message: err.message };
  }
}
