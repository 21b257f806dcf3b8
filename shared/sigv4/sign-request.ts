// Signing an outgoing request with SigV4 (the `dfs` CLI against a cluster with --auth required):
// the same canonical request the verifier rebuilds, signed in the Authorization header, with an
// UNSIGNED-PAYLOAD body (bodies are streamed; TLS protects them on the way).
import type { AccessKey } from '../auth-mode.ts';
import { canonicalQuery, canonicalRequest, hashedCanonicalRequest } from './canonical-request.ts';
import { toAmzDate } from './signature-params.ts';
import { requestStringToSign, scopeTerminator, signHex, signingAlgorithm, signingKey } from './sigv4-crypto.ts';
import { unsignedPayload } from './verify-request.ts';

export interface RequestToSign {
  readonly method: string;
  /** `host[:port]` as the request's Host header will say it. */
  readonly host: string;
  /** The path as it will be sent (percent-encoded). */
  readonly rawPath: string;
  /** The query as it will be sent, without `?` ('' when none). */
  readonly rawQuery: string;
}

/** The headers to add: host, x-amz-date, x-amz-content-sha256 and authorization. */
export function signRequest(request: RequestToSign, key: AccessKey, region: string, nowMs: number = Date.now()): Record<string, string> {
  const amzDate = toAmzDate(nowMs);
  const scopeDate = amzDate.slice(0, 8);
  const service = 's3';
  const headers = { host: request.host, 'x-amz-content-sha256': unsignedPayload, 'x-amz-date': amzDate };
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalRequest(
    { method: request.method, rawPath: request.rawPath, rawQuery: request.rawQuery, headers: new Headers(headers) },
    request.rawPath === '' ? '/' : request.rawPath,
    canonicalQuery(request.rawQuery),
    signedHeaders,
    unsignedPayload,
  );
  const scope = `${scopeDate}/${region}/${service}/${scopeTerminator}`;
  const signature = signHex(signingKey(key.secretAccessKey, scopeDate, region, service), requestStringToSign(amzDate, scope, hashedCanonicalRequest(canonical)));
  return {
    ...headers,
    authorization: `${signingAlgorithm} Credential=${key.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
  };
}
