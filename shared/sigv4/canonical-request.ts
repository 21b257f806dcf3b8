// The canonical request of SigV4 (the AWS "Create a canonical request" steps) for an incoming
// request: method, URI, query, the signed headers, the payload hash.
import { uriEncode, sha256Hex } from './sigv4-crypto.ts';

export interface IncomingSigned {
  readonly method: string;
  /** The path exactly as sent (percent-encoded). */
  readonly rawPath: string;
  /** The query exactly as sent, without `?` ('' when none). */
  readonly rawQuery: string;
  readonly headers: Headers;
}

/** A percent-decoded form of `text`, or null when it is not valid percent-encoded UTF-8. */
function decoded(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/**
 * The path's canonical forms: as sent first (what S3 and the AWS SDKs sign for S3), then each
 * segment decoded and re-encoded strictly, for clients that send a character unencoded that they
 * signed encoded (or the reverse). Without a path, `/`.
 */
export function canonicalUris(rawPath: string): string[] {
  const asSent = rawPath === '' ? '/' : rawPath;
  const segments = asSent.split('/').map(decoded);
  if (segments.some((segment) => segment === null)) return [asSent];
  const strict = segments.map((segment) => uriEncode(segment!)).join('/');
  return strict === asSent ? [asSent] : [asSent, strict];
}

/** Name=value pairs sorted by encoded name then value, `excluded` left out (X-Amz-Signature). */
export function canonicalQuery(rawQuery: string, excluded: ReadonlySet<string> = new Set()): string {
  if (rawQuery === '') return '';
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    const name = decoded(at === -1 ? part : part.slice(0, at)) ?? part;
    const value = at === -1 ? '' : (decoded(part.slice(at + 1)) ?? part.slice(at + 1));
    if (excluded.has(name)) continue;
    pairs.push([uriEncode(name), uriEncode(value)]);
  }
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** `name:value\n` for each signed header (values trimmed, inner runs of spaces collapsed). */
export function canonicalHeaders(headers: Headers, signedHeaders: readonly string[]): string {
  return signedHeaders.map((name) => `${name}:${(headers.get(name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
}

export function canonicalRequest(request: IncomingSigned, uri: string, query: string, signedHeaders: readonly string[], payloadHash: string): string {
  return [request.method, uri, query, canonicalHeaders(request.headers, signedHeaders), signedHeaders.join(';'), payloadHash].join('\n');
}

export function hashedCanonicalRequest(canonical: string): string {
  return sha256Hex(canonical);
}
