// The gateway's own errors, in the nodes' format: `{"error":{"code","message"}}` with the right
// status, and `Retry-After` on every 503.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Seconds a client is told to wait after a 503 of the gateway. */
export const retryAfterSeconds = 1;

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  if (status === 503) c.header('Retry-After', String(retryAfterSeconds));
  return c.json({ error: { code, message } }, status);
}

export function onError(err: Error, c: Context): Response {
  if (err instanceof GatewayError) return errorResponse(c, err.status, err.code, err.message);
  console.error(`gateway: ${c.req.method} ${c.req.path}:`, err);
  return errorResponse(c, 500, 'internal', err.message);
}
