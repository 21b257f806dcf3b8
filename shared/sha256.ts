// The one way content is named: the lowercase hex SHA-256 of its bytes (chunk names, ETags).
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
