// Small stream and header helpers of the S3 layer.
import { S3Error } from './s3-errors.ts';

/** A web stream over an async iterable, pulled one piece at a time (backpressure). */
export function readableOf(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await iterator.next();
          if (done === true) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** The longest Content-Type kept (the node's limit). */
export const contentTypeLengthMax = 255;

/** The object's Content-Type: the client's, or application/octet-stream. */
export function contentTypeOf(headers: Headers): string {
  const type = headers.get('content-type')?.trim() || 'application/octet-stream';
  if (type.length > contentTypeLengthMax) throw new S3Error('InvalidArgument', `Content-Type may have at most ${contentTypeLengthMax} characters here.`);
  return type;
}
