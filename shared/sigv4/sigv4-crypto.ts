// The primitives of AWS Signature Version 4 on node:crypto: the signing key chain, the string to
// sign, RFC 3986 encoding, and a constant-time comparison of hex signatures.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const signingAlgorithm = 'AWS4-HMAC-SHA256';
export const scopeTerminator = 'aws4_request';
export const emptySha256Hex = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function hmac(key: Uint8Array | string, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Derived keys, by secret, date, region and service: one derivation per day instead of per request. */
const derivedKeys = new Map<string, Buffer>();
/** Bound of the cache: a few keys per day suffice; past it the cache starts over. */
const derivedKeysMax = 256;

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${date}\0${region}\0${service}\0${secret}`;
  let key = derivedKeys.get(cacheKey);
  if (key === undefined) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), scopeTerminator);
    if (derivedKeys.size >= derivedKeysMax) derivedKeys.clear();
    derivedKeys.set(cacheKey, key);
  }
  return key;
}

/** The hex signature of one string to sign. */
export function signHex(key: Buffer, stringToSign: string): string {
  return hmac(key, stringToSign).toString('hex');
}

/** Whether two hex signatures are equal, in time independent of where they differ. */
export function signaturesEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The string to sign of a request: algorithm, time, scope, hash of the canonical request. */
export function requestStringToSign(amzDate: string, scope: string, hashHex: string): string {
  return `${signingAlgorithm}\n${amzDate}\n${scope}\n${hashHex}`;
}
