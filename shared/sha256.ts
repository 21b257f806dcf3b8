// The one way content is named: the lowercase hex SHA-256 of its bytes (chunk names, ETags).
// crypto.hash is the one-shot form: no Hash object per call (it matters for small content,
// hashed on every node at every apply).
import { hash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex');
}
