// The etags an If-Match / If-None-Match header lists, for the native API and the S3 API alike.

/** The etags `header` lists, unquoted (`W/` dropped: our etags are strong), or '*'. */
export function parseEtagList(header: string): '*' | string[] {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  return trimmed
    .split(',')
    .map((item) => item.trim().replace(/^W\//, ''))
    .map((item) => (item.length >= 2 && item.startsWith('"') && item.endsWith('"') ? item.slice(1, -1) : item))
    .filter((item) => item !== '');
}
