import type { Readable } from 'node:stream';

/**
 * A web ReadableStream over a Node stream, pulled one chunk at a time (backpressure), for
 * `new Response(body)`. Not Readable.toWeb(): on Node 20 it may enqueue into a stream the client
 * already cancelled and throw an uncaught ERR_INVALID_STATE that kills the process
 * (nodejs/node#54205), which happens whenever a client hangs up mid-answer.
 */
export function toWebStream(source: Readable): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await iterator.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel() {
        // The reader is gone: nobody is left to hear the source's abort error.
        source.on('error', () => {});
        source.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}
