// Recognizing an access key command in a normal entry's data without parsing every entry: the
// cluster port's message schema checks these (and only these) before they reach the log.
import { commandProblem } from './commands.ts';
import { keyOps } from './key-commands.ts';

// JSON escapes no letter of these, so a key command's data holds one of them verbatim
// (`"op": "createKey"` with spaces too, which JSON.stringify never writes, is caught as well).
const keyOpMarkers = keyOps.map((op) => `"${op}"`);

/** Why `data` holds an invalid key command, or null (also for data that holds no key command). */
export function keyEntryProblem(data: string): string | null {
  if (!keyOpMarkers.some((marker) => data.includes(marker))) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return 'not JSON';
  }
  const op = (value as { op?: unknown } | null)?.op;
  if (typeof op !== 'string' || !keyOps.includes(op)) return null;
  return commandProblem(value, 'shape');
}
