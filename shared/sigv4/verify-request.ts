// Verifies a request's SigV4 signature (Authorization header or presigned URL) against the key
// it names, and says how its payload is signed, which the body reader then enforces: a hex
// SHA-256, UNSIGNED-PAYLOAD, aws-chunked with a signature per chunk, or aws-chunked with a
// checksum trailer. Every failure is a SigV4Error with S3's code; nothing about the expected
// signature leaks into it.
import { SigV4Error } from './sigv4-error.ts';
import { canonicalQuery, canonicalRequest, canonicalUris, hashedCanonicalRequest } from './canonical-request.ts';
import type { IncomingSigned } from './canonical-request.ts';
import { headerSignatureParams, amzDateMs, presignedSignatureParams } from './signature-params.ts';
import type { SignatureParams } from './signature-params.ts';
import { scopeTerminator, requestStringToSign, signHex, signaturesEqual, signingKey } from './sigv4-crypto.ts';

/** How far a signed request's time may be from ours (S3's rule). */
export const requestSkewMsMax = 15 * 60 * 1000;

export const unsignedPayload = 'UNSIGNED-PAYLOAD';
export const streamingSignedPayload = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const streamingUnsignedTrailer = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const notBuiltPayloads = new Set(['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER']);

export interface KeyLookup {
  /** The secret of an access key, or null when there is no such key. */
  secretFor(accessKeyId: string): string | null;
}

/** What an aws-chunked body's chunk signatures are checked with (the seed is the request's signature). */
export interface ChunkSigning {
  readonly key: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  readonly seedSignature: string;
}

export type PayloadSigning =
  | { readonly kind: 'sha256'; readonly hex: string }
  | { readonly kind: 'unsigned' }
  | { readonly kind: 'streaming-signed'; readonly chunks: ChunkSigning }
  | { readonly kind: 'streaming-unsigned-trailer' };

export interface VerifiedRequest {
  readonly accessKeyId: string;
  readonly payload: PayloadSigning;
}

export interface VerifyOptions {
  readonly region: string;
  readonly keys: KeyLookup;
  readonly nowMs: number;
  /**
   * The payload hash of a header-signed request that sends no x-amz-content-sha256 (S3 requires
   * it; a plain SigV4 signer such as curl 7.x's signs the body's hash without sending it): the
   * native API gives the empty body's hash for a request without a body. Unset: refused.
   */
  readonly absentPayloadHash?: string;
}

const presignedSignatureParam = 'X-Amz-Signature';

