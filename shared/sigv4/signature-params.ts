// What a SigV4 request claims, read from the Authorization header or from a presigned URL's
// query: the key, the scope, the signed headers, the signature, the time, the payload hash.
// Malformed claims are refused with S3's codes; nothing here checks the signature itself.
import { SigV4Error } from './sigv4-error.ts';
import { scopeTerminator, signingAlgorithm } from './sigv4-crypto.ts';

export interface SignatureParams {
  readonly accessKeyId: string;
  /** YYYYMMDD of the credential scope. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** Lowercase, in the order signed. */
  readonly signedHeaders: readonly string[];
  /** Lowercase hex. */
  readonly signature: string;
  /** The request time, ISO 8601 basic (20130524T000000Z). */
  readonly amzDate: string;
  /** Set for presigned URLs: seconds the URL is valid from amzDate. */
  readonly expiresSeconds: number | null;
}

/** The longest validity of a presigned URL S3 accepts: 7 days. */
export const presignedExpiresSecondsMax = 604_800;

const amzDatePattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The ms since the epoch of an ISO 8601 basic time, or null when malformed. */
export function amzDateMs(amzDate: string): number | null {
  const match = amzDatePattern.exec(amzDate);
  if (match === null) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(ms) ? null : ms;
}

/** ISO 8601 basic form of a ms time. */
export function toAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseCredential(credential: string, fail: (message: string) => never): Pick<SignatureParams, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) fail(`the Credential "${credential}" is not <key>/<date>/<region>/<service>/aws4_request`);
  const [accessKeyId, scopeDate, region, service, terminator] = parts;
  if (!/^\d{8}$/.test(scopeDate)) fail(`the credential date "${scopeDate}" is not YYYYMMDD`);
  if (terminator !== scopeTerminator) fail(`the credential scope must end with ${scopeTerminator}, not "${terminator}"`);
  return { accessKeyId, scopeDate, region, service };
}

function parseSignedHeaders(text: string, fail: (message: string) => never): string[] {
  const names = text.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase())) fail('SignedHeaders must be lowercase header names separated by ;');
  if (!names.includes('host')) fail('SignedHeaders must include host');
  return names;
}

function checkSignature(signature: string, fail: (message: string) => never): string {
  if (!/^[0-9a-f]{64}$/.test(signature)) fail('the Signature must be 64 lowercase hex digits');
  return signature;
}

/** `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` with the time from X-Amz-Date or Date. */
export function headerSignatureParams(authorization: string, headers: Headers): SignatureParams {
  const fail = (message: string): never => {
    throw new SigV4Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${message}.`);
  };
  const space = authorization.indexOf(' ');
  const algorithm = space === -1 ? authorization : authorization.slice(0, space);
  if (algorithm !== signingAlgorithm) {
    throw new SigV4Error('InvalidRequest', `The authorization mechanism you have provided is not supported. Please use ${signingAlgorithm}.`);
  }
  const fields = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(',')) {
    const at = part.indexOf('=');
    if (at === -1) fail(`"${part.trim()}" is not name=value`);
    fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) fail('Credential, SignedHeaders and Signature are all required');
  const amzDate = headers.get('x-amz-date') ?? dateHeaderAsAmzDate(headers.get('date'));
  if (amzDate === null || amzDateMs(amzDate) === null) {
    throw new SigV4Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  return {
    ...parseCredential(credential!, fail),
    signedHeaders: parseSignedHeaders(signedHeaders!, fail),
    signature: checkSignature(signature!, fail),
    amzDate,
    expiresSeconds: null,
  };
}

function dateHeaderAsAmzDate(date: string | null): string | null {
  if (date === null) return null;
  const ms = Date.parse(date);
  return Number.isNaN(ms) ? null : toAmzDate(ms);
}

/** The X-Amz-* query parameters of a presigned URL. */
export function presignedSignatureParams(query: URLSearchParams): SignatureParams {
  const fail = (message: string): never => {
    throw new SigV4Error('AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; ${message}.`);
  };
  const get = (name: string): string => query.get(name) ?? fail(`the query parameter ${name} is missing`);
  if (get('X-Amz-Algorithm') !== signingAlgorithm) fail(`X-Amz-Algorithm must be ${signingAlgorithm}`);
  const amzDate = get('X-Amz-Date');
  if (amzDateMs(amzDate) === null) fail('X-Amz-Date must be an ISO 8601 basic time (20130524T000000Z)');
  const expiresText = get('X-Amz-Expires');
  const expiresSeconds = Number(expiresText);
  if (!/^\d+$/.test(expiresText) || expiresSeconds < 1 || expiresSeconds > presignedExpiresSecondsMax) {
    throw new SigV4Error('AuthorizationQueryParametersError', `X-Amz-Expires must be from 1 to ${presignedExpiresSecondsMax} seconds`);
  }
  return {
    ...parseCredential(get('X-Amz-Credential'), fail),
    signedHeaders: parseSignedHeaders(get('X-Amz-SignedHeaders'), fail),
    signature: checkSignature(get('X-Amz-Signature'), fail),
    amzDate,
    expiresSeconds,
  };
}
