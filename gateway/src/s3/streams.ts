// Small stream and header helpers of the S3 layer.
import { S3Error } from './s3-errors.ts';

/** The longest Content-Type kept (the node's limit). */
export const contentTypeLengthMax = 255;

/** The object's Content-Type: the client's, or application/octet-stream. */
export function contentTypeOf(headers: Headers): string {
  const type = headers.get('content-type')?.trim() || 'application/octet-stream';
  if (type.length > contentTypeLengthMax) throw new S3Error('InvalidArgument', `Content-Type may have at most ${contentTypeLengthMax} characters here.`);
  return type;
}