export function verifyRequest(request: IncomingSigned, options: VerifyOptions): VerifiedRequest {
  const query = new URLSearchParams(request.rawQuery);
  const authorization = request.headers.get('authorization');
  const presigned = query.has(presignedSignatureParam) || query.has('X-Amz-Algorithm') || query.has('X-Amz-Credential');
  if (authorization !== null && presigned) throw new SigV4Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified');
  if (authorization === null && !presigned) {
    if (query.has('Signature') && query.has('AWSAccessKeyId')) throw new SigV4Error('InvalidRequest', 'Signature Version 2 is not supported; please use AWS4-HMAC-SHA256.');
    throw new SigV4Error('AccessDenied', 'Access Denied: this server accepts only signed requests (AWS Signature Version 4).');
  }
  const params = authorization !== null ? headerSignatureParams(authorization, request.headers) : presignedSignatureParams(query);
  const malformed = authorization !== null ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError';
  if (params.region !== options.region) {
    throw new SigV4Error(malformed, `The authorization header is malformed; the region '${params.region}' is wrong; expecting '${options.region}'`, { Region: options.region });
  }
  if (params.service !== 's3') throw new SigV4Error(malformed, `The credential scope names the service '${params.service}'; expecting 's3'`);
  if (params.scopeDate !== params.amzDate.slice(0, 8)) throw new SigV4Error(malformed, `Invalid credential date "${params.scopeDate}": it is not the date of the request time ${params.amzDate}`);
  checkTime(params, options.nowMs);
  const secret = options.keys.secretFor(params.accessKeyId);
  if (secret === null) throw new SigV4Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: params.accessKeyId });

  const payloadHash = authorization !== null ? (request.headers.get('x-amz-content-sha256') ?? options.absentPayloadHash ?? null) : presignedPayloadHash(query, request.headers, params);
  if (payloadHash === null) throw new SigV4Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  const scope = `${params.scopeDate}/${params.region}/${params.service}/${scopeTerminator}`;
  const key = signingKey(secret, params.scopeDate, params.region, params.service);
  const queryText = canonicalQuery(request.rawQuery, presigned ? new Set([presignedSignatureParam]) : new Set());
  const matches = canonicalUris(request.rawPath).some((uri) => {
    const canonical = canonicalRequest(request, uri, queryText, params.signedHeaders, payloadHash);
    const stringToSign = requestStringToSign(params.amzDate, scope, hashedCanonicalRequest(canonical));
    return signaturesEqual(signHex(key, stringToSign), params.signature);
  });
  if (!matches) {
    throw new SigV4Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', { AWSAccessKeyId: params.accessKeyId });
  }
  return { accessKeyId: params.accessKeyId, payload: payloadSigning(payloadHash, presigned, { key, amzDate: params.amzDate, scope, seedSignature: params.signature }) };
}

function checkTime(params: SignatureParams, nowMs: number): void {
  const signedMs = amzDateMs(params.amzDate)!;
  if (params.expiresSeconds === null) {
    if (Math.abs(nowMs - signedMs) > requestSkewMsMax) {
      throw new SigV4Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
        RequestTime: params.amzDate,
        ServerTime: new Date(nowMs).toISOString(),
        MaxAllowedSkewMilliseconds: String(requestSkewMsMax),
      });
    }
    return;
  }
  if (signedMs - nowMs > requestSkewMsMax) throw new SigV4Error('AccessDenied', 'Request is not valid yet');
  if (nowMs > signedMs + params.expiresSeconds * 1000) {
    throw new SigV4Error('AccessDenied', 'Request has expired', { 'X-Amz-Expires': String(params.expiresSeconds), Expires: new Date(signedMs + params.expiresSeconds * 1000).toISOString(), ServerTime: new Date(nowMs).toISOString() });
  }
}

/** A presigned URL's payload hash: its X-Amz-Content-Sha256, a signed header, or UNSIGNED-PAYLOAD. */
function presignedPayloadHash(query: URLSearchParams, headers: Headers, params: SignatureParams): string {
  const inQuery = query.get('X-Amz-Content-Sha256');
  if (inQuery !== null) return inQuery;
  const inHeader = params.signedHeaders.includes('x-amz-content-sha256') ? headers.get('x-amz-content-sha256') : null;
  return inHeader ?? unsignedPayload;
}

function payloadSigning(payloadHash: string, presigned: boolean, chunks: ChunkSigning): PayloadSigning {
  if (/^[0-9a-f]{64}$/.test(payloadHash)) return { kind: 'sha256', hex: payloadHash };
  if (payloadHash === unsignedPayload) return { kind: 'unsigned' };
  if (!presigned && payloadHash === streamingSignedPayload) return { kind: 'streaming-signed', chunks };
  if (!presigned && payloadHash === streamingUnsignedTrailer) return { kind: 'streaming-unsigned-trailer' };
  if (notBuiltPayloads.has(payloadHash)) throw new SigV4Error('NotImplemented', `x-amz-content-sha256 ${payloadHash} is not supported yet; use ${streamingSignedPayload}, ${streamingUnsignedTrailer}, ${unsignedPayload} or a hex SHA-256`);
  throw new SigV4Error('InvalidArgument', `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a lowercase hex SHA-256, not "${payloadHash.slice(0, 80)}"`);
}
