// File names on the command line: checked with the same rules as the server (shared/names.ts) and
// encoded one segment at a time, so `/` stays a separator and everything else (`%`, `?`, `#`,
// spaces, non-ASCII) reaches the server as part of the name.
import { validateName } from '../../shared/names.ts';
import { UsageError } from './errors.ts';

/** `/files/<name>` with each segment percent-encoded; a bad name is a usage error. */
export function filePath(name: string): string {
  const check = validateName(name);
  if (!check.ok) throw new UsageError(`bad name ${JSON.stringify(name)}: ${check.reason}`);
  return `/files/${name.split('/').map(encodeURIComponent).join('/')}`;
}
