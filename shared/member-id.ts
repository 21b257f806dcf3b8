/** Member ids: what `--id` accepts in a cluster, and what paths, settings and logs can carry. */
export const memberIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isMemberId(value: unknown): value is string {
  return typeof value === 'string' && memberIdPattern.test(value);
}
