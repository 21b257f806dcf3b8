// Conditional writes, decided at apply time against the state the entry is applied to, so that
// they are linearizable (two racing `If-None-Match: *` puts: the first applied wins, the other
// gets 412, on every node alike).
import { parseEtagList } from '../../../shared/etag-list.ts';
import type { Precondition } from './commands.ts';

/** Why `precondition` fails against the current etag (null: no current version), or null if it holds. */
export function preconditionFailure(precondition: Precondition | undefined, currentEtag: string | null): string | null {
  if (precondition === undefined) return null;
  if (precondition.ifNoneMatch === '*' && currentEtag !== null) return 'If-None-Match: * but the file exists';
  if (precondition.ifMatch !== undefined) {
    if (currentEtag === null) return 'If-Match but the file does not exist';
    const wanted = parseEtagList(precondition.ifMatch);
    if (wanted !== '*' && !wanted.includes(currentEtag)) return `If-Match does not match the current etag "${currentEtag}"`;
  }
  return null;
}
