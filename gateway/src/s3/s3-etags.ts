// S3's ETag of a version: the MD5 of its content for a single put, `<MD5 of the parts' MD5s>-N`
// for a multipart upload (the nodes keep it beside the native SHA-256 and send it as
// `X-DFS-S3-ETag`, or as `s3Etag` in JSON when asked with `X-DFS-S3-ETag: 1`). Versions stored
// before the nodes kept one, or written by a native client that did not ask, have none: S3 then
// answers with their SHA-256, the native ETag, as before.

/** The header that asks a node for S3 ETags (a write computes the MD5; JSON lists `s3Etag`). */
export const askS3Etag = { 'x-dfs-s3-etag': '1' } as const;

/** The quoted S3 ETag of a native answer (`X-DFS-S3-ETag`, else the native `ETag`). */
export function s3EtagHeader(headers: Headers): string {
  return headers.get('x-dfs-s3-etag') ?? headers.get('etag') ?? '';
}

/** The quoted S3 ETag of a version in native JSON. */
export function s3EtagOf(item: { readonly etag: string; readonly s3Etag?: string }): string {
  return `"${item.s3Etag ?? item.etag}"`;
}
