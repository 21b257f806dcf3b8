// The whole-object checksums S3 clients send (x-amz-checksum-<algorithm>, as a header or an
// aws-chunked trailer) and Content-MD5: each computed while the body streams, compared at its end.
// Values are base64 of the big-endian digest, as S3 writes them.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32c } from './crc32c.ts';

export const checksumAlgorithms = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];

export function isChecksumAlgorithm(name: string): name is ChecksumAlgorithm {
  return (checksumAlgorithms as readonly string[]).includes(name);
}

/** A digest fed piece by piece. */
export interface RunningChecksum {
  update(bytes: Uint8Array): void;
  /** base64 of the digest; call once. */
  digestBase64(): string;
}

function uint32Base64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString('base64');
}

class Crc implements RunningChecksum {
  #value = 0;
  constructor(readonly step: (bytes: Uint8Array, previous: number) => number) {}
  update(bytes: Uint8Array): void {
    this.#value = this.step(bytes, this.#value);
  }
  digestBase64(): string {
    return uint32Base64(this.#value);
  }
}

class Digest implements RunningChecksum {
  readonly #hash: Hash;
  constructor(algorithm: string) {
    this.#hash = createHash(algorithm);
  }
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }
  digestBase64(): string {
    return this.#hash.digest('base64');
  }
}

export function runningChecksum(algorithm: ChecksumAlgorithm | 'md5'): RunningChecksum {
  switch (algorithm) {
    case 'crc32':
      return new Crc((bytes, previous) => crc32(bytes, previous));
    case 'crc32c':
      return new Crc(crc32c);
    default:
      return new Digest(algorithm);
  }
}

/** The length in bytes of each algorithm's digest: a header value of another length is malformed. */
export const digestBytes: Readonly<Record<ChecksumAlgorithm | 'md5', number>> = { crc32: 4, crc32c: 4, sha1: 20, sha256: 32, md5: 16 };

/** Whether `value` is canonical base64 of a digest of `algorithm`'s length. */
export function isDigestBase64(algorithm: ChecksumAlgorithm | 'md5', value: string): boolean {
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === digestBytes[algorithm] && bytes.toString('base64') === value;
}
