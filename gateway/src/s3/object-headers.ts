// The headers an object keeps (shared/object-headers.ts) across the S3 layer: `x-amz-meta-*`
// user metadata and the standard headers S3 stores (Cache-Control, Content-Disposition,
// Content-Encoding, Content-Language, Expires) go to the node as the native API takes them
// (`x-dfs-meta-*` and the standard names), and come back from a native read as S3 answers them.
import { isMetadataTooLarge, objectHeadersProblem, storedStandardHeaders, userMetadataBytesMax, userMetadataPrefix } from '../../../shared/object-headers.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import { S3Error } from './s3-errors.ts';

/** S3's prefix of user metadata headers. */
export const amzMetaPrefix = 'x-amz-meta-';

/**
 * The headers of an S3 request that the object keeps, as native request headers. The
 * `aws-chunked` content coding is the upload's framing, not the object's: S3 drops it.
 */
export function storedHeadersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name.startsWith(amzMetaPrefix)) {
      out[`${userMetadataPrefix}${name.slice(amzMetaPrefix.length)}`] = value;
    } else if (name === 'content-encoding') {
      const codings = value.split(',').map((coding) => coding.trim()).filter((coding) => coding !== '' && coding.toLowerCase() !== 'aws-chunked');
      if (codings.length > 0) out[name] = codings.join(', ');
    } else if (storedStandardHeaders.includes(name)) {
      out[name] = value;
    }
  });
  if (isMetadataTooLarge(out)) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size of ${userMetadataBytesMax} bytes.`, { MaxSizeAllowed: String(userMetadataBytesMax) });
  const problem = objectHeadersProblem(out);
  if (problem !== null) throw new S3Error('InvalidArgument', `Invalid metadata: ${problem.replaceAll(userMetadataPrefix, amzMetaPrefix)}.`);
  return out;
}

/** The stored headers of a native read's answer, as S3 answers them (set on `out`). */
export function setStoredHeaders(native: Headers, out: Headers): void {
  const kept: Record<string, string> = {};
  native.forEach((value, name) => {
    if (name.startsWith(userMetadataPrefix)) kept[`${amzMetaPrefix}${name.slice(userMetadataPrefix.length)}`] = value;
    else if (storedStandardHeaders.includes(name)) kept[name] = value;
  });
  for (const [name, value] of Object.entries(kept satisfies ObjectHeaders)) out.set(name, value);
}
